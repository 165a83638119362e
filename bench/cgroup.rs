//! `bench --memory-limit`: the operator runs in a memory cgroup of its own, limited as a
//! Kubernetes `resources.limits.memory` limits a container (the kubelet writes the same files:
//! `memory.max` on cgroup v2, `memory.limit_in_bytes` on v1). Clean pages (the binary's code,
//! read from its file) are then reclaimed when the group reaches its limit and read again when
//! touched (major faults); its own memory (heap, stacks) cannot be, and past the limit the kernel
//! kills it (an OOM kill, counted). So a run that finishes under a limit shows the limit the
//! operator works in, and its major faults what the limit cost.
//!
//! The binary's pages are dropped from the page cache before the start (`dd iflag=nocache`),
//! so the pages the operator reads are charged to its group, as they are to a container whose
//! image was never read on that node. How much the kernel reads around each such fault is the
//! read-ahead of the disk the binary is on ([`read_ahead_kib`]: 128 KiB by the kernel's default,
//! 8 MiB on the virtual disk of the machine the README's figures come from), and those pages are
//! charged too: the run reports it. Needs a writable memory controller (root on the CI
//! machine; cgroup v2 at `/sys/fs/cgroup` or v1 at `/sys/fs/cgroup/memory`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A memory cgroup, removed when dropped (once its processes have exited).
pub struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

const V2_ROOT: &str = "/sys/fs/cgroup";
const V1_ROOT: &str = "/sys/fs/cgroup/memory";

impl Cgroup {
    /// A new group `name` under the root, limited to `limit_mib` (no swap).
    pub fn create(name: &str, limit_mib: u64) -> Result<Cgroup, String> {
        let bytes = (limit_mib * 1024 * 1024).to_string();
        let v2 = std::fs::read_to_string(Path::new(V2_ROOT).join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
        let root = if v2 { V2_ROOT } else { V1_ROOT };
        if !v2 && !Path::new(V1_ROOT).join("memory.limit_in_bytes").exists() {
            return Err("no cgroup memory controller at /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory (v1)".into());
        }
        if v2 {
            // Children get the controller only if the root hands it down.
            write(&Path::new(V2_ROOT).join("cgroup.subtree_control"), "+memory")?;
        }
        let dir = Path::new(root).join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let group = Cgroup { dir, v2 };
        if v2 {
            group.set("memory.max", &bytes)?;
            group.set("memory.swap.max", "0")?;
        } else {
            group.set("memory.limit_in_bytes", &bytes)?;
            // Without swap accounting the file is absent; with it, no swap beyond the limit.
            if group.dir.join("memory.memsw.limit_in_bytes").exists() {
                group.set("memory.memsw.limit_in_bytes", &bytes)?;
            }
            group.set("memory.swappiness", "0")?;
        }
        Ok(group)
    }

    fn set(&self, file: &str, value: &str) -> Result<(), String> {
        write(&self.dir.join(file), value)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// `binary args…` started inside the group: a shell moves itself in, then execs the binary
    /// (same pid), so every page the operator touches from its first instruction is charged.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new("sh");
        command
            .args(["-c", r#"echo $$ > "$0" && exec "$@""#])
            .arg(self.dir.join("cgroup.procs"))
            .arg(binary);
        command
    }

    /// The group's peak usage in MiB (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`).
    pub fn peak_mib(&self) -> f64 {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        mib(self.read(file).trim())
    }

    /// The group's usage now, split into (anonymous, file-backed) MiB from `memory.stat`.
    pub fn usage_mib(&self) -> (f64, f64) {
        let stat = self.read("memory.stat");
        let field = |name: &str| {
            stat.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(mib))
                .unwrap_or(f64::NAN)
        };
        if self.v2 {
            (field("anon"), field("file"))
        } else {
            (field("rss"), field("cache"))
        }
    }

    /// How many processes of the group the kernel killed for memory.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        self.read(file)
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

fn mib(bytes: &str) -> f64 {
    bytes.parse::<f64>().map(|b| b / 1024.0 / 1024.0).unwrap_or(f64::NAN)
}

/// Drops `file`'s pages from the page cache (GNU dd: `iflag=nocache count=0` advises the kernel
/// to drop the whole file), so whoever reads it next is charged for them. Written back first:
/// the advice passes over dirty pages, so a binary copied just before (cargo's, or `cp`'s) would
/// stay charged to whoever wrote it, and the operator's code to nobody's limit.
pub fn drop_page_cache(file: &Path) -> Result<(), String> {
    std::fs::File::open(file)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("writing {} back before dropping it: {e}", file.display()))?;
    let status = Command::new("dd")
        .arg(format!("if={}", file.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .map_err(|e| format!("dd: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("dd could not drop {} from the page cache", file.display()))
}

/// The read-ahead (KiB) of the block device `file` is on: what the kernel reads around a page
/// fault on a file mapping (the binary's code, once the limit took it back). `None` when the
/// file is not on a block device (overlay, tmpfs) or sysfs does not say.
pub fn read_ahead_kib(file: &Path) -> Option<u64> {
    let dev = std::fs::metadata(file).ok()?.dev();
    // glibc's major()/minor() of a dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let device = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    // A partition's queue is its disk's.
    [
        device.join("queue/read_ahead_kb"),
        device.join("../queue/read_ahead_kb"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
}
