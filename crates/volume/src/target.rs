//! Mount destinations inside a container's root, resolved with `RESOLVE_IN_ROOT` semantics.
//!
//! An image is untrusted: `/data` in it may be a symlink to `/etc` of the host, `../../..`, or
//! anything else. Each destination is resolved inside the rootfs through `pathrs` (openat2
//! with `RESOLVE_IN_ROOT`, or its emulation), missing directories (or, for a single-file bind,
//! the file) are created fd-relatively, and the *resolved* path — symlinks already followed,
//! inside the root — is what goes into the runtime spec. So a symlink can redirect a mount only
//! to another place inside the same container (as it would for any process inside it), never
//! out of it (CVE-2021-30465, CVE-2022-23648).

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::{InodeType, Root};

use crate::error::{Error, Result};

/// What the mount puts at its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Directory,
    File,
}

fn is_dir(fd: std::os::fd::BorrowedFd<'_>) -> Result<bool> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(|e| Error::io("stat of a mount destination")(e.into()))?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Makes sure `dest` exists inside `rootfs` as `kind` and returns its resolved absolute path
/// inside the container (no symlinks left in it).
pub fn prepare(rootfs: &Path, dest: &str, kind: TargetKind) -> Result<String> {
    prepare_with_mode(rootfs, dest, kind, None)
}

/// [`prepare`], giving a directory it creates the permission bits `mode` (a tmpfs's `mode=`:
/// runc re-applies the mount point's own mode over a tmpfs when the point existed before).
pub fn prepare_with_mode(
    rootfs: &Path,
    dest: &str,
    kind: TargetKind,
    mode: Option<u32>,
) -> Result<String> {
    if !dest.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    let root = Root::open(rootfs).map_err(Error::pathrs(format!(
        "opening the container root {}",
        rootfs.display()
    )))?;
    let handle = match root.resolve(dest) {
        Ok(h) => h,
        Err(_) => match kind {
            TargetKind::Directory => {
                let h = root
                    .mkdir_all(dest, &std::fs::Permissions::from_mode(0o755))
                    .map_err(Error::pathrs(format!("creating mount point {dest}")))?;
                if let Some(mode) = mode {
                    let dir = h
                        .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
                        .map_err(Error::pathrs(format!("opening mount point {dest}")))?;
                    dir.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(Error::io(format!("chmod of mount point {dest}")))?;
                }
                h
            }
            TargetKind::File => {
                let p = Path::new(dest);
                let parent = p.parent().unwrap_or(Path::new("/"));
                root.mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
                    .map_err(Error::pathrs(format!("creating mount point {dest}")))?;
                match root.create(p, &InodeType::File(std::fs::Permissions::from_mode(0o644))) {
                    Ok(()) => {}
                    // Created meanwhile (or a dangling symlink we will not follow out).
                    Err(e) if e.kind() == pathrs::error::ErrorKind::OsError(Some(libc::EEXIST)) => {
                    }
                    Err(e) => return Err(Error::pathrs(format!("creating mount point {dest}"))(e)),
                }
                root.resolve(p)
                    .map_err(Error::pathrs(format!("resolving mount point {dest}")))?
            }
        },
    };
    let dir = is_dir(handle.as_fd())?;
    match (kind, dir) {
        (TargetKind::Directory, false) => {
            return Err(Error::Invalid(format!(
                "cannot mount a directory onto {dest}: it is not a directory in the container"
            )))
        }
        (TargetKind::File, true) => {
            return Err(Error::Invalid(format!(
                "cannot mount a file onto {dest}: it is a directory in the container"
            )))
        }
        _ => {}
    }
    // Where the handle really is, as the kernel names it.
    let real = std::fs::read_link(format!("/proc/self/fd/{}", handle.as_fd().as_raw_fd()))
        .map_err(Error::io(format!("resolving mount point {dest}")))?;
    let root_real = std::fs::read_link(format!("/proc/self/fd/{}", root.as_fd().as_raw_fd()))
        .map_err(Error::io("resolving the container root"))?;
    let inside = real.strip_prefix(&root_real).map_err(|_| {
        Error::Invalid(format!(
            "mount point {dest} resolves outside of the container root"
        ))
    })?;
    Ok(Path::new("/").join(inside).to_string_lossy().into_owned())
}

/// Opens `path` inside `rootfs` (resolved in the root) as a directory, for copy-up. `None`
/// when it does not exist or is not a directory.
pub fn open_dir_in_root(rootfs: &Path, path: &str) -> Result<Option<std::fs::File>> {
    let root = Root::open(rootfs).map_err(Error::pathrs(format!(
        "opening the container root {}",
        rootfs.display()
    )))?;
    let Ok(h) = root.resolve(path) else {
        return Ok(None);
    };
    if !is_dir(h.as_fd())? {
        return Ok(None);
    }
    let f = h
        .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
        .map_err(Error::pathrs(format!("opening {path} in the image")))?;
    Ok(Some(f))
}

/// Cleans an absolute container path as Go's `filepath.Clean` does (`//a/./b/../c` → `/a/c`).
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    let mut out = PathBuf::from("/");
    for x in parts {
        out.push(x);
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_directories_and_files() {
        let r = tempfile::tempdir().unwrap();
        assert_eq!(
            prepare(r.path(), "/a/b", TargetKind::Directory).unwrap(),
            "/a/b"
        );
        assert!(r.path().join("a/b").is_dir());
        assert_eq!(
            prepare(r.path(), "/etc/conf.txt", TargetKind::File).unwrap(),
            "/etc/conf.txt"
        );
        assert!(r.path().join("etc/conf.txt").is_file());
        assert!(prepare(r.path(), "/a/b", TargetKind::File).is_err());
        assert!(prepare(r.path(), "/etc/conf.txt", TargetKind::Directory).is_err());
    }

    #[test]
    fn symlinks_never_lead_out_of_the_root() {
        let host = tempfile::tempdir().unwrap();
        let r = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), r.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../..", r.path().join("up")).unwrap();
        // Through a dangling absolute symlink: created inside the root, or refused; never on
        // the host.
        let res = prepare(r.path(), "/abs/x", TargetKind::Directory);
        assert!(!host.path().join("x").exists(), "created on the host");
        if let Ok(got) = res {
            assert_eq!(got, host.path().join("x").to_string_lossy());
        }
        // Through a symlink to an existing directory of the root: followed inside it.
        std::fs::create_dir_all(r.path().join(host.path().strip_prefix("/").unwrap())).unwrap();
        let got = prepare(r.path(), "/abs/x", TargetKind::Directory).unwrap();
        assert_eq!(got, host.path().join("x").to_string_lossy());
        assert!(!host.path().join("x").exists(), "created on the host");
        assert!(r
            .path()
            .join(host.path().strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
        let got = prepare(r.path(), "/up/y", TargetKind::Directory).unwrap();
        assert_eq!(got, "/y");
        assert!(r.path().join("y").is_dir());
    }

    #[test]
    fn clean_is_go_clean() {
        assert_eq!(clean("//a/./b/../c/"), "/a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("/"), "/");
    }
}
