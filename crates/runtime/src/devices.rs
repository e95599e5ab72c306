//! Host devices given to a container: `--device` requests and, for `--privileged`, every device
//! node of the host's `/dev` (as Docker does), each as an OCI `linux.devices` entry (the runtime
//! creates the node) plus a device-cgroup rule allowing it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use crate::error::RuntimeError;

/// One `--device HOST[:CONTAINER][:PERMS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// A device node or a directory of them on the host.
    pub host_path: String,
    /// Where it appears in the container; empty = the host path.
    pub container_path: String,
    /// Cgroup permissions, a subset of `rwm`; empty = `rwm`.
    pub permissions: String,
}

/// A device node found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl HostDevice {
    fn at(path: &Path) -> Option<HostDevice> {
        let md = std::fs::symlink_metadata(path).ok()?;
        let ft = md.file_type();
        let kind = if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else {
            return None;
        };
        Some(HostDevice {
            path: path.to_string_lossy().into_owned(),
            kind,
            major: nix::sys::stat::major(md.rdev()),
            minor: nix::sys::stat::minor(md.rdev()),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
        })
    }

    /// The OCI `linux.devices` entry placing this device at `dest`.
    pub fn oci_device(&self, dest: &str) -> Value {
        json!({"path": dest, "type": self.kind.to_string(), "major": self.major,
               "minor": self.minor, "fileMode": self.mode, "uid": self.uid, "gid": self.gid})
    }

    /// The device-cgroup rule allowing it with `access`.
    pub fn cgroup_rule(&self, access: &str) -> Value {
        json!({"allow": true, "type": self.kind.to_string(), "major": self.major,
               "minor": self.minor, "access": access})
    }
}

/// Every device under `dir` (recursively), skipping what Docker skips: the pseudo-terminal,
/// shared-memory and mqueue directories and `console`.
pub fn devices_under(dir: &Path) -> Vec<HostDevice> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name();
        let name = name.to_string_lossy();
        if ft.is_dir() {
            if matches!(
                name.as_ref(),
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                continue;
            }
            out.extend(devices_under(&e.path()));
        } else if name != "console" {
            out.extend(HostDevice::at(&e.path()));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Resolves `--device` requests into `(linux.devices entries, cgroup rules)`, with Docker's
/// errors for paths that are not devices and bad permissions.
pub fn resolve(requests: &[DeviceRequest]) -> Result<(Vec<Value>, Vec<Value>), RuntimeError> {
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    for r in requests {
        let perms = if r.permissions.is_empty() {
            "rwm"
        } else {
            r.permissions.as_str()
        };
        if !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(RuntimeError::InvalidSpec(format!(
                "invalid device mode: {perms}"
            )));
        }
        let dest = if r.container_path.is_empty() {
            r.host_path.as_str()
        } else {
            r.container_path.as_str()
        };
        if !dest.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "{dest} is not an absolute path"
            )));
        }
        let host = Path::new(&r.host_path);
        let md = std::fs::metadata(host).map_err(|e| {
            RuntimeError::InvalidSpec(format!(
                "error gathering device information while adding custom device \"{}\": {}",
                r.host_path,
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".to_string()
                } else {
                    e.to_string()
                }
            ))
        })?;
        if md.is_dir() {
            // Every device below the directory, at the same place below the destination.
            for d in devices_under(host) {
                let rel = d.path.strip_prefix(&r.host_path).unwrap_or(&d.path);
                let to = format!("{}{}", dest.trim_end_matches('/'), rel);
                devices.push(d.oci_device(&to));
                rules.push(d.cgroup_rule(perms));
            }
            continue;
        }
        // Follow a symlink (e.g. /dev/disk/by-id/...) to the node itself.
        let real = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf());
        let d = HostDevice::at(&real).ok_or_else(|| {
            RuntimeError::InvalidSpec(format!("{} is not a device node", r.host_path))
        })?;
        devices.push(d.oci_device(dest));
        rules.push(d.cgroup_rule(perms));
    }
    Ok((devices, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_device_resolves() {
        let (devs, rules) = resolve(&[DeviceRequest {
            host_path: "/dev/null".into(),
            container_path: "/dev/mynull".into(),
            permissions: "rw".into(),
        }])
        .unwrap();
        assert_eq!(devs[0]["path"], "/dev/mynull");
        assert_eq!(devs[0]["type"], "c");
        assert_eq!(
            (devs[0]["major"].as_u64(), devs[0]["minor"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(rules[0]["access"], "rw");
    }

    #[test]
    fn non_devices_and_bad_modes_are_refused() {
        let req = |p: &str, m: &str| DeviceRequest {
            host_path: p.into(),
            container_path: String::new(),
            permissions: m.into(),
        };
        assert!(resolve(&[req("/etc/hostname", "")]).is_err());
        assert!(resolve(&[req("/nonexistent", "")]).is_err());
        assert!(resolve(&[req("/dev/null", "rwx")]).is_err());
    }

    #[test]
    fn host_devices_include_null_but_not_pts() {
        let all = devices_under(Path::new("/dev"));
        assert!(all.iter().any(|d| d.path == "/dev/null"));
        assert!(!all.iter().any(|d| d.path.starts_with("/dev/pts/")));
    }
}
