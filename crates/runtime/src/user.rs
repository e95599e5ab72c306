//! Resolution of Docker's `--user` (and `--group-add`) against the image's `/etc/passwd` and
//! `/etc/group`, read inside the rootfs with RESOLVE_IN_ROOT semantics (pathrs), so that a
//! symlinked `/etc/passwd` pointing at `/etc/shadow` or the host's files resolves inside the root.

use std::io::Read;
use std::path::Path;

use crate::error::RuntimeError;

/// The identity the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups listing the user in `/etc/group`, then `--group-add`.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, `/` when the user has no entry.
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Upper bound on the size of `/etc/passwd` or `/etc/group` we read: these are hostile inputs.
const MAX_DB_SIZE: u64 = 16 * 1024 * 1024;

/// Read a file inside `rootfs`; `Ok(None)` when it does not exist.
fn read_in_root(rootfs: &Path, path: &str) -> Result<Option<String>, RuntimeError> {
    let root = pathrs::Root::open(rootfs)
        .map_err(|e| RuntimeError::io(format!("open rootfs {}", rootfs.display()), to_io(e)))?;
    let file = match root.open_subpath(path, pathrs::flags::OpenFlags::O_RDONLY) {
        Ok(f) => f,
        Err(e) if errno(&e) == Some(libc::ENOENT) => return Ok(None),
        Err(e) => {
            return Err(RuntimeError::io(
                format!("open {path} in the image"),
                to_io(e),
            ))
        }
    };
    let mut buf = Vec::new();
    file.take(MAX_DB_SIZE)
        .read_to_end(&mut buf)
        .map_err(|e| RuntimeError::io(format!("read {path} in the image"), e))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn errno(e: &pathrs::error::Error) -> Option<i32> {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(errno) => errno,
        _ => None,
    }
}

fn to_io(e: pathrs::error::Error) -> std::io::Error {
    match errno(&e) {
        Some(errno) => std::io::Error::from_raw_os_error(errno),
        None => std::io::Error::other(e.to_string()),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Numeric IDs must fit Linux's valid range (Docker refuses negative or >= 2^31).
fn parse_id(s: &str) -> Option<Result<u32, RuntimeError>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match s.parse::<u32>() {
        Ok(n) if n <= i32::MAX as u32 => Ok(n),
        _ => Err(RuntimeError::InvalidUser(s.to_string())),
    })
}

/// Resolve `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) and `group_add` (names or
/// gids) against the image at `rootfs`.
///
/// Missing `/etc/passwd` or `/etc/group` is fine for numeric values; a name that matches no
/// entry is [`RuntimeError::UnknownUser`], worded as Docker does.
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<ExecUser, RuntimeError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    let passwd = read_in_root(rootfs, "/etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let groups = read_in_root(rootfs, "/etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default();

    let numeric_uid = parse_id(user_part).transpose()?;
    let entry = passwd.iter().find(|p| match numeric_uid {
        Some(uid) => p.uid == uid,
        None => p.name == user_part,
    });
    let (uid, mut gid, home, name) = match (entry, numeric_uid) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
        (None, Some(uid)) => (uid, 0, "/".to_string(), None),
        (None, None) => {
            return Err(RuntimeError::UnknownUser {
                what: "user",
                name: user_part.to_string(),
                file: "passwd",
            })
        }
    };

    let find_group = |spec: &str| -> Result<u32, RuntimeError> {
        if let Some(gid) = parse_id(spec).transpose()? {
            return Ok(gid);
        }
        groups
            .iter()
            .find(|g| g.name == spec)
            .map(|g| g.gid)
            .ok_or_else(|| RuntimeError::UnknownUser {
                what: "group",
                name: spec.to_string(),
                file: "group",
            })
    };

    if let Some(g) = group_part {
        if g.is_empty() {
            return Err(RuntimeError::InvalidUser(user.to_string()));
        }
        gid = find_group(g)?;
    }

    let mut additional = Vec::new();
    // Membership groups come with a named user only (an explicit group replaces them, as runc
    // does).
    if let (Some(name), None) = (&name, group_part) {
        for g in &groups {
            if g.members.iter().any(|m| m == name) && !additional.contains(&g.gid) {
                additional.push(g.gid);
            }
        }
    }
    for g in group_add {
        let gid = find_group(g)?;
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }

    // Docker (through runc's user lookup) always lists the primary group among the
    // supplementary ones: `id` shows `groups=…,<gid>`, and /proc/self/status `Groups:` has it.
    if !additional.contains(&gid) {
        additional.push(gid);
    }

    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbad:x:notnum:1::/:\n",
        )
        .unwrap();
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\naudio:x:29:\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_and_numbers() {
        let r = rootfs();
        let u = resolve_user(r.path(), "", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        let u = resolve_user(r.path(), "www", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(u.additional_gids, vec![50, 33]);
        let u = resolve_user(r.path(), "1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 0, "/"));
        let u = resolve_user(r.path(), "www:audio", &["staff".into(), "7".into()]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 29));
        assert_eq!(u.additional_gids, vec![50, 7, 29]);
        let u = resolve_user(r.path(), "1000:1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
    }

    #[test]
    fn unknown_names_are_docker_errors() {
        let r = rootfs();
        let e = resolve_user(r.path(), "nobody", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = resolve_user(r.path(), "www:nogroup", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(resolve_user(r.path(), "99999999999", &[]).is_err());
        assert!(resolve_user(r.path(), "www:", &[]).is_err());
    }

    #[test]
    fn missing_files_are_fine_for_numeric_users() {
        let d = tempfile::tempdir().unwrap();
        let u = resolve_user(d.path(), "5:6", &["7".into()]).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (5, 6, vec![7, 6])
        );
        assert!(resolve_user(d.path(), "root", &[]).is_err());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        fs::write(
            host.path().join("passwd"),
            "evil:x:4242:4242::/evil:/bin/sh\n",
        )
        .unwrap();
        let r = tempfile::tempdir().unwrap();
        fs::create_dir_all(r.path().join("etc")).unwrap();
        // An absolute symlink to a host path must be taken relative to the root.
        std::os::unix::fs::symlink(host.path().join("passwd"), r.path().join("etc/passwd"))
            .unwrap();
        assert!(resolve_user(r.path(), "evil", &[]).is_err());
        // ... and `..` cannot climb out either.
        fs::remove_file(r.path().join("etc/passwd")).unwrap();
        let rel = format!(
            "../../../../../../../..{}",
            host.path().join("passwd").display()
        );
        std::os::unix::fs::symlink(rel, r.path().join("etc/passwd")).unwrap();
        assert!(resolve_user(r.path(), "evil", &[]).is_err());
    }
}
