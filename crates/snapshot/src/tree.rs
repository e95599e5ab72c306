//! Tree walks over snapshot directories. [`copy_tree`] is a faithful copy for the native
//! snapshotter: owners, modes (set-id bits included), mtimes, extended attributes, hard links,
//! symlinks, devices and FIFOs. Symlinks are copied as
//! links and never followed; the source is only descended through real directories.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Copies the contents of directory `src` into the existing directory `dst`.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let meta = fs::symlink_metadata(src).map_err(Error::io("lstat", src))?;
    apply_meta(src, dst, &meta, false)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    for entry in fs::read_dir(src).map_err(Error::io("read dir", src))? {
        let entry = entry.map_err(Error::io("read dir", src))?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let meta = fs::symlink_metadata(&s).map_err(Error::io("lstat", &s))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&d).map_err(Error::io("mkdir", &d))?;
            copy_dir_contents(&s, &d, links)?;
            apply_meta(&s, &d, &meta, false)?;
            continue;
        }
        if meta.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &d).map_err(Error::io("link", &d))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), d.clone());
        }
        if ft.is_symlink() {
            let t = fs::read_link(&s).map_err(Error::io("readlink", &s))?;
            symlink(&t, &d).map_err(Error::io("symlink", &d))?;
            apply_meta(&s, &d, &meta, true)?;
        } else if ft.is_file() {
            fs::copy(&s, &d).map_err(Error::io("copy", &d))?;
            apply_meta(&s, &d, &meta, false)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() || ft.is_socket() {
            let c = cpath(&d)?;
            // SAFETY: NUL-terminated path.
            let rc = unsafe { libc::mknod(c.as_ptr(), meta.mode() as libc::mode_t, meta.rdev()) };
            if rc != 0 {
                return Err(Error::io("mknod", &d)(io::Error::last_os_error()));
            }
            apply_meta(&s, &d, &meta, false)?;
        }
    }
    Ok(())
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::io("path", p)(io::Error::from(io::ErrorKind::InvalidInput)))
}

fn apply_meta(src: &Path, dst: &Path, meta: &fs::Metadata, is_link: bool) -> Result<()> {
    let c = cpath(dst)?;
    copy_xattrs(src, &c, dst)?;
    // SAFETY: NUL-terminated path.
    if unsafe { libc::lchown(c.as_ptr(), meta.uid(), meta.gid()) } != 0 {
        return Err(Error::io("chown", dst)(io::Error::last_os_error()));
    }
    if !is_link {
        // After chown, which clears set-id bits.
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(Error::io("chmod", dst))?;
    }
    let ts = |s: i64, ns: i64| libc::timespec {
        tv_sec: s as libc::time_t,
        tv_nsec: ns as _,
    };
    let times = [
        ts(meta.atime(), meta.atime_nsec()),
        ts(meta.mtime(), meta.mtime_nsec()),
    ];
    // SAFETY: NUL-terminated path and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(Error::io("utimens", dst)(io::Error::last_os_error()));
    }
    Ok(())
}

fn copy_xattrs(src: &Path, dst_c: &CString, dst: &Path) -> Result<()> {
    let s = cpath(src)?;
    let mut names = vec![0u8; 4096];
    // SAFETY: NUL-terminated path and a buffer with its length.
    let n = unsafe { libc::llistxattr(s.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Ok(()); // none, or unsupported
    }
    names.truncate(n as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(key) = CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 65536];
        // SAFETY: NUL-terminated strings and a buffer with its length.
        let n = unsafe {
            libc::lgetxattr(s.as_ptr(), key.as_ptr(), val.as_mut_ptr().cast(), val.len())
        };
        if n < 0 {
            continue;
        }
        // SAFETY: as above.
        let rc = unsafe {
            libc::lsetxattr(
                dst_c.as_ptr(),
                key.as_ptr(),
                val.as_ptr().cast(),
                n as usize,
                0,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) {
                return Err(Error::io("setxattr", dst)(e));
            }
        }
    }
    Ok(())
}

/// Apparent size of the tree under `path`: bytes of regular files and symlinks, each inode
/// counted once.
pub fn disk_usage(path: &Path) -> Result<u64> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(Error::io("read dir", &dir))? {
            let entry = entry.map_err(Error::io("read dir", &dir))?;
            let meta = entry.metadata().map_err(Error::io("lstat", entry.path()))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if (meta.is_file() || meta.file_type().is_symlink())
                && seen.insert((meta.dev(), meta.ino()))
            {
                total += meta.len();
            }
        }
    }
    Ok(total)
}
