//! Writing a directory as a layer tar (for export and commit). Overlay whiteouts in the
//! directory (0/0 character devices, opaque xattrs) are written back as `.wh.` entries, so the
//! upper directory of an overlay snapshot tars into a valid layer.

use std::collections::HashMap;
use std::ffi::{CStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use berth_types::idmap::IdMap;

use crate::error::{Error, Result};
use crate::sys;

const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

/// Writes the tree under `dir` (not following symlinks) as a tar stream to `out`, entries in
/// sorted order with paths relative to `dir`. Returns the writer.
pub fn tar_dir<W: Write>(dir: &Path, out: W) -> Result<W> {
    tar_dir_as(dir, out, None)
}

/// [`tar_dir`] with owners written as a user namespace with `map` sees them (commit and export
/// of a remapped daemon's containers: the layer holds the ids of the image's world).
pub fn tar_dir_as<W: Write>(dir: &Path, out: W, map: Option<&IdMap>) -> Result<W> {
    let mut b = tar::Builder::new(out);
    b.mode(HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut links = HashMap::new();
    walk(&mut b, dir, Path::new(""), &mut links, map)?;
    b.into_inner().map_err(Error::io("write tar", dir))
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    base: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    map: Option<&IdMap>,
) -> Result<()> {
    let full = base.join(rel);
    let mut names: Vec<OsString> = fs::read_dir(&full)
        .map_err(Error::io("read dir", &full))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io("read dir", &full))?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let p = base.join(&r);
        let meta = fs::symlink_metadata(&p).map_err(Error::io("lstat", &p))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the layer deletes `name`.
            let mut wh = OsString::from(".wh.");
            wh.push(&name);
            append_empty(b, &rel.join(wh), &meta, &p)?;
            continue;
        }
        let mut h = Header::new_gnu();
        h.set_metadata_in_mode(&meta, HeaderMode::Complete);
        let (uid, gid) = crate::copy::container_owner(map, meta.uid(), meta.gid());
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        append_xattrs(b, &r, &p)?;
        if ft.is_dir() {
            b.append_data(&mut h, &r, std::io::empty())
                .map_err(Error::io("write tar", &p))?;
            if sys::get_xattr_path(&p, OPAQUE_XATTR)
                .map_err(Error::io("getxattr", &p))?
                .as_deref()
                == Some(b"y")
            {
                append_empty(b, &r.join(".wh..wh..opq"), &meta, &p)?;
            }
            walk(b, base, &r, links, map)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).map_err(Error::io("readlink", &p))?;
            h.set_size(0);
            b.append_link(&mut h, &r, &target)
                .map_err(Error::io("write tar", &p))?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &r, first)
                        .map_err(Error::io("write tar", &p))?;
                    continue;
                }
                links.insert(key, r.clone());
            }
            let f = File::open(&p).map_err(Error::io("open", &p))?;
            b.append_data(&mut h, &r, f)
                .map_err(Error::io("write tar", &p))?;
        } else {
            // Devices and FIFOs: the header carries everything.
            if ft.is_char_device() || ft.is_block_device() {
                let rdev = meta.rdev();
                h.set_device_major(libc::major(rdev))
                    .map_err(Error::io("write tar", &p))?;
                h.set_device_minor(libc::minor(rdev))
                    .map_err(Error::io("write tar", &p))?;
            }
            h.set_size(0);
            b.append_data(&mut h, &r, std::io::empty())
                .map_err(Error::io("write tar", &p))?;
        }
    }
    Ok(())
}

/// Writes a PAX extended header carrying the entry's extended attributes (`SCHILY.xattr.*`, as
/// GNU tar and Docker write them), except overlayfs's own `trusted.overlay.*`, which describe
/// this snapshot rather than the files.
fn append_xattrs<W: Write>(b: &mut tar::Builder<W>, name: &Path, p: &Path) -> Result<()> {
    let mut data = Vec::new();
    for (k, v) in sys::list_xattrs_path(p).map_err(Error::io("listxattr", p))? {
        let k = k.as_bytes();
        if k.starts_with(b"trusted.overlay.") {
            continue;
        }
        let body_len = b" SCHILY.xattr.".len() + k.len() + 1 + v.len() + 1;
        // The record's length field counts its own digits.
        let mut len = body_len + 1;
        while len.to_string().len() + body_len != len {
            len = len.to_string().len() + body_len;
        }
        data.extend_from_slice(len.to_string().as_bytes());
        data.extend_from_slice(b" SCHILY.xattr.");
        data.extend_from_slice(k);
        data.push(b'=');
        data.extend_from_slice(&v);
        data.push(b'\n');
    }
    if data.is_empty() {
        return Ok(());
    }
    let mut h = Header::new_ustar();
    // The extended header's own name is informational; keep it short enough for ustar.
    let short: String = name
        .display()
        .to_string()
        .chars()
        .rev()
        .take(80)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    h.set_path(format!("PaxHeaders/{short}"))
        .map_err(Error::io("write tar", p))?;
    h.set_entry_type(EntryType::XHeader);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &data[..]).map_err(Error::io("write tar", p))
}

fn append_empty<W: Write>(
    b: &mut tar::Builder<W>,
    name: &Path,
    meta: &fs::Metadata,
    p: &Path,
) -> Result<()> {
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, name, std::io::empty())
        .map_err(Error::io("write tar", p))
}
