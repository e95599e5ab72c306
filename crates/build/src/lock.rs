//! Locks on cache-mount directories (`sharing=locked|private`) and other things a `RUN` holds
//! for its duration. `flock` on a file beside the data: released by the kernel if the daemon
//! dies, so a crash never leaves a cache locked.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::worker::MountedImage;

/// Something held until the step ends (only its `Drop` matters).
#[allow(dead_code)]
pub enum Held {
    Lock(File),
    Mount(Box<dyn MountedImage>),
}

fn open(dir: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(Error::io("opening a cache mount lock"))
}

/// Waits for the exclusive lock of cache directory `dir`.
pub async fn lock(dir: &Path) -> Result<Held> {
    let f = open(dir)?;
    tokio::task::spawn_blocking(move || {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("locking a cache mount")(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Held::Lock(f))
    })
    .await
    .map_err(|e| Error::Invalid(format!("lock task: {e}")))?
}

/// The lock of `dir` if it is free now.
pub fn try_lock(dir: &Path) -> Result<Option<Held>> {
    let f = open(dir)?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        return Err(Error::io("locking a cache mount")(e));
    }
    Ok(Some(Held::Lock(f)))
}
