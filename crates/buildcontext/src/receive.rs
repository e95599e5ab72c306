//! Daemon side: a context tar into a scratch directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use berth_archive::{unpack_scratch, ApplyOptions, WhiteoutMode};
use pathrs::flags::OpenFlags;
use pathrs::Root;

use crate::dockerignore::{ignore_file_candidates, DockerIgnore, MatchInfo};
use crate::error::{Error, Result};
use crate::{ReceivedContext, DEFAULT_DOCKERFILE, SECRETS_DIR};

/// Caps on what a context may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Uncompressed bytes of the context tar.
    pub max_context: u64,
    /// Bytes of the Dockerfile (and of a `.dockerignore`).
    pub max_dockerfile: u64,
    /// Bytes of one secret.
    pub max_secret: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_context: 32 << 30,
            max_dockerfile: 16 << 20,
            max_secret: 1 << 20,
        }
    }
}

/// Unpacks the context `tar` (plain, gzip, bzip2, xz or zstd) into a new directory under
/// `scratch_dir`, takes the secrets out, reads the Dockerfile at `dockerfile_path` (falling
/// back to `dockerfile` when the default `Dockerfile` is missing, as Docker does) and applies
/// the ignore file. An empty `dockerfile_path` means `Dockerfile`.
pub fn receive(
    tar: impl Read,
    dockerfile_path: &str,
    scratch_dir: &Path,
) -> Result<ReceivedContext> {
    receive_with(tar, dockerfile_path, scratch_dir, &Limits::default())
}

/// [`receive`] with explicit [`Limits`].
pub fn receive_with(
    tar: impl Read,
    dockerfile_path: &str,
    scratch_dir: &Path,
    limits: &Limits,
) -> Result<ReceivedContext> {
    let dir = new_context_dir(scratch_dir)?;
    unpack(tar, dir.path(), scratch_dir, limits)?;
    check_symlinks(dir.path(), dir.path())?;
    let secrets = take_secrets(dir.path(), limits)?;
    let mut ctx = finish(dir, dockerfile_path, limits)?;
    ctx.secrets = secrets;
    Ok(ctx)
}

/// A fresh, private directory for one context.
pub(crate) fn new_context_dir(scratch_dir: &Path) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(scratch_dir).map_err(Error::io("create", scratch_dir))?;
    tempfile::Builder::new()
        .prefix("ctx-")
        .tempdir_in(scratch_dir)
        .map_err(Error::io("create a directory in", scratch_dir))
}

const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];

/// Sniffs bzip2 and xz (the archive crate handles gzip, zstd and plain) and unpacks.
fn unpack(tar: impl Read, dest: &Path, scratch_dir: &Path, limits: &Limits) -> Result<()> {
    let mut r = BufReader::with_capacity(64 << 10, tar);
    let head = r
        .fill_buf()
        .map_err(Error::io("read context from", "client"))?;
    let mut opts = ApplyOptions::new(WhiteoutMode::Keep);
    opts.allow_devices = false;
    // Contexts from the docker CLI are owned by 0:0; a rootless daemon cannot chown.
    opts.preserve_owner = nix_is_root();
    opts.max_size = limits.max_context;
    if head.starts_with(BZIP2_MAGIC) {
        unpack_scratch(bzip2::read::MultiBzDecoder::new(r), dest, &opts)?;
    } else if head.starts_with(XZ_MAGIC) {
        // lzma-rs decodes into a writer; spool to a capped file beside the context.
        let mut spool = tempfile::tempfile_in(scratch_dir)
            .map_err(Error::io("create spool in", scratch_dir))?;
        {
            let mut w = CappedWriter {
                inner: io::BufWriter::new(&mut spool),
                left: limits.max_context,
            };
            lzma_rs::xz_decompress(&mut r, &mut w).map_err(|e| match e {
                lzma_rs::error::Error::IoError(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                    Error::TooLarge {
                        what: "build context".into(),
                        limit: limits.max_context,
                    }
                }
                e => Error::UnsafeContext(format!("xz: {e}")),
            })?;
            w.inner
                .flush()
                .map_err(Error::io("write spool in", scratch_dir))?;
        }
        use std::io::Seek;
        spool
            .seek(io::SeekFrom::Start(0))
            .map_err(Error::io("seek spool in", scratch_dir))?;
        unpack_scratch(spool, dest, &opts)?;
    } else {
        unpack_scratch(r, dest, &opts)?;
    }
    Ok(())
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

struct CappedWriter<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for CappedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "too large"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Refuses symlinks whose target, joined to their directory, climbs out of the context
/// (Docker's breakout check on extraction). Absolute targets are taken inside the root.
fn check_symlinks(root: &Path, dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(Error::io("read", dir))? {
        let e = e.map_err(Error::io("read", dir))?;
        let ft = e.file_type().map_err(Error::io("stat", e.path()))?;
        let path = e.path();
        if ft.is_dir() {
            check_symlinks(root, &path)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(Error::io("readlink", &path))?;
            let rel_dir = dir.strip_prefix(root).unwrap_or(Path::new(""));
            if escapes(rel_dir, &target) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                return Err(Error::UnsafeContext(format!(
                    "symlink {} -> {} points outside the context",
                    rel.display(),
                    target.display()
                )));
            }
        }
    }
    Ok(())
}

/// Whether `target`, relative to directory `rel_dir` of the root, climbs above the root.
fn escapes(rel_dir: &Path, target: &Path) -> bool {
    let mut depth: i64 = 0;
    let base = if target.is_absolute() {
        Path::new("")
    } else {
        rel_dir
    };
    for c in base.components().chain(target.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Reads and removes [`SECRETS_DIR`]: regular files only, one per id.
fn take_secrets(root: &Path, limits: &Limits) -> Result<HashMap<String, Vec<u8>>> {
    let dir = root.join(SECRETS_DIR);
    let mut out = HashMap::new();
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("stat", &dir)(e)),
    };
    if !meta.is_dir() {
        return Err(Error::UnsafeContext(format!(
            "{SECRETS_DIR} is not a directory"
        )));
    }
    for e in std::fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
        let e = e.map_err(Error::io("read", &dir))?;
        let id = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|_| Error::UnsafeContext(format!("secret {id:?} is not a regular file")))?;
        if !f.metadata().map_err(Error::io("stat", &path))?.is_file() {
            return Err(Error::UnsafeContext(format!(
                "secret {id:?} is not a regular file"
            )));
        }
        let value = read_capped(f, limits.max_secret, &format!("secret {id:?}"))?;
        out.insert(id, value);
    }
    std::fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
    Ok(out)
}

fn read_capped(r: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(Error::io("read", what))?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge {
            what: what.to_string(),
            limit,
        });
    }
    Ok(out)
}

/// Reads `rel` inside `root` with `RESOLVE_IN_ROOT` semantics; `Ok(None)` when missing.
fn read_in_root(root: &Root, rel: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    match root.open_subpath(rel, OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC) {
        Ok(f) => {
            let f: File = f;
            if f.metadata().map_err(Error::io("stat", rel))?.is_dir() {
                return Ok(None);
            }
            read_capped(f, limit, rel).map(Some)
        }
        Err(e) => match e.kind() {
            pathrs::error::ErrorKind::OsError(Some(libc::ENOENT))
            | pathrs::error::ErrorKind::OsError(Some(libc::ENOTDIR)) => Ok(None),
            _ => Err(Error::Io {
                op: "open",
                path: rel.to_string(),
                source: io::Error::other(e.to_string()),
            }),
        },
    }
}

/// Reads the Dockerfile and applies the ignore file to an unpacked context.
pub(crate) fn finish(
    dir: tempfile::TempDir,
    dockerfile_path: &str,
    limits: &Limits,
) -> Result<ReceivedContext> {
    let root = Root::open(dir.path()).map_err(|e| Error::Io {
        op: "open",
        path: dir.path().display().to_string(),
        source: io::Error::other(e.to_string()),
    })?;
    let requested = if dockerfile_path.is_empty() {
        DEFAULT_DOCKERFILE.to_string()
    } else {
        dockerfile_path.to_string()
    };
    let rel = relative_name(&requested);
    let (name, dockerfile) = match read_in_root(&root, &rel, limits.max_dockerfile)? {
        Some(b) => (rel.clone(), b),
        None if requested == DEFAULT_DOCKERFILE => {
            match read_in_root(&root, "dockerfile", limits.max_dockerfile)? {
                Some(b) => ("dockerfile".to_string(), b),
                None => return Err(Error::DockerfileNotFound(requested)),
            }
        }
        None => return Err(Error::DockerfileNotFound(requested)),
    };
    let mut dockerignore = None;
    for candidate in ignore_file_candidates(&name) {
        if let Some(text) = read_in_root(&root, &candidate, limits.max_dockerfile)? {
            dockerignore = Some(DockerIgnore::parse(&text)?);
            break;
        }
    }
    if let Some(ig) = &dockerignore {
        if !ig.patterns().is_empty() {
            apply_ignore(ig, dir.path(), "", &MatchInfo::default())?;
        }
    }
    Ok(ReceivedContext {
        root: dir,
        dockerfile,
        dockerfile_name: name,
        dockerignore,
        secrets: HashMap::new(),
    })
}

/// `/a/./b` → `a/b`: the context-relative form of a Dockerfile path.
fn relative_name(p: &str) -> String {
    let c = crate::dockerignore::clean(p);
    c.trim_start_matches('/').to_string()
}

/// Removes what `ig` excludes below `dir` (`rel` is `dir` relative to the context). Returns
/// whether anything is left in `dir`.
fn apply_ignore(ig: &DockerIgnore, dir: &Path, rel: &str, parent: &MatchInfo) -> Result<bool> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(Error::io("read", dir))?
        .collect::<io::Result<Vec<_>>>()
        .map_err(Error::io("read", dir))?;
    names.sort_by_key(|e| e.file_name());
    let mut kept = false;
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path: PathBuf = e.path();
        let is_dir = e.file_type().map_err(Error::io("stat", &path))?.is_dir();
        let (excluded, info) = ig.matches_with_parent(&child_rel, parent);
        if !excluded {
            kept = true;
            if is_dir {
                apply_ignore(ig, &path, &child_rel, &info)?;
            }
            continue;
        }
        if is_dir {
            if ig.may_reinclude_below(&child_rel) && apply_ignore(ig, &path, &child_rel, &info)? {
                kept = true;
                continue;
            }
            std::fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        } else {
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn escapes_is_lexical() {
        assert!(escapes(Path::new(""), Path::new("..")));
        assert!(escapes(Path::new("a"), Path::new("../../etc")));
        assert!(!escapes(Path::new("a/b"), Path::new("../c")));
        assert!(!escapes(Path::new("a"), Path::new("/etc/passwd")));
        assert!(escapes(Path::new("a"), Path::new("/../x")));
    }

    #[test]
    fn receives_plain_and_applies_ignore() {
        let scratch = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("Dockerfile", b"FROM scratch\n"),
            (
                ".dockerignore",
                b"*.log\nDockerfile\n.dockerignore\nsub\n!sub/keep\n",
            ),
            ("a.log", b"x"),
            ("b.txt", b"y"),
            ("sub/drop", b"z"),
            ("sub/keep", b"k"),
        ]);
        let ctx = receive(&tar[..], "", scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM scratch\n");
        let root = ctx.root.path();
        assert!(root.join("b.txt").exists());
        assert!(!root.join("a.log").exists());
        assert!(!root.join("Dockerfile").exists());
        assert!(!root.join(".dockerignore").exists());
        assert!(root.join("sub/keep").exists());
        assert!(!root.join("sub/drop").exists());
        let dir = root.to_path_buf();
        drop(ctx);
        assert!(!dir.exists());
    }

    /// A tar whose entry names are written raw, so hostile names survive the tar crate's
    /// own checks.
    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_mode(0o644);
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn refused(tar: &[u8]) -> Error {
        let scratch = tempfile::tempdir().unwrap();
        let outside = scratch.path().join("outside");
        let e = receive(tar, "", scratch.path()).unwrap_err();
        assert!(!outside.exists(), "a file escaped the context");
        // Nothing but the (empty) scratch dir is left behind.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
        e
    }

    #[test]
    fn hostile_tars_are_refused() {
        use tar::EntryType as T;
        let df: &[u8] = b"FROM scratch\n";
        let e = refused(&raw_tar(&[
            ("Dockerfile", T::Regular, df, ""),
            ("../outside", T::Regular, b"x", ""),
        ]));
        assert!(matches!(e, Error::UnsafeContext(_)), "{e}");
        // An absolute name lands inside the context, as Docker places it.
        let scratch = tempfile::tempdir().unwrap();
        let tar = raw_tar(&[
            ("Dockerfile", T::Regular, df, ""),
            ("/abs/inside", T::Regular, b"x", ""),
        ]);
        let ctx = receive(&tar[..], "", scratch.path()).unwrap();
        assert!(ctx.root.path().join("abs/inside").is_file());
        // A symlink that climbs out, then a write through it.
        let e = refused(&raw_tar(&[
            ("Dockerfile", T::Regular, df, ""),
            ("link", T::Symlink, b"", "../.."),
            ("link/outside", T::Regular, b"x", ""),
        ]));
        assert!(matches!(e, Error::UnsafeContext(_)), "{e}");
        // Even alone, a symlink pointing above the root is refused (Docker's breakout check).
        let e = refused(&raw_tar(&[
            ("Dockerfile", T::Regular, df, ""),
            ("up", T::Symlink, b"", "../x"),
        ]));
        assert!(e.to_string().contains("outside the context"), "{e}");
        // A hard link to a file outside.
        let e = refused(&raw_tar(&[
            ("Dockerfile", T::Regular, df, ""),
            ("hl", T::Link, b"", "../../etc/passwd"),
        ]));
        assert!(matches!(e, Error::UnsafeContext(_)), "{e}");
    }

    #[test]
    fn symlinks_inside_are_kept() {
        use tar::EntryType as T;
        let scratch = tempfile::tempdir().unwrap();
        let tar = raw_tar(&[
            ("Dockerfile", T::Regular, b"FROM scratch\n", ""),
            ("d/f", T::Regular, b"x", ""),
            ("d/l", T::Symlink, b"", "../Dockerfile"),
            ("abs", T::Symlink, b"", "/etc/passwd"),
        ]);
        let ctx = receive(&tar[..], "", scratch.path()).unwrap();
        assert_eq!(
            std::fs::read_link(ctx.root.path().join("d/l")).unwrap(),
            Path::new("../Dockerfile")
        );
    }

    #[test]
    fn too_large_contexts_are_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let big = vec![7u8; 64 << 10];
        let tar = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("big", &big)]);
        let limits = Limits {
            max_context: 32 << 10,
            ..Limits::default()
        };
        let e = receive_with(&tar[..], "", scratch.path(), &limits).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        let limits = Limits {
            max_dockerfile: 4,
            ..Limits::default()
        };
        let e = receive_with(&tar[..], "", scratch.path(), &limits).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }

    #[test]
    fn every_compression_is_sniffed() {
        use std::io::Write as _;
        let tar = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("f", b"data")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for (what, data) in [
            ("plain", &tar),
            ("gzip", &gz),
            ("bzip2", &bz),
            ("xz", &xz),
            ("zstd", &zst),
        ] {
            let scratch = tempfile::tempdir().unwrap();
            let ctx =
                receive(&data[..], "", scratch.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                std::fs::read(ctx.root.path().join("f")).unwrap(),
                b"data",
                "{what}"
            );
        }
    }

    #[test]
    fn dockerfile_lookup_and_secrets() {
        let scratch = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("dockerfile", b"FROM lower\n"),
            (".berth-build-secrets/tok", b"s3cret"),
            ("sub/Df", b"FROM sub\n"),
            ("sub/Df.dockerignore", b"x\n"),
            (".dockerignore", b"y\n"),
            ("x", b""),
            ("y", b""),
        ]);
        let ctx = receive(&tar[..], "", scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM lower\n");
        assert_eq!(ctx.dockerfile_name, "dockerfile");
        assert_eq!(ctx.secrets["tok"], b"s3cret");
        assert!(!ctx.root.path().join(SECRETS_DIR).exists());
        // `.dockerignore` applies to the default Dockerfile.
        assert!(ctx.root.path().join("x").exists() && !ctx.root.path().join("y").exists());
        // `<Dockerfile>.dockerignore` wins for a named Dockerfile.
        let ctx = receive(&tar[..], "sub/Df", scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM sub\n");
        assert!(!ctx.root.path().join("x").exists() && ctx.root.path().join("y").exists());
        let e = receive(&tar[..], "nope", scratch.path()).unwrap_err();
        assert_eq!(e.to_string(), "Cannot locate specified Dockerfile: nope");
    }
}
