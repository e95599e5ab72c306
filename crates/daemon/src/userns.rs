//! `--userns-remap`: which host ids a remapped daemon's containers run as.
//!
//! As dockerd: the value is `default` (the `dockremap` user and group, created with the host's
//! `useradd` and given a free 65536-id subordinate range with `usermod` when it has none),
//! `user`, `user:group`, `uid` or `uid:gid`. The user's (and group's) lines in `/etc/subuid`
//! and `/etc/subgid` are the ranges; the container's root is the first id of the first.
//!
//! The host's user database is read from the files: the binary is static and cannot load
//! glibc's NSS modules.

use std::path::Path;

use berth_types::idmap::IdMap;

use crate::error::{Error, Result};

/// dockerd's name for the remap user and group of `--userns-remap default`.
pub const DEFAULT_REMAP_USER: &str = "dockremap";
/// The size of the range given to a `dockremap` created here (dockerd's).
const DEFAULT_RANGE: u32 = 65536;
/// Where a new range may start at the lowest (dockerd's and shadow's default).
const FIRST_SUBORDINATE: u32 = 100000;

/// Resolves `--userns-remap` to the id mappings, creating `dockremap` for `default`.
pub fn resolve(spec: &str) -> Result<IdMap> {
    resolve_with(spec, true)
}

/// The data root a daemon with `config` keeps its state in: the mapping's subtree when
/// remapped (resolved without creating anything; `None` if the remap user is gone).
pub fn effective_data_root(config: &crate::DaemonConfig) -> Option<std::path::PathBuf> {
    match &config.userns_remap {
        None => Some(config.data_root.clone()),
        Some(spec) => resolve_with(spec, false)
            .ok()
            .map(|m| config.data_root.join(m.subtree_name())),
    }
}

fn resolve_with(spec: &str, create: bool) -> Result<IdMap> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u.to_owned(), Some(g.to_owned())),
        None => (spec.to_owned(), None),
    };
    if user.is_empty() || group.as_deref() == Some("") {
        return Err(Error::Config(format!(
            "invalid --userns-remap value: {spec:?}"
        )));
    }
    let (user, group) = if user == "default" {
        if group.is_some() {
            return Err(Error::Config(
                "--userns-remap default takes no group".to_owned(),
            ));
        }
        if create {
            ensure_default_user()?;
        }
        (DEFAULT_REMAP_USER.to_owned(), DEFAULT_REMAP_USER.to_owned())
    } else {
        let group = group.unwrap_or_else(|| user.clone());
        (user, group)
    };
    let passwd = read("/etc/passwd")?;
    let groups = read("/etc/group")?;
    let (uname, uid) = lookup(&passwd, &user)
        .ok_or_else(|| Error::Config(format!("cannot find user {user:?} for --userns-remap")))?;
    let (gname, gid) = lookup(&groups, &group)
        .ok_or_else(|| Error::Config(format!("cannot find group {group:?} for --userns-remap")))?;
    let uids = subordinate(&read("/etc/subuid")?, &uname, uid);
    let gids = subordinate(&read("/etc/subgid")?, &gname, gid);
    if uids.is_empty() {
        return Err(Error::Config(format!(
            "no subuid ranges found for user {uname:?} in /etc/subuid"
        )));
    }
    if gids.is_empty() {
        return Err(Error::Config(format!(
            "no subgid ranges found for group {gname:?} in /etc/subgid"
        )));
    }
    Ok(IdMap::from_subordinate(&uids, &gids))
}

fn read(path: &str) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io(format!("reading {path}"))(e)),
    }
}

/// Finds `who` (a name or a numeric id) in passwd- or group-format `text`: its name and id.
fn lookup(text: &str, who: &str) -> Option<(String, u32)> {
    let numeric: Option<u32> = who.parse().ok();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let id: u32 = f.get(2)?.parse().ok()?;
        (f[0] == who || numeric == Some(id)).then(|| (f[0].to_owned(), id))
    })
}

/// The ranges `(start, count)` of `name` (or its numeric `id`, which the files also allow) in
/// subuid/subgid-format `text`, in file order.
fn subordinate(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    let id = id.to_string();
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let owner = f.next()?;
            let start: u32 = f.next()?.parse().ok()?;
            let count: u32 = f.next()?.parse().ok()?;
            (owner == name || owner == id).then_some((start, count))
        })
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// The first start at or above [`FIRST_SUBORDINATE`] where `size` ids overlap no range of
/// `text` (both files are considered by the caller).
fn free_start(texts: &[&str], size: u32) -> u32 {
    let mut taken: Vec<(u64, u64)> = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            let start: u64 = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            Some((start, start + count))
        })
        .collect();
    taken.sort();
    let mut start = FIRST_SUBORDINATE as u64;
    for (a, b) in taken {
        if a < start + size as u64 && start < b {
            start = b;
        }
    }
    start.min((u32::MAX - size) as u64) as u32
}

/// Creates `dockremap` and its ranges as dockerd does, when missing.
fn ensure_default_user() -> Result<()> {
    if lookup(&read("/etc/passwd")?, DEFAULT_REMAP_USER).is_none() {
        run(
            "useradd",
            &["-r", "-s", "/bin/false", "-U", DEFAULT_REMAP_USER],
        )?;
    }
    if lookup(&read("/etc/group")?, DEFAULT_REMAP_USER).is_none() {
        run("groupadd", &["-r", DEFAULT_REMAP_USER])?;
    }
    let subuid = read("/etc/subuid")?;
    let subgid = read("/etc/subgid")?;
    let has = |t: &str| {
        t.lines()
            .any(|l| l.split(':').next() == Some(DEFAULT_REMAP_USER))
    };
    if !has(&subuid) || !has(&subgid) {
        let start = free_start(&[&subuid, &subgid], DEFAULT_RANGE);
        let range = format!("{start}-{}", start + DEFAULT_RANGE - 1);
        let mut args = Vec::new();
        if !has(&subuid) {
            args.extend(["-v", range.as_str()]);
        }
        if !has(&subgid) {
            args.extend(["-w", range.as_str()]);
        }
        args.push(DEFAULT_REMAP_USER);
        run("usermod", &args)?;
    }
    Ok(())
}

fn run(tool: &str, args: &[&str]) -> Result<()> {
    let path = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::Config(format!(
                "--userns-remap default needs {tool} to create {DEFAULT_REMAP_USER}"
            ))
        })?;
    let out = std::process::Command::new(&path)
        .args(args)
        .output()
        .map_err(Error::io(format!("running {}", path.display())))?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Prepares the remapped daemon's data subtree `<data-root>/<uid>.<gid>` as dockerd does:
/// the data root and the subtree belong to root and to the remapped root's group, mode 0710,
/// so that the containers' root can reach its files there (bind sources, volumes) and list
/// nothing. Returns the subtree.
pub fn prepare_root(data_root: &Path, map: &IdMap) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let (_, gid) = map.root();
    let sub = data_root.join(map.subtree_name());
    std::fs::create_dir_all(&sub).map_err(Error::io(format!("creating {}", sub.display())))?;
    for dir in [data_root, sub.as_path()] {
        std::os::unix::fs::chown(dir, Some(0), Some(gid))
            .map_err(Error::io(format!("chown {}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
            .map_err(Error::io(format!("chmod {}", dir.display())))?;
    }
    // Above the data root, the containers' root is "other": it needs o+x all the way.
    for dir in data_root.ancestors().skip(1) {
        let Ok(md) = std::fs::metadata(dir) else {
            continue;
        };
        if md.permissions().mode() & 0o001 == 0 {
            return Err(Error::Config(format!(
                "the remapped root cannot reach {}: {} is not searchable by others (chmod o+x)",
                data_root.display(),
                dir.display()
            )));
        }
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_resolve_by_name_or_id() {
        let passwd = "root:x:0:0::/root:/bin/sh\ndockremap:x:998:997::/:/bin/false\n";
        assert_eq!(lookup(passwd, "dockremap"), Some(("dockremap".into(), 998)));
        assert_eq!(lookup(passwd, "998"), Some(("dockremap".into(), 998)));
        assert_eq!(lookup(passwd, "nobody"), None);
    }

    #[test]
    fn subordinate_ranges_in_file_order_by_name_or_id() {
        let sub = "alice:100000:65536\ndockremap:165536:65536\n998:300000:10\nbad:line\n";
        assert_eq!(
            subordinate(sub, "dockremap", 998),
            vec![(165536, 65536), (300000, 10)]
        );
        assert!(subordinate(sub, "bob", 1).is_empty());
    }

    #[test]
    fn a_new_range_overlaps_none() {
        assert_eq!(free_start(&["", ""], 65536), 100000);
        let a = "alice:100000:65536\n";
        let b = "bob:165536:65536\n";
        assert_eq!(free_start(&[a, b], 65536), 231072);
        // A gap big enough below the others is used.
        let c = "carol:300000:65536\n";
        assert_eq!(free_start(&[c], 65536), 100000);
        assert_eq!(free_start(&[c], 250000), 365536);
    }
}
