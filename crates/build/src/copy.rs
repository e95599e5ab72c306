//! `COPY` and `ADD`: sources resolved in their root (the context or an image), checksummed for
//! the cache key (content, mode, owner and link target of every file, as BuildKit's
//! contenthash; each file read once per build), then written as one layer tar.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::paths::{clean_abs, clean_rel, expand_wildcard, has_wildcard, resolve_in_root};

/// A file's identity and change stamp: device, inode, size, mtime (s, ns).
type FileStamp = (u64, u64, u64, i64, i64);

/// File checksums already computed in this build, by identity and change stamp.
#[derive(Default)]
pub struct HashCache {
    map: Mutex<HashMap<FileStamp, [u8; 32]>>,
}

impl HashCache {
    fn file(&self, path: &Path, m: &fs::Metadata) -> Result<[u8; 32]> {
        let k = (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec());
        if let Some(h) = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
            return Ok(*h);
        }
        let mut f = File::open(path).map_err(Error::io(format!("reading {}", path.display())))?;
        let mut h = Sha256::new();
        io::copy(&mut f, &mut h).map_err(Error::io(format!("reading {}", path.display())))?;
        let d: [u8; 32] = h.finalize().into();
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k, d);
        Ok(d)
    }
}

/// What one `COPY`/`ADD` copies.
pub struct CopyJob {
    /// The root the sources are in.
    pub src_root: PathBuf,
    /// `true` when `src_root` is the build context (errors then say so).
    pub from_context: bool,
    /// Expanded sources (local paths or here-document names).
    pub sources: Vec<String>,
    /// Here-documents by name: (name, content).
    pub heredocs: Vec<(String, String)>,
    /// Expanded destination, absolute (already joined with `WORKDIR`).
    pub dest: String,
    /// Whether `dest` names a directory (trailing slash, `.`).
    pub dest_is_dir: bool,
    pub excludes: Vec<String>,
    /// `ADD`: unpack local archives.
    pub unpack: bool,
    pub instruction: &'static str,
    /// Where `ADD <url>` downloads go.
    pub scratch: PathBuf,
}

enum Item {
    Path {
        real: PathBuf,
        name: String,
        dir: bool,
        archive: bool,
        /// `ADD <url>`: the download's `Last-Modified` (Docker: mode 0600, that mtime).
        fetched: Option<Option<u64>>,
    },
    Heredoc {
        name: String,
        content: String,
    },
}

/// The resolved sources and their checksum.
pub struct Plan {
    items: Vec<Item>,
    /// Downloads, removed with the plan.
    temp: Vec<PathBuf>,
    pub checksum: String,
    /// `dir`, `file` or `multi`, for the history's `COPY file:<sum> in <dest>`.
    pub kind: &'static str,
    job: CopyJob,
}

impl Drop for Plan {
    fn drop(&mut self) {
        for t in &self.temp {
            let _ = fs::remove_file(t);
        }
    }
}

pub fn plan(job: CopyJob, hashes: &HashCache) -> Result<Plan> {
    let mut items = Vec::new();
    let mut temp = Vec::new();
    for s in &job.sources {
        if job.instruction == "ADD" && berth_buildcontext::is_url(s) {
            let f = berth_buildcontext::fetch_url(s, &job.scratch)
                .map_err(|e| Error::Copy(format!("ADD failed: {s}: {e}")))?;
            temp.push(f.path.clone());
            let mtime = f.last_modified.and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            });
            items.push(Item::Path {
                real: f.path,
                name: f.name,
                dir: false,
                archive: false,
                fetched: Some(mtime),
            });
            continue;
        }
        if let Some(name) = heredoc_name(s) {
            if let Some((n, c)) = job.heredocs.iter().find(|(n, _)| *n == name) {
                items.push(Item::Heredoc {
                    name: n.clone(),
                    content: c.clone(),
                });
                continue;
            }
        }
        let rel = clean_rel(s).ok_or_else(|| {
            Error::Copy(format!(
                "{} failed: forbidden path outside the build context: {s} ()",
                job.instruction
            ))
        })?;
        let matched = if has_wildcard(s) {
            expand_wildcard(&job.src_root, &rel)
        } else {
            vec![rel.clone()]
        };
        if matched.is_empty() {
            return Err(Error::Copy(format!(
                "{} failed: no source files were specified",
                job.instruction
            )));
        }
        for m in matched {
            let real_rel = resolve_in_root(&job.src_root, &m)?;
            let real = job.src_root.join(&real_rel);
            let meta = fs::metadata(&real).map_err(|_| {
                if job.from_context {
                    Error::Copy(format!(
                        "{} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist",
                        job.instruction
                    ))
                } else {
                    Error::Copy(format!("{} failed: stat {s}: file does not exist", job.instruction))
                }
            })?;
            let name = m
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let archive = job.unpack && meta.is_file() && is_archive(&real);
            items.push(Item::Path {
                real,
                name,
                dir: meta.is_dir(),
                archive,
                fetched: None,
            });
        }
    }
    let multi = items.len() > 1;
    if multi && !job.dest_is_dir {
        return Err(Error::Copy(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            job.instruction
        )));
    }
    let kind = match items.as_slice() {
        [Item::Path { dir: true, .. }] => "dir",
        [_] => "file",
        _ => "multi",
    };
    let mut h = Sha256::new();
    for it in &items {
        match it {
            Item::Heredoc { name, content } => {
                h.update(format!("heredoc\0{name}\0{}\n", content.len()));
                h.update(content.as_bytes());
            }
            Item::Path {
                real,
                name,
                archive,
                fetched,
                ..
            } => {
                h.update(format!("src\0{name}\0{archive}\0{fetched:?}\n"));
                walk(real, &job.excludes, &mut |rel, path, m| {
                    let ft = m.file_type();
                    let mut line = format!(
                        "{}\0{:o}\0{}\0{}\0",
                        rel.display(),
                        m.mode(),
                        m.uid(),
                        m.gid()
                    );
                    if ft.is_file() {
                        line.push_str(&hex::encode(hashes.file(path, m)?));
                    } else if ft.is_symlink() {
                        line.push_str(&fs::read_link(path).unwrap_or_default().to_string_lossy());
                    }
                    line.push('\n');
                    h.update(line.as_bytes());
                    Ok(())
                })?;
            }
        }
    }
    Ok(Plan {
        items,
        temp,
        checksum: hex::encode(h.finalize()),
        kind,
        job,
    })
}

/// Writes the layer tar of `plan` to `out`. `parent_root` is the parent image mounted (for
/// existing directories and the type of the destination); `owner` and `mode` come from
/// `--chown` and `--chmod`.
pub fn write_layer(
    plan: &Plan,
    parent_root: Option<&Path>,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    out: &Path,
) -> Result<()> {
    let job = &plan.job;
    let dest_rel = match parent_root {
        Some(r) => resolve_in_root(r, &clean_abs(&job.dest))?,
        None => clean_abs(&job.dest),
    };
    let dest_exists_dir = parent_root
        .map(|r| {
            fs::metadata(r.join(&dest_rel))
                .map(|m| m.is_dir())
                .unwrap_or(false)
        })
        .unwrap_or(false);
    let (uid, gid) = owner.unwrap_or((0, 0));
    let f = File::create(out).map_err(Error::io("creating the layer file"))?;
    let mut b = tar::Builder::new(BufWriter::new(f));
    b.follow_symlinks(false);
    let werr = |e: io::Error| Error::Io {
        op: "writing the layer".into(),
        source: e,
    };

    // The entries, by destination path, so that parents can be written first.
    let mut dirs_needed = BTreeSet::new();
    let add_parents = |p: &Path, set: &mut BTreeSet<PathBuf>| {
        let mut a = p.parent();
        while let Some(x) = a {
            if x.as_os_str().is_empty() {
                break;
            }
            set.insert(x.to_path_buf());
            a = x.parent();
        }
    };
    let into_dir = job.dest_is_dir || dest_exists_dir;
    let mut tops = Vec::new();
    for it in &plan.items {
        let target = match it {
            Item::Path { dir: true, .. } | Item::Path { archive: true, .. } => dest_rel.clone(),
            Item::Path { name, .. } | Item::Heredoc { name, .. } => {
                if into_dir {
                    dest_rel.join(name)
                } else {
                    dest_rel.clone()
                }
            }
        };
        add_parents(&target, &mut dirs_needed);
        tops.push(target);
    }
    for d in &dirs_needed {
        let mut h = tar::Header::new_gnu();
        match parent_root.and_then(|r| fs::symlink_metadata(r.join(d)).ok()) {
            Some(m) if m.is_dir() => {
                h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
            }
            _ => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_uid(uid.into());
                h.set_gid(gid.into());
                h.set_mtime(now());
            }
        }
        h.set_size(0);
        b.append_data(&mut h, d, io::empty()).map_err(werr)?;
    }
    for (it, target) in plan.items.iter().zip(&tops) {
        match it {
            Item::Heredoc { content, .. } => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(mode.unwrap_or(0o644));
                h.set_uid(uid.into());
                h.set_gid(gid.into());
                h.set_mtime(now());
                h.set_size(content.len() as u64);
                b.append_data(&mut h, target, content.as_bytes())
                    .map_err(werr)?;
            }
            Item::Path {
                real,
                archive: true,
                ..
            } => {
                unpack_archive(real, target, &mut b)?;
            }
            Item::Path {
                real,
                fetched: Some(mtime),
                ..
            } => {
                let f = File::open(real).map_err(Error::io("reading a download"))?;
                let len = f.metadata().map_err(Error::io("reading a download"))?.len();
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(mode.unwrap_or(0o600));
                h.set_uid(uid.into());
                h.set_gid(gid.into());
                h.set_mtime(mtime.unwrap_or(0));
                h.set_size(len);
                b.append_data(&mut h, target, f).map_err(werr)?;
            }
            Item::Path { real, dir, .. } => {
                let top_is_dir = *dir;
                walk(real, &job.excludes, &mut |rel, path, m| {
                    let dest = if rel.as_os_str().is_empty() {
                        target.clone()
                    } else {
                        target.join(rel)
                    };
                    if top_is_dir && rel.as_os_str().is_empty() && dest.as_os_str().is_empty() {
                        return Ok(());
                    }
                    let mut h = tar::Header::new_gnu();
                    if top_is_dir && rel.as_os_str().is_empty() {
                        // An existing destination directory keeps its owner and mode.
                        if let Some(pm) = parent_root
                            .and_then(|r| fs::symlink_metadata(r.join(&dest)).ok())
                            .filter(|pm| pm.is_dir())
                        {
                            h.set_metadata_in_mode(&pm, tar::HeaderMode::Complete);
                            h.set_size(0);
                            b.append_data(&mut h, &dest, io::empty()).map_err(werr)?;
                            return Ok(());
                        }
                    }
                    h.set_metadata_in_mode(m, tar::HeaderMode::Complete);
                    h.set_uid(uid.into());
                    h.set_gid(gid.into());
                    let ft = m.file_type();
                    if let Some(md) = mode {
                        if !ft.is_symlink() {
                            h.set_mode(md);
                        }
                    }
                    if ft.is_file() {
                        let f = File::open(path)
                            .map_err(Error::io(format!("reading {}", path.display())))?;
                        b.append_data(&mut h, &dest, f).map_err(werr)?;
                    } else if ft.is_symlink() {
                        let t = fs::read_link(path).map_err(Error::io("reading a link"))?;
                        h.set_size(0);
                        b.append_link(&mut h, &dest, &t).map_err(werr)?;
                    } else if ft.is_dir() {
                        h.set_size(0);
                        b.append_data(&mut h, &dest, io::empty()).map_err(werr)?;
                    }
                    // Devices, sockets and fifos are not copied (BuildKit refuses most too).
                    Ok(())
                })?;
            }
        }
    }
    let mut w = b.into_inner().map_err(werr)?;
    w.flush().map_err(werr)?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn heredoc_name(s: &str) -> Option<String> {
    let s = s.strip_prefix("<<")?;
    let s = s.strip_prefix('-').unwrap_or(s);
    Some(s.trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// Walks `top` (not following symlinks below it) calling `f(rel, path, metadata)` in sorted
/// order, the top itself first with an empty `rel`. Paths matching an `--exclude` pattern
/// (and everything below them) are skipped.
fn walk(
    top: &Path,
    excludes: &[String],
    f: &mut dyn FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    fn rec(
        base: &Path,
        rel: &Path,
        excludes: &[String],
        f: &mut dyn FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
    ) -> Result<()> {
        let path = if rel.as_os_str().is_empty() {
            base.to_path_buf()
        } else {
            base.join(rel)
        };
        let m = if rel.as_os_str().is_empty() {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        }
        .map_err(Error::io(format!("stat {}", path.display())))?;
        if !rel.as_os_str().is_empty() && excluded(rel, excludes) {
            return Ok(());
        }
        f(rel, &path, &m)?;
        if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&path)
                .map_err(Error::io(format!("reading {}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for n in names {
                rec(base, &rel.join(n), excludes, f)?;
            }
        }
        Ok(())
    }
    rec(top, Path::new(""), excludes, f)
}

fn excluded(rel: &Path, excludes: &[String]) -> bool {
    let s = rel.to_string_lossy();
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    excludes.iter().any(|p| {
        let p = p.trim_start_matches("./").trim_end_matches('/');
        crate::paths::wildcard_match(p, &s)
            || (!p.contains('/') && crate::paths::wildcard_match(p, &name))
    })
}

fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = File::open(p) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// `ADD` of a local archive: its entries, re-rooted under `dest`.
fn unpack_archive<W: Write>(src: &Path, dest: &Path, b: &mut tar::Builder<W>) -> Result<()> {
    let mut f = File::open(src).map_err(Error::io("opening the archive"))?;
    let mut head = [0u8; 6];
    let n = f.read(&mut head).unwrap_or(0);
    drop(f);
    let f = File::open(src).map_err(Error::io("opening the archive"))?;
    let r: Box<dyn Read> = if head[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(f).map_err(Error::io("reading zstd"))?)
    } else if head[..n].starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(f))
    } else if head[..n].starts_with(&[0xfd, b'7', b'z']) {
        // lzma-rs decodes into a writer: the archive is decoded into a scratch file first.
        let mut tmp = tempfile::tempfile_in(src.parent().unwrap_or(Path::new("/tmp")))
            .or_else(|_| tempfile::tempfile())
            .map_err(Error::io("decoding xz"))?;
        {
            let mut w = BufWriter::new(&mut tmp);
            lzma_rs::xz_decompress(&mut io::BufReader::new(f), &mut w)
                .map_err(|e| Error::Copy(format!("ADD: decoding xz: {e}")))?;
            w.flush().map_err(Error::io("decoding xz"))?;
        }
        use std::io::Seek;
        tmp.rewind().map_err(Error::io("decoding xz"))?;
        Box::new(tmp)
    } else {
        Box::new(f)
    };
    let werr = |e: io::Error| Error::Io {
        op: "unpacking the archive".into(),
        source: e,
    };
    let mut a = tar::Archive::new(r);
    for e in a.entries().map_err(werr)? {
        let mut e = e.map_err(werr)?;
        let p = e.path().map_err(werr)?.to_string_lossy().into_owned();
        let Some(rel) = clean_rel(&p) else {
            return Err(Error::Copy(format!(
                "ADD: archive entry {p:?} leaves the destination"
            )));
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let mut h = e.header().clone();
        let target = dest.join(&rel);
        match h.entry_type() {
            tar::EntryType::Link => {
                let l = e.link_name().map_err(werr)?.unwrap_or_default();
                let l = clean_rel(&l.to_string_lossy()).unwrap_or_default();
                b.append_link(&mut h, &target, dest.join(l)).map_err(werr)?;
            }
            tar::EntryType::Symlink => {
                let l = e
                    .link_name()
                    .map_err(werr)?
                    .unwrap_or_default()
                    .into_owned();
                b.append_link(&mut h, &target, l).map_err(werr)?;
            }
            _ => {
                b.append_data(&mut h, &target, &mut e).map_err(werr)?;
            }
        }
    }
    Ok(())
}
