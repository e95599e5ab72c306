//! The container's working directory, created inside the rootfs when the image lacks it (as
//! Docker does before start), owned by the container's user. Resolved with RESOLVE_IN_ROOT
//! semantics: a symlink in the image can never make us create or chown a host path.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::RuntimeError;

fn pathrs_err(what: String, e: pathrs::error::Error) -> RuntimeError {
    RuntimeError::io(what, std::io::Error::other(e.to_string()))
}

/// Make sure `cwd` (absolute, inside the container) exists as a directory under `rootfs`. Each
/// directory created is mode 0755 and owned by `uid:gid`; existing ones are left alone.
pub fn ensure_workdir(rootfs: &Path, cwd: &str, uid: u32, gid: u32) -> Result<(), RuntimeError> {
    if !cwd.starts_with('/') {
        return Err(RuntimeError::InvalidSpec(format!(
            "the working directory {cwd:?} is invalid, it needs to be an absolute path"
        )));
    }
    let root = pathrs::Root::open(rootfs)
        .map_err(|e| pathrs_err(format!("open rootfs {}", rootfs.display()), e))?;
    // Which prefixes are missing now: those are the directories we create and chown.
    let mut missing = Vec::new();
    let mut cur = PathBuf::from("/");
    for comp in Path::new(cwd).components() {
        match comp {
            Component::Normal(name) => cur.push(name),
            // `..` is resolved inside the root by pathrs; keep it literal.
            Component::ParentDir => cur.push(".."),
            _ => continue,
        }
        match root.resolve(&cur) {
            Ok(h) => {
                let st = nix::sys::stat::fstat(h.as_fd().as_raw_fd())
                    .map_err(|e| RuntimeError::io(format!("stat {}", cur.display()), e.into()))?;
                if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    return Err(RuntimeError::InvalidSpec(format!(
                        "the working directory {cwd:?} is not a directory in the image"
                    )));
                }
            }
            Err(_) => missing.push(cur.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    root.mkdir_all(cwd, &std::fs::Permissions::from_mode(0o755))
        .map_err(|e| pathrs_err(format!("create {cwd} in the rootfs"), e))?;
    for p in missing {
        let h = root
            .resolve(&p)
            .map_err(|e| pathrs_err(format!("open {}", p.display()), e))?;
        // SAFETY: fchownat on an O_PATH fd we own, with AT_EMPTY_PATH and an empty path.
        let r = unsafe {
            libc::fchownat(
                h.as_fd().as_raw_fd(),
                c"".as_ptr(),
                uid,
                gid,
                libc::AT_EMPTY_PATH,
            )
        };
        if r != 0 {
            return Err(RuntimeError::io(
                format!("chown {}", p.display()),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn creates_missing_dirs_owned_by_the_user() {
        let r = tempfile::tempdir().unwrap();
        std::fs::create_dir(r.path().join("srv")).unwrap();
        ensure_workdir(r.path(), "/srv/app/data", 1234, 5678).unwrap();
        let md = std::fs::metadata(r.path().join("srv/app/data")).unwrap();
        assert!(md.is_dir());
        assert_eq!((md.uid(), md.gid()), (1234, 5678));
        assert_eq!(md.mode() & 0o777, 0o755);
        // Existing directories keep their owner.
        assert_eq!(std::fs::metadata(r.path().join("srv")).unwrap().uid(), 0);
        ensure_workdir(r.path(), "/srv/app/data", 1, 1).unwrap();
        assert_eq!(
            std::fs::metadata(r.path().join("srv/app/data"))
                .unwrap()
                .uid(),
            1234
        );
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let r = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), r.path().join("escape")).unwrap();
        // Either created inside the root (following the symlink there) or refused: never on
        // the host.
        let res = ensure_workdir(r.path(), "/escape/made", 0, 0);
        assert!(!host.path().join("made").exists());
        if res.is_ok() {
            assert!(r
                .path()
                .join(host.path().strip_prefix("/").unwrap())
                .join("made")
                .is_dir());
        }
    }

    #[test]
    fn refuses_files_and_relative_paths() {
        let r = tempfile::tempdir().unwrap();
        std::fs::write(r.path().join("f"), "").unwrap();
        assert!(ensure_workdir(r.path(), "/f", 0, 0).is_err());
        assert!(ensure_workdir(r.path(), "rel", 0, 0).is_err());
    }
}
