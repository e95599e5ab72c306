//! Copy-up: a new, empty volume is first filled with what the image has at the mount's path,
//! keeping owners, modes and times (Docker's behaviour; `nocopy` skips it).
//!
//! Both sides are walked fd-relatively: the source directory is opened inside the container
//! root with `RESOLVE_IN_ROOT` semantics, and every entry below it is opened with
//! `O_NOFOLLOW` relative to its parent's fd, so a symlink in the image is copied as a symlink
//! and never followed; entries in the volume are created with `O_EXCL`/`*at` calls relative to
//! the volume's own fds. Extended attributes are not copied; hard links become separate files.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

fn cstr(name: &OsStr) -> Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| Error::Invalid("file name with a NUL byte".into()))
}

fn last_err(what: &str, name: &OsStr) -> Error {
    Error::io(format!("copy-up: {what} {}", name.to_string_lossy()))(std::io::Error::last_os_error())
}

fn openat(dir: RawFd, name: &CString, flags: i32, mode: u32) -> Option<OwnedFd> {
    // SAFETY: plain syscall on a valid fd and NUL-terminated name; the result is owned here.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    // SAFETY: `fd` is a new descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstatat(dir: RawFd, name: &CString) -> Option<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is written by the kernel on success.
    let r = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    // SAFETY: initialised on success.
    (r == 0).then(|| unsafe { st.assume_init() })
}

/// Applies owner, then mode (chown clears set-id bits), then times to `fd`.
fn set_meta(fd: RawFd, st: &libc::stat) {
    // SAFETY: syscalls on a valid fd.
    unsafe {
        libc::fchown(fd, st.st_uid, st.st_gid);
        libc::fchmod(fd, st.st_mode & 0o7777);
        let times = [
            libc::timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec,
            },
            libc::timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec,
            },
        ];
        libc::futimens(fd, times.as_ptr());
    }
}

fn is_empty_dir(fd: RawFd) -> Result<bool> {
    let mut rd = std::fs::read_dir(format!("/proc/self/fd/{fd}"))
        .map_err(Error::io("copy-up: reading the volume"))?;
    Ok(rd.next().is_none())
}

/// Copies the image's content at `path` (inside `rootfs`) into `volume_data` when the volume
/// is empty. Returns whether anything was copied.
pub fn copy_up(rootfs: &Path, path: &str, volume_data: &Path) -> Result<bool> {
    let Some(src) = crate::target::open_dir_in_root(rootfs, path)? else {
        return Ok(false);
    };
    let dst_name = CString::new(volume_data.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid("volume path with a NUL byte".into()))?;
    let dst = openat(
        libc::AT_FDCWD,
        &dst_name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
    .ok_or_else(|| last_err("opening", volume_data.as_os_str()))?;
    if !is_empty_dir(dst.as_raw_fd())? {
        return Ok(false);
    }
    copy_dir(src.as_raw_fd(), dst.as_raw_fd())?;
    // The volume's root takes the owner and mode of the image's directory.
    // SAFETY: fstat on a valid fd.
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    if unsafe { libc::fstat(src.as_raw_fd(), st.as_mut_ptr()) } == 0 {
        // SAFETY: initialised on success.
        let st = unsafe { st.assume_init() };
        set_meta(dst.as_raw_fd(), &st);
    }
    drop(src);
    Ok(true)
}

fn copy_dir(src: RawFd, dst: RawFd) -> Result<()> {
    let entries: Vec<std::ffi::OsString> = std::fs::read_dir(format!("/proc/self/fd/{src}"))
        .map_err(Error::io("copy-up: reading the image directory"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    for name in entries {
        let c = cstr(&name)?;
        let Some(st) = fstatat(src, &c) else {
            continue;
        };
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                // SAFETY: mkdirat on a valid fd and name.
                if unsafe { libc::mkdirat(dst, c.as_ptr(), 0o700) } != 0 {
                    return Err(last_err("creating directory", &name));
                }
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let s = openat(src, &c, flags, 0).ok_or_else(|| last_err("opening", &name))?;
                let d = openat(dst, &c, flags, 0).ok_or_else(|| last_err("opening", &name))?;
                copy_dir(s.as_raw_fd(), d.as_raw_fd())?;
                set_meta(d.as_raw_fd(), &st);
            }
            libc::S_IFREG => {
                let s = openat(src, &c, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
                    .ok_or_else(|| last_err("opening", &name))?;
                let d = openat(
                    dst,
                    &c,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .ok_or_else(|| last_err("creating", &name))?;
                let mut sf = File::from(s);
                let mut df = File::from(d);
                std::io::copy(&mut sf, &mut df).map_err(Error::io(format!(
                    "copy-up: copying {}",
                    name.to_string_lossy()
                )))?;
                set_meta(df.as_raw_fd(), &st);
            }
            libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: readlinkat into a buffer of the given size.
                let n = unsafe {
                    libc::readlinkat(src, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    return Err(last_err("reading link", &name));
                }
                buf.truncate(n as usize);
                let target = CString::new(buf)
                    .map_err(|_| Error::Invalid("link target with a NUL byte".into()))?;
                // SAFETY: symlinkat/fchownat on valid fds and names.
                unsafe {
                    if libc::symlinkat(target.as_ptr(), dst, c.as_ptr()) != 0 {
                        return Err(last_err("creating link", &name));
                    }
                    libc::fchownat(
                        dst,
                        c.as_ptr(),
                        st.st_uid,
                        st.st_gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    );
                }
            }
            _ => {
                // FIFOs, sockets, device nodes: recreated as nodes.
                // SAFETY: mknodat/fchownat/fchmodat on valid fds and names.
                unsafe {
                    if libc::mknodat(dst, c.as_ptr(), st.st_mode, st.st_rdev) != 0 {
                        return Err(last_err("creating node", &name));
                    }
                    libc::fchownat(
                        dst,
                        c.as_ptr(),
                        st.st_uid,
                        st.st_gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    );
                    libc::fchmodat(dst, c.as_ptr(), st.st_mode & 0o7777, 0);
                }
            }
        }
    }
    Ok(())
}

/// Makes the root of a volume owned by `uid:gid` (the `chown` / `:U` option).
pub fn chown_root(volume_data: &Path, uid: u32, gid: u32) -> Result<()> {
    let name = CString::new(volume_data.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid("volume path with a NUL byte".into()))?;
    let fd = openat(
        libc::AT_FDCWD,
        &name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
    .ok_or_else(|| last_err("opening", volume_data.as_os_str()))?;
    // SAFETY: fchown on a valid fd.
    if unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) } != 0 {
        return Err(last_err("chown", volume_data.as_os_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_tree_with_owners_modes_and_links_without_following() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("srv/data");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "hello").unwrap();
        std::fs::set_permissions(d.join("sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(d.join("sub/f"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::chown(&d, Some(99), Some(98)).unwrap();
        std::os::unix::fs::symlink(host.path().join("secret"), d.join("link")).unwrap();
        let vol = tempfile::tempdir().unwrap();
        assert!(copy_up(root.path(), "/srv/data", vol.path()).unwrap());
        let f = vol.path().join("sub/f");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello");
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (1234, 4321, 0o640));
        let l = std::fs::read_link(vol.path().join("link")).unwrap();
        assert_eq!(l, host.path().join("secret"));
        assert_eq!(std::fs::metadata(vol.path()).unwrap().uid(), 99);
        // A second copy into a non-empty volume does nothing.
        assert!(!copy_up(root.path(), "/srv/data", vol.path()).unwrap());
        // A missing path copies nothing.
        let vol2 = tempfile::tempdir().unwrap();
        assert!(!copy_up(root.path(), "/nope", vol2.path()).unwrap());
    }

    #[test]
    fn a_symlinked_source_is_resolved_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), root.path().join("data")).unwrap();
        let vol = tempfile::tempdir().unwrap();
        copy_up(root.path(), "/data", vol.path()).unwrap();
        assert!(!vol.path().join("secret").exists(), "copied a host file");
    }
}
