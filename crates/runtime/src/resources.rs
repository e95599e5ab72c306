//! Resource limits: Docker's `HostConfig` resource fields ([`Resources`]), checked the way
//! Docker checks them and rendered into the OCI `linux.resources` that the runtime writes into
//! the container's cgroups at create (and that [`crate::cgroups::update`] writes again on
//! `docker update`).
//!
//! Host-dependent facts (device numbers of `--device-read-bps /dev/sda`, the number of CPUs, a
//! kernel without swap accounting) are looked up here, when the spec is rendered, so a request
//! that cannot work fails with a clear error before anything starts.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use crate::error::RuntimeError;

/// `--device-read-bps /dev/sda:1mb` and friends: a host block device and a rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleDevice {
    /// Host path of the block device.
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// `--blkio-weight-device /dev/sda:200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// Docker's resource fields, in Docker's units. Zero means "not set" everywhere, as in the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `--memory`, bytes.
    pub memory: i64,
    /// `--memory-swap`, bytes of memory + swap; -1 unlimited swap.
    pub memory_swap: i64,
    /// `--memory-reservation` (soft limit), bytes.
    pub memory_reservation: i64,
    /// `--memory-swappiness` 0..=100; `None` = the host's.
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--cpus` × 10⁹.
    pub nano_cpus: i64,
    /// `--cpu-shares` (relative weight, v1 units: 2..=262144).
    pub cpu_shares: i64,
    /// `--cpu-period`, µs.
    pub cpu_period: i64,
    /// `--cpu-quota`, µs per period.
    pub cpu_quota: i64,
    /// `--cpuset-cpus`, e.g. `0-1,3`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--pids-limit`; 0 or negative = unlimited.
    pub pids_limit: i64,
    /// `--blkio-weight` 10..=1000; 0 = unset.
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub device_read_bps: Vec<ThrottleDevice>,
    pub device_write_bps: Vec<ThrottleDevice>,
    pub device_read_iops: Vec<ThrottleDevice>,
    pub device_write_iops: Vec<ThrottleDevice>,
}

/// Docker's smallest memory limit (`Minimum memory limit allowed is 6MB`).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The CFS period Docker uses for `--cpus`.
pub const DEFAULT_CPU_PERIOD: i64 = 100_000;

impl Resources {
    /// Docker's consistency checks (moby `verifyPlatformContainerResources`), with Docker's
    /// wording, so that scripts matching on messages keep working.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let bad = |m: String| Err(RuntimeError::InvalidSpec(m));
        if self.memory != 0 && self.memory < MIN_MEMORY {
            return bad("Minimum memory limit allowed is 6MB".into());
        }
        if self.memory_swap > 0 && self.memory == 0 {
            return bad(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            );
        }
        if self.memory > 0 && self.memory_swap > 0 && self.memory_swap < self.memory {
            return bad(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            );
        }
        if self.memory > 0 && self.memory_reservation > 0 && self.memory < self.memory_reservation {
            return bad(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            );
        }
        if self.memory_reservation != 0 && self.memory_reservation < MIN_MEMORY {
            return bad("Minimum memory reservation allowed is 6MB".into());
        }
        if let Some(s) = self.memory_swappiness {
            if !(-1..=100).contains(&s) {
                return bad(format!(
                    "Invalid value: {s}, valid memory swappiness range is 0-100"
                ));
            }
        }
        if self.nano_cpus != 0 && (self.cpu_period != 0 || self.cpu_quota != 0) {
            return bad(if self.cpu_period != 0 {
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into()
            } else {
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into()
            });
        }
        if self.nano_cpus < 0 {
            return bad("Range of CPUs is from 0.01 to the number of CPUs available".into());
        }
        if self.nano_cpus > 0 {
            let n = host_cpus();
            if self.nano_cpus < 10_000_000 || self.nano_cpus > n as i64 * 1_000_000_000 {
                return bad(format!(
                    "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
                ));
            }
        }
        if self.cpu_period != 0 && !(1000..=1_000_000).contains(&self.cpu_period) {
            return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
        }
        if self.cpu_quota > 0 && self.cpu_quota < 1000 {
            return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
        }
        if self.cpu_shares < 0 {
            return bad(format!("invalid CPU shares: {}", self.cpu_shares));
        }
        for (what, set) in [
            ("cpuset.cpus", &self.cpuset_cpus),
            ("cpuset.mems", &self.cpuset_mems),
        ] {
            if !set.is_empty() {
                let want = parse_cpuset(set).ok_or_else(|| {
                    RuntimeError::InvalidSpec(format!("Invalid value {set} for {what}"))
                })?;
                let have = host_cpuset(what);
                if let Some(missing) = want.iter().find(|c| !have.contains(c)) {
                    return bad(format!(
                        "Requested {} are not available - requested {set}, available: {}",
                        if what == "cpuset.cpus" {
                            "CPUs"
                        } else {
                            "memory nodes"
                        },
                        host_cpuset_text(what).unwrap_or_else(|| format!("not {missing}"))
                    ));
                }
            }
        }
        if self.blkio_weight != 0 && !(10..=1000).contains(&self.blkio_weight) {
            return bad("Range of blkio weight is from 10 to 1000".into());
        }
        for w in &self.blkio_weight_device {
            if !(10..=1000).contains(&w.weight) {
                return bad("Range of blkio weight is from 10 to 1000".into());
            }
        }
        Ok(())
    }

    /// The OCI `linux.resources` members for these limits (without `devices`), after
    /// [`Resources::validate`]. Docker's derived values are filled in here: `--cpus` becomes a
    /// quota over a 100 ms period; a memory limit without `--memory-swap` allows as much swap
    /// again (Docker's default), unless the kernel lacks swap accounting.
    pub fn to_oci(&self) -> Result<serde_json::Map<String, Value>, RuntimeError> {
        self.validate()?;
        let mut out = serde_json::Map::new();
        let mut memory = serde_json::Map::new();
        if self.memory > 0 {
            memory.insert("limit".into(), json!(self.memory));
            if swap_accounting() {
                let swap = match self.memory_swap {
                    0 => self.memory * 2,
                    s => s,
                };
                memory.insert("swap".into(), json!(swap));
            }
        }
        if self.memory_reservation > 0 {
            memory.insert("reservation".into(), json!(self.memory_reservation));
        }
        if let Some(s) = self.memory_swappiness.filter(|s| *s >= 0) {
            memory.insert("swappiness".into(), json!(s));
        }
        if self.oom_kill_disable {
            memory.insert("disableOOMKiller".into(), json!(true));
        }
        if !memory.is_empty() {
            out.insert("memory".into(), Value::Object(memory));
        }

        let mut cpu = serde_json::Map::new();
        if self.cpu_shares > 0 {
            cpu.insert("shares".into(), json!(self.cpu_shares));
        }
        if self.nano_cpus > 0 {
            cpu.insert("period".into(), json!(DEFAULT_CPU_PERIOD));
            cpu.insert(
                "quota".into(),
                json!(self.nano_cpus * DEFAULT_CPU_PERIOD / 1_000_000_000),
            );
        }
        if self.cpu_period > 0 {
            cpu.insert("period".into(), json!(self.cpu_period));
        }
        if self.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(self.cpu_quota));
        }
        if !self.cpuset_cpus.is_empty() {
            cpu.insert("cpus".into(), json!(self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            cpu.insert("mems".into(), json!(self.cpuset_mems));
        }
        if !cpu.is_empty() {
            out.insert("cpu".into(), Value::Object(cpu));
        }

        if self.pids_limit > 0 {
            out.insert("pids".into(), json!({"limit": self.pids_limit}));
        }

        let mut blkio = serde_json::Map::new();
        if self.blkio_weight > 0 {
            blkio.insert("weight".into(), json!(self.blkio_weight));
        }
        if !self.blkio_weight_device.is_empty() {
            let mut v = Vec::new();
            for w in &self.blkio_weight_device {
                let (major, minor) = block_device_numbers(&w.path)?;
                v.push(json!({"major": major, "minor": minor, "weight": w.weight}));
            }
            blkio.insert("weightDevice".into(), Value::Array(v));
        }
        for (key, list) in [
            ("throttleReadBpsDevice", &self.device_read_bps),
            ("throttleWriteBpsDevice", &self.device_write_bps),
            ("throttleReadIOPSDevice", &self.device_read_iops),
            ("throttleWriteIOPSDevice", &self.device_write_iops),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut v = Vec::new();
            for t in list {
                let (major, minor) = block_device_numbers(&t.path)?;
                v.push(json!({"major": major, "minor": minor, "rate": t.rate}));
            }
            blkio.insert(key.into(), Value::Array(v));
        }
        if !blkio.is_empty() {
            out.insert("blockIO".into(), Value::Object(blkio));
        }
        Ok(out)
    }
}

/// Major and minor numbers of a host block device (for blkio rules), with Docker's error.
pub fn block_device_numbers(path: &str) -> Result<(u64, u64), RuntimeError> {
    let md = std::fs::metadata(path)
        .map_err(|e| RuntimeError::InvalidSpec(format!("invalid device {path}: {e}")))?;
    if !md.file_type().is_block_device() {
        return Err(RuntimeError::InvalidSpec(format!(
            "{path} is not a block device"
        )));
    }
    let rdev = md.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

/// The number of CPUs this process may run on (what Docker's `sysinfo.NumCPU` reports).
pub fn host_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parses a cpuset list (`0-2,4`) into its members; `None` if malformed.
pub fn parse_cpuset(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

fn host_cpuset_text(what: &str) -> Option<String> {
    let file = if what == "cpuset.cpus" {
        "/sys/devices/system/cpu/online"
    } else {
        "/sys/devices/system/node/online"
    };
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn host_cpuset(what: &str) -> Vec<u32> {
    match host_cpuset_text(what).and_then(|t| parse_cpuset(&t)) {
        Some(v) => v,
        // No NUMA information (no /sys/devices/system/node): node 0 only.
        None if what == "cpuset.mems" => vec![0],
        None => (0..host_cpus() as u32).collect(),
    }
}

/// Whether the kernel accounts swap per cgroup (v1 `memory.memsw.*`, v2 `memory.swap.max`).
/// Docker drops `--memory-swap` with a warning when it does not; so do we.
pub fn swap_accounting() -> bool {
    let root = Path::new("/sys/fs/cgroup");
    if crate::cgroups::is_unified() {
        // The root has no swap files; a cgroup in the default hierarchy is enough to tell.
        return std::fs::read_dir(root).ok().is_some_and(|d| {
            d.flatten()
                .any(|e| e.path().join("memory.swap.max").exists())
        }) || !root.join("cgroup.controllers").exists();
    }
    root.join("memory/memory.memsw.limit_in_bytes").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_derivations() {
        let r = Resources {
            memory: 64 << 20,
            nano_cpus: 500_000_000,
            pids_limit: 10,
            cpu_shares: 512,
            ..Default::default()
        };
        let o = r.to_oci().unwrap();
        assert_eq!(o["memory"]["limit"], json!(64 << 20));
        if swap_accounting() {
            assert_eq!(o["memory"]["swap"], json!(128 << 20));
        }
        assert_eq!(o["cpu"]["quota"], json!(50_000));
        assert_eq!(o["cpu"]["period"], json!(100_000));
        assert_eq!(o["cpu"]["shares"], json!(512));
        assert_eq!(o["pids"]["limit"], json!(10));
        assert!(Resources::default().to_oci().unwrap().is_empty());
    }

    #[test]
    fn docker_refusals() {
        let bad = [
            Resources {
                memory: 1 << 20,
                ..Default::default()
            },
            Resources {
                memory_swap: 1 << 30,
                ..Default::default()
            },
            Resources {
                memory: 64 << 20,
                memory_swap: 32 << 20,
                ..Default::default()
            },
            Resources {
                nano_cpus: 1_000_000_000,
                cpu_period: 100_000,
                ..Default::default()
            },
            Resources {
                nano_cpus: 1_000_000_000 * 10_000,
                ..Default::default()
            },
            Resources {
                cpuset_cpus: "0-99999".into(),
                ..Default::default()
            },
            Resources {
                cpuset_cpus: "x".into(),
                ..Default::default()
            },
            Resources {
                blkio_weight: 5,
                ..Default::default()
            },
        ];
        for r in bad {
            assert!(r.validate().is_err(), "{r:?} accepted");
        }
        let e = Resources {
            memory: 1,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("Minimum memory limit allowed is 6MB"));
    }

    #[test]
    fn cpusets_parse() {
        assert_eq!(parse_cpuset("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpuset("2-1").is_none());
        assert!(parse_cpuset("a").is_none());
        assert!(parse_cpuset("").is_none());
    }

    #[test]
    fn throttles_need_block_devices() {
        let r = Resources {
            device_read_bps: vec![ThrottleDevice {
                path: "/dev/null".into(),
                rate: 1,
            }],
            ..Default::default()
        };
        assert!(r.to_oci().unwrap_err().to_string().contains("block device"));
    }
}
