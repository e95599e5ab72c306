//! Destinations of file bind mounts inside an untrusted rootfs (CVE-2021-30465). An image may
//! make `/etc/hosts` a symlink to anywhere; the path is resolved as the container would see it
//! (RESOLVE_IN_ROOT: `..` and absolute links stop at the root), and a missing target is created
//! inside the root, as runc does. The result is a plain in-root path without symlinks, so the
//! runtime mounts onto a file of the container and never onto the host.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::RuntimeError;

/// How many symlinks a destination may pass through (Linux's own limit).
const MAX_LINKS: usize = 40;

fn pathrs_err(what: String, e: pathrs::error::Error) -> RuntimeError {
    RuntimeError::io(what, std::io::Error::other(e.to_string()))
}

/// The in-root path that a file bind mount at `dest` lands on, created (empty, 0644) when
/// missing. `rootfs` is the mounted root; `dest` is absolute.
pub fn resolve_file_target(rootfs: &Path, dest: &str) -> Result<String, RuntimeError> {
    if !dest.starts_with('/') {
        return Err(RuntimeError::InvalidSpec(format!(
            "mount destination must be an absolute path: {dest:?}"
        )));
    }
    let root = pathrs::Root::open(rootfs)
        .map_err(|e| pathrs_err(format!("open rootfs {}", rootfs.display()), e))?;
    let mut path = normalize(Path::new(dest));
    for _ in 0..MAX_LINKS {
        // The parent resolves inside the root; only the last component may be a link we follow
        // by hand (pathrs follows every intermediate one in the root already).
        let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let Some(name) = path.file_name().map(|n| n.to_owned()) else {
            return Err(RuntimeError::InvalidSpec(format!(
                "mount destination {dest:?} resolves to the root"
            )));
        };
        root.mkdir_all(&parent, &std::fs::Permissions::from_mode(0o755))
            .map_err(|e| pathrs_err(format!("create {} in the rootfs", parent.display()), e))?;
        let dir = root
            .resolve(&parent)
            .map_err(|e| pathrs_err(format!("open {} in the rootfs", parent.display()), e))?;
        let real_parent = in_root_path(rootfs, dir.as_fd().as_raw_fd())?;
        let real = real_parent.join(&name);
        match root.resolve_nofollow(&real) {
            Ok(h) => {
                let fd = h.as_fd().as_raw_fd();
                let st = nix::sys::stat::fstat(fd)
                    .map_err(|e| RuntimeError::io(format!("stat {}", real.display()), e.into()))?;
                if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    let target = nix::fcntl::readlinkat(Some(fd), "").map_err(|e| {
                        RuntimeError::io(format!("readlink {}", real.display()), e.into())
                    })?;
                    let target = Path::new(&target);
                    path = normalize(&if target.is_absolute() {
                        target.to_path_buf()
                    } else {
                        real_parent.join(target)
                    });
                    continue;
                }
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    return Err(RuntimeError::InvalidSpec(format!(
                        "cannot mount a file on {dest:?}: it is a directory in the image"
                    )));
                }
                return Ok(real.to_string_lossy().into_owned());
            }
            Err(_) => {
                root.create_file(
                    &real,
                    pathrs::flags::OpenFlags::O_WRONLY | pathrs::flags::OpenFlags::O_CLOEXEC,
                    &std::fs::Permissions::from_mode(0o644),
                )
                .map_err(|e| pathrs_err(format!("create {} in the rootfs", real.display()), e))?;
                return Ok(real.to_string_lossy().into_owned());
            }
        }
    }
    Err(RuntimeError::InvalidSpec(format!(
        "mount destination {dest:?}: too many levels of symbolic links"
    )))
}

/// `..` and `.` removed lexically, never above `/` (the container's view of its root).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The path inside `rootfs` of an fd that pathrs resolved within it.
fn in_root_path(rootfs: &Path, fd: i32) -> Result<PathBuf, RuntimeError> {
    let host = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|e| RuntimeError::io("readlink of a rootfs handle", e))?;
    let root = std::fs::canonicalize(rootfs)
        .map_err(|e| RuntimeError::io(format!("canonicalize {}", rootfs.display()), e))?;
    let rel = host.strip_prefix(&root).map_err(|_| {
        RuntimeError::InvalidSpec(format!("{} resolved outside the rootfs", host.display()))
    })?;
    Ok(Path::new("/").join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn escaping_links_land_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        symlink(
            format!("../../../../../../..{}", victim.display()),
            r.join("etc/hosts"),
        )
        .unwrap();
        symlink("/proc/self/root/etc/passwd-escape", r.join("etc/hostname")).unwrap();
        std::fs::write(r.join("etc/resolv.conf"), "x").unwrap();

        let got = resolve_file_target(r, "/etc/hosts").unwrap();
        assert_eq!(got, victim.to_string_lossy());
        assert!(r.join(got.trim_start_matches('/')).is_file());
        assert!(!victim.exists(), "a file was created on the host");

        let got = resolve_file_target(r, "/etc/hostname").unwrap();
        assert!(r.join(got.trim_start_matches('/')).is_file(), "{got}");
        assert_eq!(
            resolve_file_target(r, "/etc/resolv.conf").unwrap(),
            "/etc/resolv.conf"
        );
        std::fs::create_dir_all(r.join("dir")).unwrap();
        assert!(resolve_file_target(r, "/dir").is_err());
        symlink("loop", r.join("loop")).unwrap();
        assert!(resolve_file_target(r, "/loop").is_err());
    }
}
