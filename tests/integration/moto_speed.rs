//! The emulator's patches checked in process, by scripts run with its venv: the speed patches
//! (`tests/moto/speed.py`) give moto's own answers (the benchmark depends on them to hold
//! hundreds of stacks, every other test on them being faithful); the target groups' load
//! balancers (`tests/moto/ecs_services.py`) stay right under concurrent requests; EC2's describes
//! answer in pages (`tests/moto/pagination.py`).

use std::process::Command;

use crate::harness::{repo_root, script_output};

/// Runs `tests/moto/<script>` with the emulator's python; it must exit 0.
fn check(script: &str) {
    let python = script_output("moto-venv.sh").with_file_name("python");
    let check = repo_root().join("tests/moto").join(script);
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

#[test]
fn lookups_answer_as_moto_does() {
    check("check_speed.py");
}

#[test]
fn target_group_associations_survive_concurrent_rules() {
    check("check_associations.py");
}

#[test]
fn ec2_describes_answer_in_pages() {
    check("check_pagination.py");
}
