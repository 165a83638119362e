//! Starts `tests/scripts/prepare-substrate.sh` (the moto venv and the kube-apiserver built from Go
//! modules: several minutes on a fresh machine) in the background when something of it is missing,
//! so it is prepared while cargo compiles the tests or the demo. The process is detached (its own
//! process group, no pipe to cargo, log in the cache directory) and outlives the build; the demo
//! and the tests run the same scripts, which wait on their locks for a build under way. Set
//! `WEBSTACK_PREPARE_SUBSTRATE=0` to leave it to them (`.ci/run` prepares it itself).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let tests = here.join("..");
    for input in [
        "scripts/prepare-substrate.sh",
        "scripts/moto-venv.sh",
        "scripts/build-go-program.sh",
        "scripts/build-apiserver.sh",
        "apiserver",
    ] {
        println!("cargo:rerun-if-changed={}", tests.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=WEBSTACK_PREPARE_SUBSTRATE");
    println!("cargo:rerun-if-env-changed=WEBSTACK_CACHE_DIR");
    if std::env::var("WEBSTACK_PREPARE_SUBSTRATE").is_ok_and(|v| v == "0") {
        return;
    }
    let script = tests.join("scripts/prepare-substrate.sh");
    let needed = Command::new("bash")
        .arg(&script)
        .arg("--needed")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !needed {
        return;
    }
    let cache = match std::env::var_os("WEBSTACK_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/webstack-operator"),
            None => return,
        },
    };
    if std::fs::create_dir_all(&cache).is_err() {
        return;
    }
    let log_path = cache.join("prepare-substrate.log");
    let Ok(log) = std::fs::File::create(&log_path) else {
        return;
    };
    let Ok(err) = log.try_clone() else {
        return;
    };
    // At the lowest CPU priority: it fills the cores cargo leaves idle rather than slowing it.
    let spawned = Command::new("nice")
        .args(["-n", "19", "bash"])
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Not cargo's jobserver's, not its process group: it neither takes build slots nor dies
        // with a Ctrl-C of the build (what it builds is cached for the next run).
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .process_group(0)
        .spawn();
    if spawned.is_ok() {
        println!(
            "cargo:warning=preparing the test substrate (moto, kube-apiserver) in the background while cargo builds; log: {}",
            log_path.display()
        );
    }
}
