//! The host's mount table (`/proc/self/mountinfo`): whether a path is a mount point, and the
//! propagation of the mount that holds a path (for `shared`/`slave` bind propagation, which
//! the kernel only honours when the source's mount is itself shared or a slave).

use std::path::{Path, PathBuf};

/// One line of mountinfo, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    /// Optional fields: `shared:N`, `master:N`, …
    pub optional: Vec<String>,
}

impl MountInfo {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
    pub fn is_slave(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("master:"))
    }
}

/// Unescapes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            if sep < 6 {
                return None;
            }
            Some(MountInfo {
                mount_point: PathBuf::from(unescape(f[4])),
                optional: f[6..sep].iter().map(|s| s.to_string()).collect(),
            })
        })
        .collect()
}

fn table() -> Vec<MountInfo> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Whether `path` is itself a mount point.
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(p) = std::fs::canonicalize(path) else {
        return false;
    };
    table().iter().any(|m| m.mount_point == p)
}

/// Whether any mount lies at or below `path`.
pub fn has_mounts_under(path: &Path) -> bool {
    let Ok(p) = std::fs::canonicalize(path) else {
        return false;
    };
    table().iter().any(|m| m.mount_point.starts_with(&p))
}

/// The mount that holds `path` (the longest mount point that is a prefix of it; the last one
/// listed wins when several are stacked).
pub fn mount_of(path: &Path) -> Option<MountInfo> {
    let p = std::fs::canonicalize(path).ok()?;
    let mut best: Option<MountInfo> = None;
    for m in table() {
        if p.starts_with(&m.mount_point)
            && best
                .as_ref()
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_optional_fields_and_escapes() {
        let t = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                 30 22 0:5 / /mnt/with\\040space rw master:3 - tmpfs tmpfs rw\n\
                 31 22 0:6 / /priv rw - tmpfs tmpfs rw\n";
        let m = parse(t);
        assert_eq!(m.len(), 3);
        assert!(m[0].is_shared());
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/with space"));
        assert!(m[1].is_slave() && !m[1].is_shared());
        assert!(!m[2].is_shared() && !m[2].is_slave());
    }

    #[test]
    fn proc_root_is_a_mountpoint() {
        assert!(is_mountpoint(Path::new("/proc")));
        assert!(mount_of(Path::new("/proc/self")).is_some());
    }
}
