//! The emulator's speed patches (`tests/moto/speed.py`) give moto's own answers: the benchmark
//! depends on them to hold hundreds of stacks, every other test on them being faithful.

use std::process::Command;

use crate::harness::{repo_root, script_output};

#[test]
fn lookups_answer_as_moto_does() {
    let python = script_output("moto-venv.sh").with_file_name("python");
    let check = repo_root().join("tests/moto/check_speed.py");
    let out = Command::new(&python)
        .arg(&check)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        check.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
