//! Mount descriptions and the one place in Berth that mounts them.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One mount, as containerd describes it: `type`, `source`, `options` (mount(8)-style).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    /// Where under the mount_all target this goes; `None` means the target itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub options: Vec<String>,
}

// The new mount API (Linux 5.2; `lowerdir+` since 6.8), which libc does not name.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// Mounts `mounts` in order onto `target`. If one fails, those already mounted are unmounted.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    let mut done: Vec<PathBuf> = Vec::new();
    for m in mounts {
        let dest = match &m.target {
            Some(t) => target.join(t.trim_start_matches('/')),
            None => target.to_path_buf(),
        };
        if let Err(e) = mount_one(m, &dest) {
            for d in done.iter().rev() {
                let _ = unmount(d);
            }
            return Err(e);
        }
        done.push(dest);
    }
    Ok(())
}

/// Unmounts `target`; lazily if it is busy. A target with nothing mounted is not an error.
pub fn unmount(target: &Path) -> Result<()> {
    let t = cpath(target)?;
    // SAFETY: NUL-terminated path.
    if unsafe { libc::umount2(t.as_ptr(), libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            // SAFETY: NUL-terminated path.
            if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } == 0 {
                Ok(())
            } else {
                Err(mount_err("umount", target, io::Error::last_os_error()))
            }
        }
        _ => Err(mount_err("umount", target, e)),
    }
}

fn mount_err(what: &str, target: &Path, source: io::Error) -> Error {
    Error::Mount {
        what: what.to_string(),
        target: target.display().to_string(),
        source,
    }
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| mount_err("path", p, io::Error::from(io::ErrorKind::InvalidInput)))
}

fn cstr(s: &str, target: &Path) -> Result<CString> {
    CString::new(s).map_err(|_| mount_err(s, target, io::Error::from(io::ErrorKind::InvalidInput)))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

fn mount_one(m: &Mount, dest: &Path) -> Result<()> {
    let mut flags: libc::c_ulong = 0;
    let mut data: Vec<&str> = Vec::new();
    for o in &m.options {
        match o.as_str() {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            other => data.push(other),
        }
    }
    let target = cpath(dest)?;
    if m.kind == "bind" || flags & libc::MS_BIND != 0 {
        let src = cstr(&m.source, dest)?;
        let bind = libc::MS_BIND | (flags & libc::MS_REC);
        // SAFETY: NUL-terminated strings; null fstype and data are allowed for bind mounts.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                bind,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(mount_err(
                &format!("bind {}", m.source),
                dest,
                io::Error::last_os_error(),
            ));
        }
        let extra = flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
        if extra != 0 {
            // Bind mounts ignore these flags until remounted.
            // SAFETY: as above.
            let rc = unsafe {
                libc::mount(
                    std::ptr::null(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_BIND | extra,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                let e = io::Error::last_os_error();
                let _ = unmount(dest);
                return Err(mount_err("remount bind", dest, e));
            }
        }
        return Ok(());
    }
    let joined = data.join(",");
    // mount(2) takes at most one page of options; long lowerdir lists go through fsconfig.
    if joined.len() + 1 >= page_size() {
        return mount_with_fsconfig(m, &data, flags, dest);
    }
    let (src, fstype, opts) = (
        cstr(&m.source, dest)?,
        cstr(&m.kind, dest)?,
        cstr(&joined, dest)?,
    );
    // SAFETY: NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            opts.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(mount_err(&m.kind, dest, io::Error::last_os_error()));
    }
    Ok(())
}

fn mount_with_fsconfig(m: &Mount, data: &[&str], flags: libc::c_ulong, dest: &Path) -> Result<()> {
    let err = |what: &str| {
        mount_err(
            &format!("{} ({what})", m.kind),
            dest,
            io::Error::last_os_error(),
        )
    };
    let fstype = cstr(&m.kind, dest)?;
    // SAFETY: NUL-terminated name; the returned fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(err("fsopen"));
    }
    // SAFETY: fsopen returned a fresh descriptor.
    let fs = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let set = |key: &str, value: Option<&str>| -> Result<()> {
        let k = cstr(key, dest)?;
        let v = value.map(|v| cstr(v, dest)).transpose()?;
        let (cmd, vptr): (libc::c_uint, *const libc::c_char) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: valid fd and NUL-terminated strings (or null for a flag).
        let rc =
            unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k.as_ptr(), vptr, 0) };
        if rc < 0 {
            return Err(err(key));
        }
        Ok(())
    };
    for opt in data {
        match opt.split_once('=') {
            Some(("lowerdir", dirs)) => {
                for d in dirs.split(':') {
                    set("lowerdir+", Some(d))?;
                }
            }
            Some((k, v)) => set(k, Some(v))?,
            None => set(opt, None)?,
        }
    }
    // SAFETY: valid fd; null key and value for the create command.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if rc < 0 {
        return Err(err("create"));
    }
    let attrs = if flags & libc::MS_RDONLY != 0 {
        MOUNT_ATTR_RDONLY
    } else {
        0
    };
    // SAFETY: valid fd.
    let mfd = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mfd < 0 {
        return Err(err("fsmount"));
    }
    // SAFETY: fsmount returned a fresh descriptor.
    let mnt = unsafe { OwnedFd::from_raw_fd(mfd as i32) };
    let target = cpath(dest)?;
    let empty: &CStr = c"";
    // SAFETY: valid fds and NUL-terminated paths.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(err("move_mount"));
    }
    Ok(())
}
