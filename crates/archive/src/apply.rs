//! Applying a layer tar onto a directory.

use std::collections::{HashSet, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use berth_content::Digest;
use pathrs::flags::OpenFlags;
use pathrs::{InodeType, Root};
use sha2::{Digest as _, Sha256};

use crate::compression::{decompress, Compression};
use crate::error::{Error, Result};
use crate::sys;

/// How the layer's whiteouts are expressed in the target directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The target is an overlayfs lower/upper layer of its own: a deleted file becomes a 0/0
    /// character device, an opaque directory gets `trusted.overlay.opaque=y`.
    Overlay,
    /// The target already holds the parent layers' files (a copying snapshotter): whiteouts
    /// delete what they name.
    Delete,
    /// The archive is not a layer (`docker cp`): `.wh.` names are ordinary files.
    Keep,
}

/// Options for [`apply_layer`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Create device nodes from the archive. When false they are skipped (counted in
    /// [`Applied::skipped_devices`]), as Docker does where it cannot create them.
    pub allow_devices: bool,
    /// Apply the archive's uid/gid. Needs privilege.
    pub preserve_owner: bool,
    /// Refuse to replace a directory with a non-directory or the reverse (docker cp's
    /// `noOverwriteDirNonDir`); layers replace freely.
    pub no_overwrite_dir_non_dir: bool,
    /// Refuse a layer whose uncompressed stream exceeds this many bytes.
    pub max_size: u64,
    /// Refuse a compressed layer that expands more than this many times, once past
    /// [`RATIO_GRACE`] bytes (gzip cannot exceed ~1032:1; a bomb must).
    pub max_ratio: u64,
    /// Shift owners into a user namespace's host range (`--userns-remap`): an entry owned by
    /// container uid `n` is written owned by the host uid `n` maps to. An id outside the
    /// mapping fails the layer, as with dockerd.
    pub id_map: Option<berth_types::idmap::IdMap>,
}

/// Uncompressed bytes allowed before [`ApplyOptions::max_ratio`] is enforced, so that small,
/// very regular layers (a file of zeros) are never refused.
pub const RATIO_GRACE: u64 = 1 << 30;

impl ApplyOptions {
    pub fn new(whiteouts: WhiteoutMode) -> Self {
        ApplyOptions {
            whiteouts,
            allow_devices: true,
            preserve_owner: true,
            no_overwrite_dir_non_dir: false,
            max_size: 64 << 30,
            max_ratio: 1000,
            id_map: None,
        }
    }
}

/// The outcome of applying a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar stream: the layer's diff ID.
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
    /// The compression the stream came in.
    pub compression: Compression,
    /// Device nodes not created because devices were not allowed.
    pub skipped_devices: u64,
}

const WH_PREFIX: &str = ".wh.";
const WH_META_PREFIX: &str = ".wh..wh.";
const WH_OPAQUE: &str = ".wh..wh..opq";
/// Symlink hops allowed while checking a path, as the kernel's MAXSYMLINKS.
const MAX_SYMLINK_HOPS: usize = 40;

/// Applies the (possibly gzip- or zstd-compressed) layer tar `src` onto `root`, computing its
/// diff ID in the same pass.
///
/// Every entry is placed inside `root`: paths that are absolute or contain `..` are refused,
/// as are entries that would pass through a symlink climbing out of `root`; all parent lookups
/// resolve with `RESOLVE_IN_ROOT` semantics (through `pathrs`), and the final component is
/// created with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW` calls on the resolved parent. On error the
/// directory holds a partial layer; callers unpack into a scratch snapshot and discard it.
pub fn apply_layer<R: Read>(src: R, root: &Path, opts: &ApplyOptions) -> Result<Applied> {
    let root_handle = Root::open(root).map_err(pathrs_err("open root", root))?;
    let root_dir = File::open(root).map_err(Error::io("open root", root))?;
    apply_layer_at(src, root_handle, root_dir, root, opts)
}

/// Unpacks a tar that is not a layer (a build context) into the scratch directory `root` with
/// the same confinement and limits as [`apply_layer`], but neither computes a diff ID nor
/// syncs the filesystem: the directory is disposable, and a crash leaves it to be swept.
/// Returns the bytes of file content written.
pub fn unpack_scratch<R: Read>(src: R, root: &Path, opts: &ApplyOptions) -> Result<u64> {
    let root_handle = Root::open(root).map_err(pathrs_err("open root", root))?;
    let root_dir = File::open(root).map_err(Error::io("open root", root))?;
    Ok(unpack_at(src, root_handle, root_dir, root, opts, false)?.size)
}

/// [`apply_layer`] onto a directory already opened (`root_dir`, an `O_DIRECTORY` fd), for
/// callers that resolved it themselves and must not look it up again by path.
pub(crate) fn apply_layer_at<R: Read>(
    src: R,
    root_handle: Root,
    root_dir: File,
    root: &Path,
    opts: &ApplyOptions,
) -> Result<Applied> {
    unpack_at(src, root_handle, root_dir, root, opts, true)
}

/// The unpacking behind [`apply_layer_at`] (`seal`: hash the stream and syncfs) and
/// [`unpack_scratch`] (neither; the diff ID is then a placeholder nobody sees).
fn unpack_at<R: Read>(
    src: R,
    root_handle: Root,
    root_dir: File,
    root: &Path,
    opts: &ApplyOptions,
    seal: bool,
) -> Result<Applied> {
    let compressed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted = CountReader {
        inner: src,
        n: compressed.clone(),
    };
    let (compression, reader) = decompress(counted).map_err(|e| Error::Malformed(e.to_string()))?;
    let mut hashed = HashReader {
        inner: reader,
        hasher: seal.then(Sha256::new),
        total: 0,
        compressed: (compression != Compression::None).then_some(compressed),
        max_size: opts.max_size,
        max_ratio: opts.max_ratio,
    };
    let mut u = Unpacker {
        root: root_handle,
        root_dir,
        opts,
        written: HashSet::new(),
        checked: HashSet::new(),
        dirs: Vec::new(),
        size: 0,
        skipped_devices: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut hashed);
        for entry in archive.entries().map_err(bomb_or_malformed(opts))? {
            let mut entry = entry.map_err(bomb_or_malformed(opts))?;
            u.entry(&mut entry).map_err(|e| match e {
                Error::Malformed(m) if m.contains(BOMB) => Error::TooLarge {
                    limit: opts.max_size,
                },
                e => e,
            })?;
        }
    }
    u.finish()?;
    let mut diff_id = Digest::from_sha256([0; 32]);
    if seal {
        // The diff ID covers the whole stream, including the end-of-archive blocks and padding
        // that the tar reader stops short of.
        io::copy(&mut hashed, &mut io::sink()).map_err(bomb_or_malformed(opts))?;
        sys::syncfs(u.root_dir.as_fd()).map_err(Error::io("syncfs", root))?;
        if let Some(h) = hashed.hasher.take() {
            diff_id = Digest::from_sha256(h.finalize().into());
        }
    }
    Ok(Applied {
        diff_id,
        size: u.size,
        compression,
        skipped_devices: u.skipped_devices,
    })
}

fn blank(field: &[u8]) -> bool {
    field.iter().all(|b| *b == 0 || *b == b' ')
}

fn malformed(e: io::Error) -> Error {
    Error::Malformed(e.to_string())
}

fn pathrs_err(op: &'static str, path: &Path) -> impl FnOnce(pathrs::error::Error) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Io {
        op,
        path: path.display().to_string(),
        source: pathrs_io(e),
    }
}

fn pathrs_io(e: pathrs::error::Error) -> io::Error {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(errno)) => io::Error::from_raw_os_error(errno),
        _ => io::Error::other(e.to_string()),
    }
}

/// The marker of a bomb inside an `io::Error`, so that it survives the tar reader.
const BOMB: &str = "berth: decompression limit exceeded";

fn bomb_or_malformed(opts: &ApplyOptions) -> impl Fn(io::Error) -> Error + '_ {
    move |e| {
        if e.to_string().contains(BOMB) {
            Error::TooLarge {
                limit: opts.max_size,
            }
        } else {
            Error::Malformed(e.to_string())
        }
    }
}

struct CountReader<R> {
    inner: R,
    n: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for CountReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.set(self.n.get() + n as u64);
        Ok(n)
    }
}

/// Hashes the uncompressed stream and enforces the bomb limits on it.
struct HashReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    total: u64,
    /// Compressed bytes read so far, when the stream is compressed.
    compressed: Option<std::rc::Rc<std::cell::Cell<u64>>>,
    max_size: u64,
    max_ratio: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.total += n as u64;
        let ratio_exceeded = self.total > RATIO_GRACE
            && self
                .compressed
                .as_ref()
                .is_some_and(|c| self.total / c.get().max(1) > self.max_ratio);
        if self.total > self.max_size || ratio_exceeded {
            return Err(io::Error::other(BOMB));
        }
        Ok(n)
    }
}

/// Normalises an archive path to a relative path of plain components. `.` components vanish;
/// absolute paths and `..` are refused. The archive root itself becomes the empty path.
pub fn clean_path(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath {
                    path: p.display().to_string(),
                    reason: "absolute path",
                })
            }
            Component::ParentDir => {
                return Err(Error::UnsafePath {
                    path: p.display().to_string(),
                    reason: "path contains '..'",
                })
            }
        }
    }
    Ok(out)
}

struct Unpacker<'o> {
    root: Root,
    root_dir: File,
    opts: &'o ApplyOptions,
    /// Paths this layer created (and their ancestors): an opaque marker must not delete them.
    written: HashSet<PathBuf>,
    /// Directories already checked for symlink escapes; cleared whenever a symlink is created.
    checked: HashSet<PathBuf>,
    /// Directories whose mtime is set last, after their children stop changing it.
    dirs: Vec<(PathBuf, i64)>,
    size: u64,
    skipped_devices: u64,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path().map_err(malformed)?.into_owned();
        // Docker and containerd read `/etc/passwd` in a layer as the root's `etc/passwd`.
        let rel = clean_path(raw.strip_prefix("/").unwrap_or(&raw))?;
        let Some(name) = rel.file_name().map(OsStr::to_owned) else {
            return Ok(()); // the archive's root entry ("./")
        };
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        self.check_escape(&parent, &rel)?;
        let is_whiteout = self.opts.whiteouts != WhiteoutMode::Keep
            && name.to_str().is_some_and(|n| n.starts_with(WH_PREFIX));
        let dir = match self.open_dir(&parent) {
            Ok(d) => d,
            // A whiteout below something that is not a directory (a dangling link, a file)
            // has nothing to delete.
            Err(Error::Io { source, .. })
                if is_whiteout && source.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if is_whiteout {
            if let Some(n) = name.to_str() {
                return self.whiteout(&dir, &parent, n);
            }
        }

        let hdr = entry.header();
        let kind = hdr.entry_type();
        let mode = hdr.mode().map_err(malformed)? & 0o7777;
        // An all-blank numeric field reads as 0, as Go's archive/tar (Docker's) reads it.
        let old = hdr.as_old();
        let num = |v: io::Result<u64>, field: &[u8]| match v {
            Ok(n) => Ok(n),
            Err(_) if blank(field) => Ok(0),
            Err(e) => Err(malformed(e)),
        };
        let uid = u32::try_from(num(hdr.uid(), &old.uid)?)
            .map_err(|_| Error::Malformed(format!("uid out of range for {rel:?}")))?;
        let gid = u32::try_from(num(hdr.gid(), &old.gid)?)
            .map_err(|_| Error::Malformed(format!("gid out of range for {rel:?}")))?;
        let mtime = num(hdr.mtime(), &old.mtime)?.min(i64::MAX as u64) as i64;
        let dev = (
            hdr.device_major().ok().flatten(),
            hdr.device_minor().ok().flatten(),
        );
        let xattrs = xattrs(entry)?;

        let existing = sys::lstat_at(dir.as_fd(), &name).map_err(Error::io("lstat", &rel))?;
        // A directory entry merges into an existing directory; anything else replaces.
        let mut keep_dir = false;
        if let Some(st) = &existing {
            keep_dir = sys::is_dir(st) && kind.is_dir();
            if self.opts.no_overwrite_dir_non_dir && sys::is_dir(st) != kind.is_dir() {
                return Err(Error::OverwriteDirNonDir(rel.display().to_string()));
            }
            if !keep_dir {
                self.remove(&dir, &rel, sys::is_dir(st))?;
            }
        }

        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let mut f = sys::open_at(
                    dir.as_fd(),
                    &name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    0o600,
                )
                .map_err(Error::io("create", &rel))?;
                self.size += io::copy(entry, &mut f).map_err(malformed)?;
                self.owner_mode(&dir, &name, &rel, uid, gid, Some(mode))?;
                set_xattrs(&f, &xattrs, &rel)?;
                sys::set_mtime_fd(f.as_fd(), mtime).map_err(Error::io("utimens", &rel))?;
            }
            T::Directory => {
                if !keep_dir {
                    sys::mkdir_at(dir.as_fd(), &name, 0o700).map_err(Error::io("mkdir", &rel))?;
                }
                let d = sys::open_at(dir.as_fd(), &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .map_err(Error::io("open dir", &rel))?;
                self.owner_mode(&dir, &name, &rel, uid, gid, Some(mode))?;
                set_xattrs(&d, &xattrs, &rel)?;
                self.dirs.push((rel.clone(), mtime));
            }
            T::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(malformed)?
                    .ok_or_else(|| Error::Malformed(format!("symlink {rel:?} has no target")))?;
                sys::symlink_at(target.as_os_str(), dir.as_fd(), &name)
                    .map_err(Error::io("symlink", &rel))?;
                self.owner_mode(&dir, &name, &rel, uid, gid, None)?;
                sys::set_mtime_at(dir.as_fd(), &name, mtime).map_err(Error::io("utimens", &rel))?;
                self.checked.clear();
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(malformed)?
                    .ok_or_else(|| Error::Malformed(format!("hard link {rel:?} has no target")))?;
                self.hardlink(&rel, &target)?;
            }
            T::Char | T::Block | T::Fifo => {
                let (fmt, devnum) = match kind {
                    T::Char => (libc::S_IFCHR, dev),
                    T::Block => (libc::S_IFBLK, dev),
                    _ => (libc::S_IFIFO, (Some(0), Some(0))),
                };
                if fmt != libc::S_IFIFO && !self.opts.allow_devices {
                    self.skipped_devices += 1;
                    return Ok(());
                }
                let devnum = libc::makedev(devnum.0.unwrap_or(0), devnum.1.unwrap_or(0));
                sys::mknod_at(dir.as_fd(), &name, fmt | mode, devnum)
                    .map_err(Error::io("mknod", &rel))?;
                self.owner_mode(&dir, &name, &rel, uid, gid, Some(mode))?;
                sys::set_mtime_at(dir.as_fd(), &name, mtime).map_err(Error::io("utimens", &rel))?;
            }
            // PAX/GNU metadata entries are consumed by the tar reader; anything else (sockets,
            // vendor types) has no place in a root filesystem.
            _ => return Ok(()),
        }
        self.mark_written(&rel);
        Ok(())
    }

    fn mark_written(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if a.as_os_str().is_empty() || !self.written.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    fn whiteout(&mut self, dir: &File, parent: &Path, name: &str) -> Result<()> {
        if name == WH_OPAQUE {
            match self.opts.whiteouts {
                WhiteoutMode::Overlay => {
                    set_xattr(dir, "trusted.overlay.opaque", b"y", parent)?;
                }
                WhiteoutMode::Delete | WhiteoutMode::Keep => {
                    let children = fs::read_dir(fd_path(dir))
                        .map_err(Error::io("read dir", parent))?
                        .collect::<io::Result<Vec<_>>>()
                        .map_err(Error::io("read dir", parent))?;
                    for child in children {
                        let rel = parent.join(child.file_name());
                        if !self.written.contains(&rel) {
                            let is_dir = child.file_type().is_ok_and(|t| t.is_dir());
                            self.remove(dir, &rel, is_dir)?;
                        }
                    }
                }
            }
            self.mark_written(parent);
            return Ok(());
        }
        if name.starts_with(WH_META_PREFIX) {
            return Ok(()); // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here
        }
        let target = OsStr::new(&name[WH_PREFIX.len()..]);
        if target.is_empty() || target == "." || target == ".." {
            return Err(Error::UnsafePath {
                path: parent.join(name).display().to_string(),
                reason: "whiteout names no file",
            });
        }
        let rel = parent.join(target);
        if let Some(st) = sys::lstat_at(dir.as_fd(), target).map_err(Error::io("lstat", &rel))? {
            self.remove(dir, &rel, sys::is_dir(&st))?;
        }
        if self.opts.whiteouts == WhiteoutMode::Overlay {
            sys::mknod_at(dir.as_fd(), target, libc::S_IFCHR, 0)
                .map_err(Error::io("mknod whiteout", &rel))?;
        }
        self.mark_written(parent);
        Ok(())
    }

    fn remove(&mut self, dir: &File, rel: &Path, is_dir: bool) -> Result<()> {
        if is_dir {
            self.root
                .remove_all(rel)
                .map_err(pathrs_err("remove", rel))?;
        } else {
            let name = rel.file_name().unwrap_or_default();
            sys::unlink_at(dir.as_fd(), name, false).map_err(Error::io("unlink", rel))?;
        }
        self.checked.retain(|p| !p.starts_with(rel));
        Ok(())
    }

    fn hardlink(&mut self, rel: &Path, target: &Path) -> Result<()> {
        let bad = |reason: String| Error::BadHardlink {
            path: rel.display().to_string(),
            target: target.display().to_string(),
            reason,
        };
        // Docker writes hard-link targets relative to the archive root; accept a leading '/'
        // as the same thing, but never '..'.
        let stripped = target.strip_prefix("/").unwrap_or(target);
        let t = clean_path(stripped).map_err(|e| bad(e.to_string()))?;
        if t.as_os_str().is_empty() {
            return Err(bad("target is the root".into()));
        }
        self.check_escape(t.parent().unwrap_or(Path::new("")), &t)?;
        let h = self
            .root
            .resolve_nofollow(&t)
            .map_err(|e| bad(pathrs_io(e).to_string()))?;
        let meta = h.reopen(OpenFlags::O_PATH).map(|f| f.metadata());
        if matches!(meta, Ok(Ok(m)) if m.is_dir()) {
            return Err(bad("target is a directory".into()));
        }
        self.root
            .create(rel, &InodeType::Hardlink(t))
            .map_err(|e| bad(pathrs_io(e).to_string()))?;
        Ok(())
    }

    fn owner_mode(
        &self,
        dir: &File,
        name: &OsStr,
        rel: &Path,
        uid: u32,
        gid: u32,
        mode: Option<u32>,
    ) -> Result<()> {
        if self.opts.preserve_owner {
            let (uid, gid) = match &self.opts.id_map {
                None => (uid, gid),
                Some(m) => (
                    m.host_uid(uid).ok_or_else(|| Error::Unmapped {
                        path: rel.display().to_string(),
                        what: "uid",
                        id: uid,
                    })?,
                    m.host_gid(gid).ok_or_else(|| Error::Unmapped {
                        path: rel.display().to_string(),
                        what: "gid",
                        id: gid,
                    })?,
                ),
            };
            sys::chown_at(dir.as_fd(), name, uid, gid).map_err(Error::io("chown", rel))?;
        }
        // After chown, which clears set-id bits.
        if let Some(mode) = mode {
            sys::chmod_at(dir.as_fd(), name, mode).map_err(Error::io("chmod", rel))?;
        }
        Ok(())
    }

    /// Opens (creating as needed) the directory `parent` inside the root.
    fn open_dir(&self, parent: &Path) -> Result<File> {
        if parent.as_os_str().is_empty() {
            return self.root_dir.try_clone().map_err(Error::io("dup", "."));
        }
        let h = self
            .root
            .mkdir_all(parent, &fs::Permissions::from_mode(0o755))
            .map_err(pathrs_err("mkdir", parent))?;
        h.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
            .map_err(pathrs_err("open dir", parent))
    }

    /// Refuses `dir` if following the symlinks on its way would climb above the root.
    /// (`pathrs` would contain such a walk; an archive that tries it is hostile, so say so.)
    fn check_escape(&mut self, dir: &Path, entry: &Path) -> Result<()> {
        if dir.as_os_str().is_empty() || self.checked.contains(dir) {
            return Ok(());
        }
        let mut stack: Vec<OsString> = Vec::new();
        let mut queue: VecDeque<OsString> =
            dir.components().map(|c| c.as_os_str().to_owned()).collect();
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(Error::SymlinkEscape {
                        path: entry.display().to_string(),
                        link: dir.display().to_string(),
                    });
                }
                continue;
            }
            stack.push(c);
            let here: PathBuf = stack.iter().collect();
            // Not a symlink, or missing: nothing to follow (missing parts are created as dirs).
            let Ok(target) = self.root.readlink(&here) else {
                continue;
            };
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(Error::SymlinkLoop {
                    path: entry.display().to_string(),
                });
            }
            stack.pop();
            if target.is_absolute() {
                stack.clear(); // absolute links resolve from the root, as inside the container
            }
            for c in target.components().rev() {
                match c {
                    Component::RootDir | Component::Prefix(_) => {}
                    c => queue.push_front(c.as_os_str().to_owned()),
                }
            }
        }
        self.checked.insert(dir.to_path_buf());
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        for (rel, mtime) in self.dirs.drain(..).rev() {
            // A later whiteout may have removed it.
            let Ok(f) = self.root.open_subpath(
                &rel,
                OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_NOFOLLOW,
            ) else {
                continue;
            };
            sys::set_mtime_fd(f.as_fd(), mtime).map_err(Error::io("utimens", &rel))?;
        }
        Ok(())
    }
}

fn fd_path(f: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

/// The extended attributes recorded for an entry (PAX `SCHILY.xattr.*`), minus overlayfs's own
/// `trusted.overlay.*`, which a layer must not be able to forge.
fn xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<(CString, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(malformed)? {
        for ext in exts {
            // The tar crate splits PAX records at every newline, so a binary value containing
            // one (a file capability can) reads as malformed records. Losing that attribute is
            // better than refusing the layer.
            let Ok(ext) = ext else { continue };
            let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if key.starts_with(b"trusted.overlay.") {
                continue;
            }
            let Ok(key) = CString::new(key) else { continue };
            out.push((key, ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

fn set_xattrs(f: &File, xattrs: &[(CString, Vec<u8>)], rel: &Path) -> Result<()> {
    for (k, v) in xattrs {
        match sys::set_xattr_fd(f.as_fd(), k, v) {
            Ok(()) => {}
            // The target filesystem may not support a namespace; Docker skips those too.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {}
            Err(e) => return Err(Error::io("setxattr", rel)(e)),
        }
    }
    Ok(())
}

fn set_xattr(f: &File, key: &str, value: &[u8], rel: &Path) -> Result<()> {
    let k = CString::new(key.as_bytes()).map_err(|_| Error::Malformed(key.into()))?;
    sys::set_xattr_fd(f.as_fd(), &k, value).map_err(Error::io("setxattr", rel))
}
