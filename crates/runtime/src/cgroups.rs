//! A running container's control groups, seen from the host: read its accounting ([`stats`])
//! and change its limits ([`update`]) on cgroup v1, v2 and hybrid hosts.
//!
//! The runtime created the cgroups from the spec's `linux.cgroupsPath` (an absolute path such
//! as `/berth/<id>`); these functions take the same path. They go through youki's `libcgroups`,
//! the library the built-in runtime uses to create them, so that both agree on where the files
//! are (per-controller hierarchies on v1 and hybrid hosts, one tree on v2) and on unit
//! conversions (v1 shares → v2 weight, memory+swap → swap). A container run by an external
//! runtime (runc) has its cgroups at the same paths, since runc follows the same convention for
//! an absolute `cgroupsPath` without systemd.

use std::path::Path;

use libcgroups::common::{
    create_cgroup_manager, CgroupConfig, CgroupManager, CgroupSetup, ControllerOpt,
};
pub use libcgroups::stats::{BlkioDeviceStat, Stats};
use oci_spec::runtime::LinuxResources;

use crate::error::RuntimeError;

/// Which kind of hierarchy the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1 controllers (also on hybrid hosts: the v2 mount beside them holds no
    /// controllers).
    V1,
    /// The unified hierarchy only.
    V2,
}

/// Whether `/sys/fs/cgroup` is a pure cgroup v2 mount.
pub fn is_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The host's cgroup version as containers see it (hybrid counts as v1, as runc and libcgroups
/// treat it).
pub fn version() -> Version {
    match libcgroups::common::get_cgroup_setup() {
        Ok(CgroupSetup::Unified) => Version::V2,
        Ok(_) => Version::V1,
        Err(_) if is_unified() => Version::V2,
        Err(_) => Version::V1,
    }
}

fn manager(cgroups_path: &str) -> Result<libcgroups::common::AnyCgroupManager, RuntimeError> {
    if !cgroups_path.starts_with('/') || cgroups_path.split('/').any(|c| c == "..") {
        return Err(RuntimeError::InvalidSpec(format!(
            "invalid cgroups path {cgroups_path:?}"
        )));
    }
    create_cgroup_manager(CgroupConfig {
        cgroup_path: Path::new(cgroups_path).to_path_buf(),
        systemd_cgroup: false,
        container_name: String::new(),
    })
    .map_err(|e| RuntimeError::Runtime {
        op: "cgroups",
        message: e.to_string(),
    })
}

/// Accounting of the cgroup at `cgroups_path` (CPU, memory, pids, block I/O).
/// On a pure v2 host the files are read by [`crate::cgroups_v2`], which tolerates the
/// controllers and files a v2 cgroup may lack.
pub fn stats(cgroups_path: &str) -> Result<Stats, RuntimeError> {
    let manager = manager(cgroups_path)?;
    if version() == Version::V2 {
        return crate::cgroups_v2::stats_at(
            &Path::new("/sys/fs/cgroup").join(cgroups_path.trim_start_matches('/')),
        );
    }
    manager.stats().map_err(|e| RuntimeError::Runtime {
        op: "stats",
        message: e.to_string(),
    })
}

/// Writes `resources` (memory, cpu, pids, block I/O members; `devices` is left alone) into the
/// cgroup at `cgroups_path` of a running container.
pub fn update(cgroups_path: &str, resources: &LinuxResources) -> Result<(), RuntimeError> {
    let mut r = resources.clone();
    r.set_devices(None);
    let disable_oom_killer = r
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    manager(cgroups_path)?
        .apply(&ControllerOpt {
            resources: &r,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| RuntimeError::Runtime {
            op: "update",
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_or_escaping_paths_are_refused() {
        assert!(stats("berth/x").is_err());
        assert!(stats("/berth/../x").is_err());
    }
}
