//! `docker cp`'s archive semantics over a container root, without trusting the container.
//!
//! The container owns everything under its root and may swap any directory for a symlink at
//! any moment (the docker cp CVEs: CVE-2014-6407, CVE-2018-15664, CVE-2019-14271). So every path
//! is resolved inside the root with `RESOLVE_IN_ROOT` semantics (`pathrs`), the resource is then
//! named as (directory fd, final component), and the walk below it goes fd to fd with
//! `O_NOFOLLOW` `*at` calls — no host path under the root is ever handed to a path-walking
//! system call after resolution. Extraction goes through `apply_layer`'s in-root unpacker.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::Root;
use serde::Serialize;
use tar::{EntryType, Header};

use berth_types::idmap::IdMap;

use crate::apply::{apply_layer_at, ApplyOptions, WhiteoutMode};
use crate::error::{Error, Result};
use crate::sys;

/// What `X-Docker-Container-Path-Stat` carries (base64 of this JSON). `mode` is Go's
/// `os.FileMode`, whose type bits differ from Unix's.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    /// For a symlink, where it leads inside the container (absolute); empty otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` of a Unix `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => m |= 1 << 31,
        libc::S_IFLNK => m |= 1 << 27,
        libc::S_IFIFO => m |= 1 << 25,
        libc::S_IFSOCK => m |= 1 << 24,
        libc::S_IFBLK => m |= 1 << 26,
        libc::S_IFCHR => m |= (1 << 26) | (1 << 21),
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

fn pathrs_err(op: &'static str, path: &str) -> impl FnOnce(pathrs::error::Error) -> Error {
    let path = path.to_string();
    move |e| {
        let source = match e.kind() {
            pathrs::error::ErrorKind::OsError(Some(errno)) => {
                std::io::Error::from_raw_os_error(errno)
            }
            _ => std::io::Error::other(e.to_string()),
        };
        Error::Io { op, path, source }
    }
}

/// A resource inside a container root, resolved: its parent directory (opened) and name.
struct Resolved {
    parent: File,
    name: OsString,
    /// The resource's path inside the container, for messages and link targets.
    path: PathBuf,
}

/// Splits a container path into (parent, name), normalising `.` and `..` lexically the way
/// the container would see them from `/`.
fn split(path: &str) -> (PathBuf, Option<OsString>) {
    let mut parts: Vec<OsString> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let name = parts.pop();
    let parent: PathBuf = parts.iter().collect();
    if parent.as_os_str().is_empty() {
        return (PathBuf::from("/"), name);
    }
    (Path::new("/").join(parent), name)
}

/// The path of an open fd's inode relative to the root, through `/proc/self/fd`.
fn path_in_root(root_real: &Path, f: &impl AsRawFd) -> Option<PathBuf> {
    let real = fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()?;
    real.strip_prefix(root_real)
        .ok()
        .map(|p| Path::new("/").join(p))
}

fn resolve(root_dir: &Path, path: &str, follow: bool) -> Result<Resolved> {
    let root =
        Root::open(root_dir).map_err(pathrs_err("open root", &root_dir.display().to_string()))?;
    let root_real = fs::canonicalize(root_dir).map_err(Error::io("canonicalize", root_dir))?;
    let mut path = path.to_string();
    for _ in 0..40 {
        let (parent, name) = split(&path);
        let parent_h = root
            .resolve(&parent)
            .map_err(pathrs_err("resolve", &path))?;
        let parent_f = parent_h
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
            .map_err(pathrs_err("open", &path))?;
        let Some(name) = name else {
            // The root itself: name it "." inside itself.
            return Ok(Resolved {
                parent: parent_f,
                name: OsString::from("."),
                path: PathBuf::from("/"),
            });
        };
        let st = sys::lstat_at(parent_f.as_fd(), &name)
            .map_err(Error::io("lstat", &path))?
            .ok_or_else(|| Error::Io {
                op: "lstat",
                path: path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })?;
        let parent_path = path_in_root(&root_real, &parent_f).unwrap_or_else(|| "/".into());
        if follow && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            // Follow the link one hop, resolving its target from inside the container.
            let target =
                sys::readlink_at(parent_f.as_fd(), &name).map_err(Error::io("readlink", &path))?;
            path = parent_path.join(target).display().to_string();
            continue;
        }
        return Ok(Resolved {
            parent: parent_f,
            path: parent_path.join(&name),
            name,
        });
    }
    Err(Error::SymlinkLoop { path })
}

fn stat_of(r: &Resolved) -> Result<libc::stat> {
    if r.name == "." {
        let m = r.parent.metadata().map_err(Error::io("stat", &r.path))?;
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        use std::os::unix::fs::MetadataExt;
        st.st_mode = m.mode();
        st.st_size = m.size() as i64;
        st.st_mtime = m.mtime();
        st.st_mtime_nsec = m.mtime_nsec();
        return Ok(st);
    }
    sys::lstat_at(r.parent.as_fd(), &r.name)
        .map_err(Error::io("lstat", &r.path))?
        .ok_or_else(|| Error::Io {
            op: "lstat",
            path: r.path.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

/// `HEAD /containers/{id}/archive`: the stat of `path` inside the container root `root`. A
/// symlink is described itself, with `link_target` saying where it leads.
pub fn stat_in_root(root: &Path, path: &str) -> Result<PathStat> {
    let r = resolve(root, path, path_follows(path))?;
    let st = stat_of(&r)?;
    let mut link_target = String::new();
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        if let Ok(t) = resolve(root, &r.path.display().to_string(), true) {
            link_target = t.path.display().to_string();
        }
    }
    let name = if r.name == "." {
        "/".to_string()
    } else {
        r.name.to_string_lossy().into_owned()
    };
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
        link_target,
    })
}

/// Docker follows a final symlink only when the path asks for the directory behind it.
fn path_follows(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.")
}

fn rfc3339(secs: i64, nsec: i64) -> String {
    time_fmt(secs, nsec)
}

fn time_fmt(secs: i64, nsec: i64) -> String {
    // Go's RFC3339Nano in UTC, trailing zeros of the fraction dropped.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = if nsec > 0 {
        let s = format!(".{nsec:09}");
        s.trim_end_matches('0').to_string()
    } else {
        String::new()
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `GET /containers/{id}/archive`: writes `path` (a file, a directory tree, or a symlink
/// itself) as a tar whose top entry is named after the path's last component — or, for a path
/// ending in `/.`, whose entries are the directory's contents — and returns its stat.
pub fn tar_from_root<W: Write>(root: &Path, path: &str, out: W) -> Result<(W, PathStat)> {
    tar_from_root_as(root, path, out, None)
}

/// [`tar_from_root`] with owners written as a user namespace with `map` sees them (a remapped
/// daemon's containers); an unmapped owner is written as the overflow id 65534, as it appears
/// inside.
pub fn tar_from_root_as<W: Write>(
    root: &Path,
    path: &str,
    out: W,
    map: Option<&IdMap>,
) -> Result<(W, PathStat)> {
    tar_from_root_named(root, path, None, out, map)
}

/// [`tar_from_root_as`], naming the top entry `top_name` unless `path` ends in `/.`: a volume's
/// root, or a bound file, has the name of its mount point in the container.
pub fn tar_from_root_named<W: Write>(
    root: &Path,
    path: &str,
    top_name: Option<&OsStr>,
    out: W,
    map: Option<&IdMap>,
) -> Result<(W, PathStat)> {
    let stat = stat_in_root(root, path)?;
    let r = resolve(root, path, path_follows(path))?;
    let mut b = tar::Builder::new(out);
    let mut links = HashMap::new();
    let top = match top_name {
        _ if path.ends_with("/.") => PathBuf::from("."),
        Some(n) => PathBuf::from(n),
        None if r.name == "." => PathBuf::from("."),
        None => PathBuf::from(&r.name),
    };
    add(&mut b, r.parent.as_fd(), &r.name, &top, &mut links, map)?;
    let w = b.into_inner().map_err(Error::io("write tar", path))?;
    Ok((w, stat))
}

fn header_of(map: Option<&IdMap>, st: &libc::stat, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    let (uid, gid) = container_owner(map, st.st_uid, st.st_gid);
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(size);
    h
}

fn add<W: Write>(
    b: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    tar_name: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    map: Option<&IdMap>,
) -> Result<()> {
    let wr = |e| Error::io("write tar", tar_name)(e);
    let Some(st) = sys::lstat_at(dir, name).map_err(Error::io("lstat", tar_name))? else {
        return Ok(()); // removed meanwhile
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let d = sys::open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                .map_err(Error::io("open dir", tar_name))?;
            // The fd is what was opened; take its stat, not the (racy) one before.
            let st = fstat(&d, tar_name)?;
            let mut h = header_of(map, &st, EntryType::Directory, 0);
            b.append_data(&mut h, tar_name, std::io::empty())
                .map_err(wr)?;
            let mut names: Vec<OsString> = fs::read_dir(format!("/proc/self/fd/{}", d.as_raw_fd()))
                .map_err(Error::io("read dir", tar_name))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for n in names {
                add(b, d.as_fd(), &n, &tar_name.join(&n), links, map)?;
            }
        }
        libc::S_IFREG => {
            let f =
                sys::open_at(dir, name, libc::O_RDONLY, 0).map_err(Error::io("open", tar_name))?;
            let st = fstat(&f, tar_name)?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Ok(()); // swapped for something else meanwhile
            }
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = links.get(&key) {
                    let mut h = header_of(map, &st, EntryType::Link, 0);
                    b.append_link(&mut h, tar_name, first).map_err(wr)?;
                    return Ok(());
                }
                links.insert(key, tar_name.to_path_buf());
            }
            let size = st.st_size.max(0) as u64;
            let mut h = header_of(map, &st, EntryType::Regular, size);
            // A file that shrinks while read is padded: the header's size is a promise.
            let body = f.take(size).chain(std::io::repeat(0).take(size));
            b.append_data(&mut h, tar_name, body.take(size))
                .map_err(wr)?;
        }
        libc::S_IFLNK => {
            let target = sys::readlink_at(dir, name).map_err(Error::io("readlink", tar_name))?;
            let mut h = header_of(map, &st, EntryType::Symlink, 0);
            b.append_link(&mut h, tar_name, &target).map_err(wr)?;
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            let kind = match st.st_mode & libc::S_IFMT {
                libc::S_IFCHR => EntryType::Char,
                libc::S_IFBLK => EntryType::Block,
                _ => EntryType::Fifo,
            };
            let mut h = header_of(map, &st, kind, 0);
            if kind != EntryType::Fifo {
                h.set_device_major(libc::major(st.st_rdev)).map_err(wr)?;
                h.set_device_minor(libc::minor(st.st_rdev)).map_err(wr)?;
            }
            b.append_data(&mut h, tar_name, std::io::empty())
                .map_err(wr)?;
        }
        _ => {} // sockets have no place in an archive
    }
    Ok(())
}

fn fstat(f: &File, p: &Path) -> Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: valid fd and a buffer of the right type.
    let rc = unsafe { libc::fstat(f.as_raw_fd(), st.as_mut_ptr()) };
    if rc < 0 {
        return Err(Error::io("fstat", p)(std::io::Error::last_os_error()));
    }
    // SAFETY: fstat succeeded.
    Ok(unsafe { st.assume_init() })
}

/// `PUT /containers/{id}/archive`: extracts the (possibly compressed) tar `src` into the
/// directory `dir` inside the container root `root`. The directory is resolved in the root;
/// the archive's entries are then confined to it, `.wh.` names are ordinary files, owners and
/// modes are kept.
pub fn extract_into_root<R: Read>(
    root: &Path,
    dir: &str,
    src: R,
    no_overwrite_dir_non_dir: bool,
) -> Result<()> {
    extract_into_root_as(root, dir, src, no_overwrite_dir_non_dir, None)
}

/// [`extract_into_root`] into a remapped container: owners shifted by `map`.
pub fn extract_into_root_as<R: Read>(
    root: &Path,
    dir: &str,
    src: R,
    no_overwrite_dir_non_dir: bool,
    map: Option<&IdMap>,
) -> Result<()> {
    let r = resolve(root, dir, true)?;
    let st = stat_of(&r)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::NotADirectory(dir.to_string()));
    }
    let d = if r.name == "." {
        r.parent.try_clone().map_err(Error::io("dup", dir))?
    } else {
        sys::open_at(
            r.parent.as_fd(),
            &r.name,
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )
        .map_err(Error::io("open dir", dir))?
    };
    let handle = Root::from_fd(std::os::fd::OwnedFd::from(
        d.try_clone().map_err(Error::io("dup", dir))?,
    ));
    let mut opts = ApplyOptions::new(WhiteoutMode::Keep);
    opts.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir;
    opts.id_map = map.cloned();
    apply_layer_at(src, handle, d, Path::new(dir), &opts)?;
    Ok(())
}

/// How a user namespace with `map` sees host owner `uid:gid` (65534, the overflow id, when
/// unmapped); unchanged without a map.
pub(crate) fn container_owner(map: Option<&IdMap>, uid: u32, gid: u32) -> (u32, u32) {
    match map {
        None => (uid, gid),
        Some(m) => (
            m.container_uid(uid).unwrap_or(OVERFLOW_ID),
            m.container_gid(gid).unwrap_or(OVERFLOW_ID),
        ),
    }
}

/// The id an unmapped owner shows as inside a user namespace.
const OVERFLOW_ID: u32 = 65534;
