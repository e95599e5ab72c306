//! CVE-2019-5736: a container process must not be able to overwrite the host's `berth`
//! binary through `/proc/<pid>/exe` of a shim or of a process the shim forks into the
//! container (an exec before its `execve`, the init before it runs the command).
//!
//! Shims are therefore started from a read-only view of the binary: a bind mount of it with
//! `MS_RDONLY` in the data root (`berth-shim.exe`; the exec root holds only per-container
//! state, which a restart after a crash must find empty of mounts). Every descriptor reached through their `/proc/<pid>/exe`
//! belongs to that mount, so a reopen for writing fails with `EROFS` even after every berth
//! process has exited (when `ETXTBSY` no longer protects the file). runc takes the same
//! approach (a read-only bind or overlay, a sealed memfd as the fallback); where the bind
//! cannot be made, a sealed memfd copy is used instead.
//!
//! A bind left by an earlier daemon (running shims still use it) is detached, not unmounted
//! under them, and replaced, so an upgraded binary is what new shims run.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// The binary shims are started from, and what keeps it valid.
pub struct ShimExe {
    pub path: PathBuf,
    /// The sealed memfd, when that fallback is in use (the path is `/proc/<pid>/fd/<n>`).
    _memfd: Option<OwnedFd>,
}

/// Name of the read-only bind in the data root.
const BIND_NAME: &str = "berth-shim.exe";

/// Prepares the protected binary for `exe` (see the module docs).
pub fn protect(exe: &Path, data_root: &Path) -> Result<ShimExe> {
    match read_only_bind(exe, data_root) {
        Ok(path) => Ok(ShimExe { path, _memfd: None }),
        Err(bind_err) => {
            let fd = sealed_copy(exe).map_err(|e| {
                Error::Internal(format!(
                    "protecting the berth binary (CVE-2019-5736): read-only bind: {bind_err}; sealed copy: {e}"
                ))
            })?;
            tracing::warn!(
                "read-only bind of {} failed ({bind_err}); shims run from a sealed copy",
                exe.display()
            );
            Ok(ShimExe {
                path: PathBuf::from(format!(
                    "/proc/{}/fd/{}",
                    std::process::id(),
                    fd.as_raw_fd()
                )),
                _memfd: Some(fd),
            })
        }
    }
}

fn read_only_bind(exe: &Path, dir: &Path) -> std::result::Result<PathBuf, String> {
    let target = dir.join(BIND_NAME);
    // A bind from an earlier daemon: detach it (shims started from it keep it alive).
    while umount2(&target, MntFlags::MNT_DETACH).is_ok() {}
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o500)
            .custom_flags(libc::O_CLOEXEC)
            .open(&target)
            .map_err(|e| format!("creating {}: {e}", target.display()))?;
    }
    mount(
        Some(exe),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("bind {} on {}: {e}", exe.display(), target.display()))?;
    let ro = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    if let Err(e) = mount(None::<&str>, &target, None::<&str>, ro, None::<&str>) {
        let _ = umount2(&target, MntFlags::MNT_DETACH);
        return Err(format!("remount {} read-only: {e}", target.display()));
    }
    Ok(target)
}

impl ShimExe {
    /// Detaches the read-only bind at daemon shutdown; running shims keep it alive for
    /// themselves (a detached mount lives while it is in use).
    pub fn release(&self) {
        if self._memfd.is_none() {
            let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        }
    }
}

/// A `memfd` holding a copy of `exe`, sealed against any change.
fn sealed_copy(exe: &Path) -> std::io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let name = c"berth-shim";
    let fd = memfd_create(
        name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(std::io::Error::from)?;
    let mut file = std::fs::File::from(fd);
    let mut src = std::fs::File::open(exe)?;
    std::io::copy(&mut src, &mut file)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(std::io::Error::from)?;
    Ok(file.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_refuses_writes() {
        let fd = sealed_copy(Path::new("/proc/self/exe")).unwrap();
        use std::io::Write;
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let refused = match std::fs::OpenOptions::new().write(true).open(&path) {
            Err(e) => e,
            Ok(mut f) => f.write_all(b"pwned").unwrap_err(),
        };
        assert_eq!(refused.raw_os_error(), Some(libc::EPERM), "{refused}");
    }
}
