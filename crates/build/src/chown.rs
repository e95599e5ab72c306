//! `--chown=user[:group]`: names are looked up in the image's own `/etc/passwd` and
//! `/etc/group`, read through `pathrs` so that a symlink in the image cannot point the lookup
//! at the host; nothing from the image is ever executed.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Resolves `spec` against the image mounted at `root` (`None`: `FROM scratch`, numbers only).
/// A user without a group uses the user's number as the group, as Docker does.
pub fn resolve(spec: &str, root: Option<&Path>) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(root, "etc/passwd", user).map_err(|e| {
            Error::Invalid(format!(
                "unable to convert uid/gid chown string to host mapping: {e}"
            ))
        })?,
    };
    let gid = match group {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(root, "etc/group", g).map_err(|e| {
                Error::Invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: {e}"
                ))
            })?,
        },
    };
    Ok((uid, gid))
}

fn lookup(root: Option<&Path>, file: &str, name: &str) -> std::result::Result<u32, String> {
    let what = if file.ends_with("passwd") {
        "user"
    } else {
        "group"
    };
    let not_found = || format!("can't find {what} {name}: no matching entries in {file} file");
    let Some(root) = root else {
        return Err(not_found());
    };
    let text = read_in_root(root, file).map_err(|_| not_found())?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let _pw = f.next()?;
            let id = f.next()?.parse::<u32>().ok()?;
            (n == name).then_some(id)
        })
        .next()
        .ok_or_else(not_found)
}

fn read_in_root(root: &Path, rel: &str) -> std::io::Result<String> {
    let to_io = |e: pathrs::error::Error| std::io::Error::other(e.to_string());
    let r = pathrs::Root::open(root).map_err(to_io)?;
    let h = r.resolve(rel).map_err(to_io)?;
    let mut f = h
        .reopen(pathrs::flags::OpenFlags::O_RDONLY)
        .map_err(to_io)?;
    let mut s = String::new();
    f.by_ref().take(4 << 20).read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1001:1002::/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(resolve("app", Some(d.path())).unwrap(), (1001, 1001));
        assert_eq!(resolve("app:staff", Some(d.path())).unwrap(), (1001, 50));
        assert_eq!(resolve("7:8", None).unwrap(), (7, 8));
        assert!(resolve("nobody", Some(d.path())).is_err());
    }
}
