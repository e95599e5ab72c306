//! From a container's `HostConfig` to the runtime's view of its limits and hardening:
//! [`resources`] (cgroup limits), [`devices`], [`security`] (`--security-opt`), and the
//! checks `create` makes so that a bad request fails there, with Docker's messages, rather
//! than at `start`.

use berth_runtime::devices::DeviceRequest;
use berth_runtime::resources::{Resources, ThrottleDevice, WeightDevice};
use berth_runtime::spec::Seccomp;
use berth_types::api::{HostConfig, HostConfigCgroupnsModeEnum};

use crate::error::{Error, Result};

/// The cgroup limits asked for in `hc`.
pub(crate) fn resources(hc: &HostConfig) -> Resources {
    let throttle = |v: &Option<Vec<berth_types::api::ThrottleDevice>>| -> Vec<ThrottleDevice> {
        v.iter()
            .flatten()
            .map(|t| ThrottleDevice {
                path: t.path.clone().unwrap_or_default(),
                rate: t.rate.unwrap_or(0).max(0) as u64,
            })
            .collect()
    };
    Resources {
        memory: hc.memory.unwrap_or(0),
        memory_swap: hc.memory_swap.unwrap_or(0),
        memory_reservation: hc.memory_reservation.unwrap_or(0),
        memory_swappiness: hc.memory_swappiness.filter(|s| *s >= 0),
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
        cpu_shares: hc.cpu_shares.unwrap_or(0),
        cpu_period: hc.cpu_period.unwrap_or(0),
        cpu_quota: hc.cpu_quota.unwrap_or(0),
        cpuset_cpus: hc.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: hc.cpuset_mems.clone().unwrap_or_default(),
        pids_limit: hc.pids_limit.unwrap_or(0),
        blkio_weight: hc.blkio_weight.unwrap_or(0),
        blkio_weight_device: hc
            .blkio_weight_device
            .iter()
            .flatten()
            .map(|w| WeightDevice {
                path: w.path.clone().unwrap_or_default(),
                weight: w.weight.unwrap_or(0).min(u16::MAX as usize) as u16,
            })
            .collect(),
        device_read_bps: throttle(&hc.blkio_device_read_bps),
        device_write_bps: throttle(&hc.blkio_device_write_bps),
        device_read_iops: throttle(&hc.blkio_device_read_iops),
        device_write_iops: throttle(&hc.blkio_device_write_iops),
    }
}

/// `--device` requests.
pub(crate) fn devices(hc: &HostConfig) -> Vec<DeviceRequest> {
    hc.devices
        .iter()
        .flatten()
        .map(|d| DeviceRequest {
            host_path: d.path_on_host.clone().unwrap_or_default(),
            container_path: d.path_in_container.clone().unwrap_or_default(),
            permissions: d.cgroup_permissions.clone().unwrap_or_default(),
        })
        .collect()
}

/// What `--security-opt` asks for.
#[derive(Debug, Default)]
pub(crate) struct Security {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
}

/// Parses `--security-opt` entries as Docker does (`key=value` or the legacy `key:value`).
/// The client sends a `seccomp=<file>` profile as the file's JSON content.
pub(crate) fn security(hc: &HostConfig) -> Result<Security> {
    let mut out = Security::default();
    for opt in hc.security_opt.iter().flatten() {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| Error::InvalidArgument(format!("invalid --security-opt 1: {opt:?}")))?;
        match k {
            "no-new-privileges" => {
                out.no_new_privileges = v.parse().map_err(|_| {
                    Error::InvalidArgument(format!("invalid --security-opt 2: {opt:?}"))
                })?
            }
            "seccomp" if v == "unconfined" => out.seccomp = Seccomp::Unconfined,
            "seccomp" if v == "builtin" || v.is_empty() => out.seccomp = Seccomp::Default,
            "seccomp" => out.seccomp = Seccomp::Profile(berth_runtime::seccomp::parse_profile(v)?),
            // No AppArmor or SELinux on Berth's hosts: only "off" is meaningful, and it is
            // what a container gets anyway.
            "apparmor" if v == "unconfined" => {}
            "label" if v == "disable" => {}
            "apparmor" | "label" | "systempaths" | "writable-cgroups" | "mask" | "unmask" => {
                return Err(Error::NotImplemented(format!(
                    "--security-opt {opt:?} is not implemented in Berth"
                )))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid --security-opt 2: {opt:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// `--cgroupns`: `Some(true)` private, `Some(false)` host, `None` the default.
pub(crate) fn cgroupns_private(hc: &HostConfig) -> Option<bool> {
    match hc.cgroupns_mode {
        Some(HostConfigCgroupnsModeEnum::PRIVATE) => Some(true),
        Some(HostConfigCgroupnsModeEnum::HOST) => Some(false),
        _ => None,
    }
}

/// Create-time checks and Docker's defaults written into the stored `HostConfig` (so that
/// inspect shows what Docker shows, e.g. `MemorySwap` twice `Memory`).
pub(crate) fn check_and_default(hc: &mut HostConfig) -> Result<()> {
    let r = resources(hc);
    // Rendering checks what validation cannot alone (throttled paths are block devices).
    r.to_oci()?;
    if r.memory > 0 && r.memory_swap == 0 && berth_runtime::resources::swap_accounting() {
        hc.memory_swap = Some(r.memory * 2);
    }
    security(hc)?;
    berth_runtime::devices::resolve(&devices(hc))?;
    for u in hc.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        if soft < 0 || hard < 0 {
            return Err(Error::InvalidArgument(format!(
                "invalid ulimit {name}: negative values are not allowed"
            )));
        }
    }
    let mut probe = berth_runtime::spec::SpecInput::new("probe", vec!["true".into()], "/");
    probe.rlimit_policy = berth_runtime::spec::RlimitPolicy::Error;
    probe.rlimits = rlimits(hc);
    berth_runtime::spec::rlimits(&probe)?;
    if let Some(parent) = hc.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        if parent.split('/').any(|c| c == ".." || c == ".") {
            return Err(Error::InvalidArgument(format!(
                "invalid cgroup parent {parent:?}"
            )));
        }
    }
    Ok(())
}

/// `--ulimit` entries.
pub(crate) fn rlimits(hc: &HostConfig) -> Vec<berth_runtime::spec::Rlimit> {
    hc.ulimits
        .iter()
        .flatten()
        .map(|u| berth_runtime::spec::Rlimit {
            name: u.name.clone().unwrap_or_default(),
            soft: u.soft.unwrap_or(0).max(0) as u64,
            hard: u.hard.unwrap_or(0).max(0) as u64,
        })
        .collect()
}

/// The container's cgroup path: `--cgroup-parent` (absolute, or relative to the root as
/// Docker's cgroupfs driver treats it) plus the ID.
pub(crate) fn cgroup_parent(hc: &HostConfig) -> String {
    match hc.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if p.starts_with('/') => p.to_owned(),
        Some(p) => format!("/{p}"),
        None => "/berth".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse_like_docker() {
        let hc = |opts: &[&str]| HostConfig {
            security_opt: Some(opts.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let s = security(&hc(&["no-new-privileges", "seccomp=unconfined"])).unwrap();
        assert!(s.no_new_privileges);
        assert!(matches!(s.seccomp, Seccomp::Unconfined));
        let s = security(&hc(&["no-new-privileges:true"])).unwrap();
        assert!(s.no_new_privileges);
        let s = security(&hc(&[
            r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}"#,
        ]))
        .unwrap();
        assert!(matches!(s.seccomp, Seccomp::Profile(_)));
        assert!(security(&hc(&["seccomp={"])).is_err());
        assert!(security(&hc(&["bogus"])).is_err());
        assert!(security(&hc(&["nonsense=1"])).is_err());
    }

    #[test]
    fn create_defaults_and_refusals() {
        let mut hc = HostConfig {
            memory: Some(64 << 20),
            ..Default::default()
        };
        check_and_default(&mut hc).unwrap();
        if berth_runtime::resources::swap_accounting() {
            assert_eq!(hc.memory_swap, Some(128 << 20));
        }
        let mut hc = HostConfig {
            memory: Some(1000),
            ..Default::default()
        };
        assert!(check_and_default(&mut hc).is_err());
        let mut hc = HostConfig {
            cgroup_parent: Some("/a/../b".into()),
            ..Default::default()
        };
        assert!(check_and_default(&mut hc).is_err());
        assert_eq!(cgroup_parent(&HostConfig::default()), "/berth");
        let hc = HostConfig {
            cgroup_parent: Some("mine".into()),
            ..Default::default()
        };
        assert_eq!(cgroup_parent(&hc), "/mine");
    }
}
