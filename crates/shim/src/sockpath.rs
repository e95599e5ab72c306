//! Unix socket paths longer than `sun_path` (108 bytes) — state dirs under a deep root easily
//! are — reached through `/proc/self/fd/<dir fd>/<name>`, which the kernel resolves like any
//! path, so the address stays short.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Room in `sun_path` minus the terminating NUL.
const MAX_SUN_PATH: usize = 107;

/// A path usable as a socket address, with the directory fd that keeps it valid.
pub(crate) struct SockAddrPath {
    pub(crate) path: PathBuf,
    _dir: Option<OwnedFd>,
}

/// The address to bind or connect for `path`.
pub(crate) fn short_path(path: &Path) -> std::io::Result<SockAddrPath> {
    if path.as_os_str().len() <= MAX_SUN_PATH {
        return Ok(SockAddrPath {
            path: path.to_path_buf(),
            _dir: None,
        });
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("socket path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("socket path has no name"))?;
    let fd: OwnedFd = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(|raw| unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) })?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())).join(name);
    Ok(SockAddrPath {
        path: short,
        _dir: Some(fd),
    })
}
