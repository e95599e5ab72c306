//! `diff` and the layer `commit` makes: what a container changed in its root filesystem,
//! relative to its image, read from its snapshot.
//!
//! With the overlay snapshotter the container's upper directory *is* the change set (overlay
//! whiteouts are deletions); with the native one the container's full tree is compared with its
//! image's. Docker's "init layer" files (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`,
//! `/.dockerenv`, `/dev`, `/proc`, `/sys` mount points) are not changes, as in Docker.
//!
//! The snapshot's contents are the container's: nothing here follows a symlink in them (every
//! lookup is `lstat`, every open `O_NOFOLLOW`), and `commit` pauses a running container by
//! default so that the tree cannot change under the walk.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use berth_snapshot::LayerFormat;
use berth_types::api::{ChangeType, FilesystemChange};

use crate::error::{Error, Result};
use crate::ImageStore;

/// Paths the engine itself creates in every container (Docker keeps them in the init layer).
const INIT_FILES: &[&str] = &[
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/mtab",
    ".dockerenv",
];
const INIT_TREES: &[&str] = &["dev", "proc", "sys"];

/// One change, with what a layer tar needs to record it.
#[derive(Debug, Clone)]
struct Change {
    kind: ChangeType,
    /// Overlay: the directory hides everything below it in the image.
    opaque: bool,
}

/// Where a container's changes are read from.
struct Source {
    /// The container's writable directory (overlay: only changes; native: the whole tree).
    dir: PathBuf,
    /// The image's layers, topmost first (overlay), or the image's whole tree (native).
    lowers: Vec<PathBuf>,
    format: LayerFormat,
}

impl ImageStore {
    fn change_source(&self, container_id: &str) -> Result<Source> {
        let snaps = &self.snapshots;
        let dir = snaps.upper_dir(container_id)?;
        let format = snaps.layer_format();
        let lowers = match format {
            LayerFormat::OverlayDiff => snaps
                .driver_data(container_id)?
                .into_iter()
                .find(|(k, _)| k == "LowerDir")
                .map(|(_, v)| v.split(':').map(PathBuf::from).collect())
                .unwrap_or_default(),
            LayerFormat::Full => match snaps.stat(container_id)?.parent {
                Some(p) => snaps
                    .driver_data(&p)?
                    .into_iter()
                    .filter(|(k, _)| k == "Dir")
                    .map(|(_, v)| PathBuf::from(v))
                    .collect(),
                None => Vec::new(),
            },
        };
        Ok(Source {
            dir,
            lowers,
            format,
        })
    }

    /// `docker diff`: the container's changes, sorted by path.
    pub fn container_changes(&self, container_id: &str) -> Result<Vec<FilesystemChange>> {
        let src = self.change_source(container_id)?;
        Ok(changes(&src)?
            .into_iter()
            .map(|(p, c)| FilesystemChange {
                path: format!("/{}", p.display()),
                kind: c.kind,
            })
            .collect())
    }

    /// Writes the container's changes as a layer tar (deletions as `.wh.` entries, replaced
    /// directories with `.wh..wh..opq`) to `out`.
    pub fn container_changes_tar<W: Write>(&self, container_id: &str, out: W) -> Result<W> {
        let src = self.change_source(container_id)?;
        let changes = changes(&src)?;
        let io_err = |p: &Path| {
            let p = p.display().to_string();
            move |e: io::Error| Error::Io {
                op: format!("writing the change of {p}"),
                source: e,
            }
        };
        let mut b = tar::Builder::new(out);
        for (rel, c) in &changes {
            if c.kind == ChangeType::_2 {
                let mut name = OsString::from(".wh.");
                name.push(rel.file_name().unwrap_or_default());
                let wh = rel.parent().unwrap_or(Path::new("")).join(name);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                b.append_data(&mut h, &wh, io::empty())
                    .map_err(io_err(rel))?;
                continue;
            }
            let full = src.dir.join(rel);
            let meta = fs::symlink_metadata(&full).map_err(io_err(rel))?;
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
            if let Some(map) = &self.id_map {
                // A remapped daemon's layer holds the image world's ids, not the host's; an
                // unmapped owner is the overflow id, as seen inside.
                use std::os::unix::fs::MetadataExt;
                h.set_uid(map.container_uid(meta.uid()).unwrap_or(65534) as u64);
                h.set_gid(map.container_gid(meta.gid()).unwrap_or(65534) as u64);
            }
            let ft = meta.file_type();
            if ft.is_dir() {
                b.append_data(&mut h, rel, io::empty())
                    .map_err(io_err(rel))?;
                if c.opaque {
                    let mut o = tar::Header::new_gnu();
                    o.set_entry_type(tar::EntryType::Regular);
                    o.set_size(0);
                    o.set_mode(0o644);
                    b.append_data(&mut o, rel.join(".wh..wh..opq"), io::empty())
                        .map_err(io_err(rel))?;
                }
            } else if ft.is_symlink() {
                let target = fs::read_link(&full).map_err(io_err(rel))?;
                h.set_size(0);
                b.append_link(&mut h, rel, &target).map_err(io_err(rel))?;
            } else if ft.is_file() {
                // A hard link is written as a copy: its other names may not be changes.
                h.set_entry_type(tar::EntryType::Regular);
                let f = File::options()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&full)
                    .map_err(io_err(rel))?;
                b.append_data(&mut h, rel, f).map_err(io_err(rel))?;
            } else {
                if ft.is_char_device() || ft.is_block_device() {
                    let rdev = meta.rdev();
                    h.set_device_major(libc::major(rdev)).map_err(io_err(rel))?;
                    h.set_device_minor(libc::minor(rdev)).map_err(io_err(rel))?;
                }
                h.set_size(0);
                b.append_data(&mut h, rel, io::empty())
                    .map_err(io_err(rel))?;
            }
        }
        b.into_inner().map_err(io_err(Path::new("/")))
    }
}

/// The change set, by path relative to the root.
fn changes(src: &Source) -> Result<BTreeMap<PathBuf, Change>> {
    let mut out = BTreeMap::new();
    walk(src, Path::new(""), false, &mut out)?;
    if src.format == LayerFormat::Full {
        if let Some(lower) = src.lowers.first() {
            deleted(src, lower, Path::new(""), &mut out)?;
        }
    }
    // A directory that only changed because something below it did is reported (as Docker
    // does) only when something below it is; engine mount points leave nothing behind.
    let keep: Vec<PathBuf> = out
        .iter()
        .filter(|(p, c)| {
            c.kind != ChangeType::_0
                || !src.dir.join(p).is_dir()
                || c.opaque
                || out.keys().any(|q| q != *p && q.starts_with(p))
                || dir_meta_changed(src, p)
        })
        .map(|(p, _)| p.clone())
        .collect();
    out.retain(|p, _| keep.contains(p));
    Ok(out)
}

fn excluded(rel: &Path) -> bool {
    INIT_FILES.iter().any(|f| rel == Path::new(f)) || INIT_TREES.iter().any(|t| rel.starts_with(t))
}

fn walk(
    src: &Source,
    rel: &Path,
    added_parent: bool,
    out: &mut BTreeMap<PathBuf, Change>,
) -> Result<()> {
    let dir = src.dir.join(rel);
    let io_err = |e: io::Error| Error::Io {
        op: format!("reading {}", dir.display()),
        source: e,
    };
    let mut names: Vec<OsString> = fs::read_dir(&dir)
        .map_err(io_err)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(io_err)?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        if excluded(&r) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(src.dir.join(&r)) else {
            continue; // gone meanwhile
        };
        let ft = meta.file_type();
        let whiteout =
            src.format == LayerFormat::OverlayDiff && ft.is_char_device() && meta.rdev() == 0;
        let lower = if added_parent {
            None
        } else {
            lower_meta(src, &r)
        };
        if whiteout {
            if lower.is_some() {
                out.insert(
                    r,
                    Change {
                        kind: ChangeType::_2,
                        opaque: false,
                    },
                );
            }
            continue;
        }
        let opaque =
            ft.is_dir() && src.format == LayerFormat::OverlayDiff && is_opaque(&src.dir.join(&r));
        let kind = match &lower {
            None => Some(ChangeType::_1),
            Some(l) if src.format == LayerFormat::Full && !ft.is_dir() => {
                changed(&meta, l, &src.dir.join(&r), &src.lowers[0].join(&r))
                    .then_some(ChangeType::_0)
            }
            Some(_) => Some(ChangeType::_0),
        };
        if let Some(kind) = kind {
            out.insert(r.clone(), Change { kind, opaque });
        }
        if ft.is_dir() {
            walk(src, &r, lower.is_none(), out)?;
        }
    }
    Ok(())
}

/// Native snapshots: what the image has that the container lost.
fn deleted(
    src: &Source,
    lower: &Path,
    rel: &Path,
    out: &mut BTreeMap<PathBuf, Change>,
) -> Result<()> {
    let Ok(rd) = fs::read_dir(lower.join(rel)) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        if excluded(&r) {
            continue;
        }
        match fs::symlink_metadata(src.dir.join(&r)) {
            Err(_) => {
                out.insert(
                    r,
                    Change {
                        kind: ChangeType::_2,
                        opaque: false,
                    },
                );
            }
            Ok(m) if m.is_dir() && e.file_type().is_ok_and(|t| t.is_dir()) => {
                deleted(src, lower, &r, out)?;
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The image's entry at `rel`, looked up one component at a time without following symlinks,
/// honouring whiteouts of upper image layers.
fn lower_meta(src: &Source, rel: &Path) -> Option<fs::Metadata> {
    for lower in &src.lowers {
        let mut here = lower.clone();
        let mut found = None;
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            here.push(c);
            match fs::symlink_metadata(&here) {
                Ok(m) if i + 1 == comps.len() => found = Some(m),
                Ok(m) if m.is_dir() => continue,
                _ => break,
            }
        }
        match found {
            Some(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
            Some(m) => return Some(m),
            None if src.format == LayerFormat::Full => return None,
            None => {}
        }
    }
    None
}

fn changed(a: &fs::Metadata, b: &fs::Metadata, pa: &Path, pb: &Path) -> bool {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.size() != b.size()
        || a.mtime() != b.mtime()
        || a.mtime_nsec() != b.mtime_nsec()
        || a.rdev() != b.rdev()
    {
        return true;
    }
    a.file_type().is_symlink() && fs::read_link(pa).ok() != fs::read_link(pb).ok()
}

fn dir_meta_changed(src: &Source, rel: &Path) -> bool {
    let Ok(a) = fs::symlink_metadata(src.dir.join(rel)) else {
        return false;
    };
    match lower_meta(src, rel) {
        Some(b) => a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid(),
        None => true,
    }
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(p) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}
