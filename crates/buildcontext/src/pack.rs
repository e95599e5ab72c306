//! Client side: the context tar, as the docker CLI makes it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::dockerignore::{DockerIgnore, MatchInfo, DOCKERIGNORE};
use crate::error::{Error, Result};
use crate::{validate_secret_id, DEFAULT_DOCKERFILE, SECRETS_DIR};

/// What to send for a directory context; [`PackPlan::write_to`] streams it.
#[derive(Debug)]
pub struct PackPlan {
    context_dir: PathBuf,
    dockerfile_name: String,
    excludes: DockerIgnore,
    /// Files added at the end of the tar (a Dockerfile from outside the context), by name.
    extra: Vec<(String, Vec<u8>)>,
    /// A replacement `.dockerignore` (naming the generated Dockerfile).
    ignore_override: Option<Vec<u8>>,
    secrets: Vec<(String, Vec<u8>)>,
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum DockerfileSource {
    /// `Dockerfile` (or `dockerfile`) in the context.
    Default,
    /// `-f PATH`, relative to the current directory, as the docker CLI takes it.
    Path(PathBuf),
    /// `-f -`: the bytes read from stdin.
    Bytes(Vec<u8>),
}

/// Resolves the Dockerfile and the ignore file for a directory context (the docker CLI's
/// `GetContextFromLocalDir`, `ReadDockerignore` and `TrimBuildFilesFromExcludes`).
pub fn plan_dir(context_dir: &Path, dockerfile: DockerfileSource) -> Result<PackPlan> {
    let meta = std::fs::metadata(context_dir).map_err(|e| {
        Error::InvalidArgument(format!(
            "unable to prepare context: path {:?} not found: {e}",
            context_dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "unable to prepare context: context must be a directory: {}",
            context_dir.display()
        )));
    }
    let context_dir = context_dir
        .canonicalize()
        .map_err(Error::io("resolve", context_dir))?;
    let (df_abs, df_bytes) = match dockerfile {
        DockerfileSource::Default => {
            let p = context_dir.join(DEFAULT_DOCKERFILE);
            let p = if p.exists() {
                p
            } else {
                let lower = context_dir.join("dockerfile");
                if lower.exists() {
                    lower
                } else {
                    return Err(Error::DockerfileNotFound(p.display().to_string()));
                }
            };
            (Some(p), None)
        }
        DockerfileSource::Path(p) => {
            let abs = std::path::absolute(&p).map_err(Error::io("resolve", &p))?;
            let real = abs
                .canonicalize()
                .map_err(|_| Error::DockerfileNotFound(abs.display().to_string()))?;
            if !real.is_file() {
                return Err(Error::DockerfileNotFound(abs.display().to_string()));
            }
            (Some(real), None)
        }
        DockerfileSource::Bytes(b) => (None, Some(b)),
    };
    // The ignore file: `<Dockerfile>.dockerignore` beside the Dockerfile, else `.dockerignore`.
    let mut ignore_text = None;
    if let Some(df) = &df_abs {
        let beside = PathBuf::from(format!("{}.dockerignore", df.display()));
        if let Ok(t) = std::fs::read(&beside) {
            ignore_text = Some((beside, t));
        }
    }
    let ctx_ignore = context_dir.join(DOCKERIGNORE);
    if ignore_text.is_none() {
        match std::fs::read(&ctx_ignore) {
            Ok(t) => ignore_text = Some((ctx_ignore.clone(), t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", &ctx_ignore)(e)),
        }
    }
    let mut excludes = match &ignore_text {
        Some((_, t)) => DockerIgnore::parse(t)?,
        None => DockerIgnore::default(),
    };
    let inside = df_abs
        .as_ref()
        .and_then(|p| p.strip_prefix(&context_dir).ok())
        .map(|r| r.to_string_lossy().replace('\\', "/"));
    let mut plan = PackPlan {
        context_dir: context_dir.clone(),
        dockerfile_name: String::new(),
        excludes: DockerIgnore::default(),
        extra: Vec::new(),
        ignore_override: None,
        secrets: Vec::new(),
    };
    // The ignore file that names itself is still sent (the daemon reads it, then drops it).
    if let Some((path, _)) = &ignore_text {
        if let Ok(rel) = path.strip_prefix(&context_dir) {
            let rel = rel.to_string_lossy().into_owned();
            if excludes.matches(&rel) {
                excludes.push(&format!("!{rel}"))?;
            }
        }
    }
    if excludes.matches(DOCKERIGNORE) {
        excludes.push(&format!("!{DOCKERIGNORE}"))?;
    }
    match inside {
        Some(rel) => {
            if excludes.matches(&rel) {
                excludes.push(&format!("!{rel}"))?;
            }
            plan.dockerfile_name = rel;
        }
        None => {
            // Outside the context or from stdin: add it under a generated name and make the
            // daemon drop it through `.dockerignore`, as AddDockerfileToBuildContext does.
            let bytes = match (df_bytes, &df_abs) {
                (Some(b), _) => b,
                (None, Some(p)) => std::fs::read(p).map_err(|e| {
                    Error::InvalidArgument(format!("unable to open Dockerfile: {e}"))
                })?,
                (None, None) => unreachable!("a Dockerfile source is always set"),
            };
            let name = format!(".dockerfile.{}", random_hex(20));
            // The sent `.dockerignore` removes itself unless it is the context's own.
            let mut ignore = match &ignore_text {
                Some((p, t)) if *p == ctx_ignore => t.clone(),
                Some((_, t)) => [b".dockerignore\n".as_slice(), t].concat(),
                None => b".dockerignore".to_vec(),
            };
            ignore.extend_from_slice(format!("\n{name}\n").as_bytes());
            plan.ignore_override = Some(ignore);
            plan.extra.push((name.clone(), bytes));
            plan.dockerfile_name = name;
        }
    }
    plan.excludes = excludes;
    Ok(plan)
}

fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n.div_ceil(2)).map(|_| rand::random::<u8>()).collect();
    let mut s = hex::encode(bytes);
    s.truncate(n);
    s
}

impl PackPlan {
    /// The `dockerfile` query parameter: the Dockerfile's path inside the sent context.
    pub fn dockerfile_name(&self) -> &str {
        &self.dockerfile_name
    }

    /// The patterns in force (the ignore file plus the CLI's `!Dockerfile`/`!.dockerignore`).
    pub fn excludes(&self) -> &DockerIgnore {
        &self.excludes
    }

    /// Sends a `--secret` with the context.
    pub fn add_secret(&mut self, id: &str, value: Vec<u8>) -> Result<()> {
        validate_secret_id(id)?;
        self.secrets.push((id.to_string(), value));
        Ok(())
    }

    /// Writes the context tar to `out`, reading each file as it goes.
    pub fn write_to<W: Write>(&self, out: W) -> Result<W> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        let mut links = HashMap::new();
        self.walk(
            &mut b,
            &self.context_dir,
            "",
            &MatchInfo::default(),
            &mut links,
        )?;
        if let Some(ig) = &self.ignore_override {
            append_bytes(&mut b, DOCKERIGNORE, ig, 0o600)?;
        }
        for (name, bytes) in &self.extra {
            append_bytes(&mut b, name, bytes, 0o600)?;
        }
        append_secrets(&mut b, &self.secrets)?;
        b.into_inner().map_err(Error::io("write", "build context"))
    }

    fn walk<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        dir: &Path,
        rel: &str,
        parent: &MatchInfo,
        links: &mut HashMap<(u64, u64), String>,
    ) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| context_err(dir, e))?
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| context_err(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if rel.is_empty()
                && (child_rel == SECRETS_DIR
                    || (self.ignore_override.is_some() && child_rel == DOCKERIGNORE))
            {
                continue;
            }
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| context_err(&path, e))?;
            let (excluded, info) = self.excludes.matches_with_parent(&child_rel, parent);
            if excluded {
                if meta.is_dir() && self.excludes.may_reinclude_below(&child_rel) {
                    self.walk(b, &path, &child_rel, &info, links)?;
                }
                continue;
            }
            let mut h = header_for(&meta);
            let ft = meta.file_type();
            if ft.is_dir() {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{child_rel}/"), io::empty())
                    .map_err(Error::io("write", "build context"))?;
                self.walk(b, &path, &child_rel, &info, links)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| context_err(&path, e))?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &child_rel, &target)
                    .map_err(Error::io("write", "build context"))?;
            } else if ft.is_file() {
                if meta.nlink() > 1 {
                    let key = (meta.dev(), meta.ino());
                    if let Some(first) = links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        h.set_size(0);
                        b.append_link(&mut h, &child_rel, first)
                            .map_err(Error::io("write", "build context"))?;
                        continue;
                    }
                    links.insert(key, child_rel.clone());
                }
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(|e| context_err(&path, e))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(meta.len());
                // A file that changes size while we read it must not corrupt the stream.
                let data = ExactLen {
                    inner: f,
                    left: meta.len(),
                };
                b.append_data(&mut h, &child_rel, data)
                    .map_err(Error::io("write", "build context"))?;
            }
            // Sockets, fifos and devices are not context material.
        }
        Ok(())
    }
}

fn context_err(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::InvalidArgument(format!(
            "error checking context: no permission to read from '{}'",
            path.display()
        ))
    } else {
        Error::InvalidArgument(format!(
            "error checking context: can't stat '{}': {e}",
            path.display()
        ))
    }
}

fn header_for(meta: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mode: u32,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    b.append_data(&mut h, name, data)
        .map_err(Error::io("write", "build context"))
}

fn append_secrets<W: Write>(b: &mut tar::Builder<W>, secrets: &[(String, Vec<u8>)]) -> Result<()> {
    for (id, value) in secrets {
        append_bytes(b, &format!("{SECRETS_DIR}/{id}"), value, 0o600)?;
    }
    Ok(())
}

/// Exactly `left` bytes: the file's content, cut or padded with zeros.
struct ExactLen<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b, 0x08];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The docker CLI's `IsArchive`: a known compression magic, or a tar header whose checksum
/// holds.
pub fn looks_like_archive(head: &[u8]) -> bool {
    if [GZIP, BZIP2, XZ, ZSTD].iter().any(|m| head.starts_with(m)) {
        return true;
    }
    if head.len() < 512 {
        return false;
    }
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&head[..512]);
    match h.cksum() {
        Ok(sum) => {
            let computed: u32 = head[..512]
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        *b as u32
                    }
                })
                .sum();
            sum == computed
        }
        Err(_) => false,
    }
}

/// A context given on stdin (`berth build -`): an archive is passed through as it is (the
/// daemon sniffs its compression); anything else is taken as a Dockerfile and wrapped into a
/// tar holding only `Dockerfile`. Returns the stream and, for a wrapped Dockerfile, the name
/// to send as `dockerfile`. With `secrets`, an archive is unpacked and re-packed so that they
/// can be appended.
pub fn stdin_context<R: Read + Send + 'static>(
    input: R,
    secrets: Vec<(String, Vec<u8>)>,
) -> Result<(Box<dyn Read + Send>, Option<String>)> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let mut head = Vec::new();
    // fill_buf may return short reads on pipes: gather at least a tar header's worth.
    while head.len() < 512 {
        let chunk = r.fill_buf().map_err(Error::io("read", "stdin"))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len().min(512 - head.len());
        head.extend_from_slice(&chunk[..n]);
        r.consume(n);
    }
    let whole = Cursor::new(head.clone()).chain(r);
    if looks_like_archive(&head) {
        if secrets.is_empty() {
            return Ok((Box::new(whole), None));
        }
        for (id, _) in &secrets {
            validate_secret_id(id)?;
        }
        let (_, plain) = berth_archive::decompress(whole).map_err(Error::io("read", "stdin"))?;
        let mut xz_or_bz: Box<dyn Read> = plain;
        let mut peek = [0u8; 6];
        let n = read_full(&mut xz_or_bz, &mut peek)?;
        let chained = Cursor::new(peek[..n].to_vec()).chain(xz_or_bz);
        let plain: Box<dyn Read> = if peek[..n].starts_with(BZIP2) {
            Box::new(bzip2::read::MultiBzDecoder::new(chained))
        } else if peek[..n].starts_with(XZ) {
            return Err(Error::InvalidArgument(
                "--secret with an xz-compressed context on stdin is not supported; decompress it first".into(),
            ));
        } else {
            Box::new(chained)
        };
        let mut out = tar::Builder::new(Vec::new());
        let mut a = tar::Archive::new(plain);
        for e in a.entries().map_err(Error::io("read", "stdin"))? {
            let mut e = e.map_err(Error::io("read", "stdin"))?;
            let mut h = e.header().clone();
            let path = e.path_bytes().into_owned();
            if let Some(link) = e.link_name_bytes() {
                let link = link.into_owned();
                out.append_link(
                    &mut h,
                    String::from_utf8_lossy(&path).as_ref(),
                    String::from_utf8_lossy(&link).as_ref(),
                )
                .map_err(Error::io("write", "build context"))?;
            } else {
                out.append_data(&mut h, String::from_utf8_lossy(&path).as_ref(), &mut e)
                    .map_err(Error::io("write", "build context"))?;
            }
        }
        append_secrets(&mut out, &secrets)?;
        let bytes = out
            .into_inner()
            .map_err(Error::io("write", "build context"))?;
        return Ok((Box::new(Cursor::new(bytes)), None));
    }
    let mut dockerfile = Vec::new();
    let mut whole = whole;
    whole
        .read_to_end(&mut dockerfile)
        .map_err(Error::io("read", "stdin"))?;
    let mut b = tar::Builder::new(Vec::new());
    append_bytes(&mut b, DEFAULT_DOCKERFILE, &dockerfile, 0o600)?;
    let mut secrets = secrets;
    for (id, _) in &secrets {
        validate_secret_id(id)?;
    }
    append_secrets(&mut b, &std::mem::take(&mut secrets))?;
    let bytes = b
        .into_inner()
        .map_err(Error::io("write", "build context"))?;
    Ok((
        Box::new(Cursor::new(bytes)),
        Some(DEFAULT_DOCKERFILE.into()),
    ))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", "stdin")(e)),
        }
    }
    Ok(n)
}

/// Opens a context tar file given as `CONTEXT` (not a directory): sent as it is.
pub fn open_archive(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(Error::io("open", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(tar: &[u8]) -> Vec<(String, u64, u64, u32)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect()
    }

    fn write(root: &Path, rel: &str, data: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[test]
    fn packs_with_excludes_and_exceptions() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, "Dockerfile", "FROM scratch\n");
        write(
            r,
            ".dockerignore",
            "*.log\nnode_modules\ndocs\n!docs/keep.md\nDockerfile\n.dockerignore\n",
        );
        write(r, "app.log", "x");
        write(r, "src/main.rs", "fn main() {}");
        write(r, "src/deep.log", "not matched by *.log");
        write(r, "node_modules/a/b.js", "x");
        write(r, "docs/keep.md", "k");
        write(r, "docs/drop.md", "d");
        std::fs::set_permissions(
            r.join("src/main.rs"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        let plan = plan_dir(r, DockerfileSource::Default).unwrap();
        assert_eq!(plan.dockerfile_name(), "Dockerfile");
        let tar = plan.write_to(Vec::new()).unwrap();
        let got = names(&tar);
        let paths: Vec<&str> = got.iter().map(|(p, ..)| p.as_str()).collect();
        // The Dockerfile and .dockerignore are sent although ignored (the daemon drops them).
        for want in [
            ".dockerignore",
            "Dockerfile",
            "docs/keep.md",
            "src/",
            "src/main.rs",
            "src/deep.log",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        for gone in [
            "app.log",
            "node_modules/",
            "node_modules/a/b.js",
            "docs/drop.md",
            "docs/",
        ] {
            assert!(!paths.contains(&gone), "{gone} sent: {paths:?}");
        }
        assert!(got.iter().all(|(_, u, g, _)| *u == 0 && *g == 0));
        let mode = got.iter().find(|(p, ..)| p == "src/main.rs").unwrap().3;
        assert_eq!(mode & 0o7777, 0o751);
        // On the daemon side the ignored Dockerfile and .dockerignore disappear.
        let scratch = tempfile::tempdir().unwrap();
        let ctx = crate::receive(&tar[..], plan.dockerfile_name(), scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM scratch\n");
        assert!(!ctx.root.path().join("Dockerfile").exists());
        assert!(!ctx.root.path().join(".dockerignore").exists());
        assert!(ctx.root.path().join("docs/keep.md").exists());
    }

    #[test]
    fn dockerfile_outside_the_context_gets_a_generated_name() {
        let d = tempfile::tempdir().unwrap();
        let ctx_dir = d.path().join("ctx");
        write(&ctx_dir, "f", "x");
        write(d.path(), "elsewhere/Df", "FROM outside\n");
        write(d.path(), "elsewhere/Df.dockerignore", "f\n");
        let plan = plan_dir(
            &ctx_dir,
            DockerfileSource::Path(d.path().join("elsewhere/Df")),
        )
        .unwrap();
        let name = plan.dockerfile_name().to_string();
        assert!(name.starts_with(".dockerfile.") && name.len() == ".dockerfile.".len() + 20);
        let tar = plan.write_to(Vec::new()).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let ctx = crate::receive(&tar[..], &name, scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM outside\n");
        // The generated file and the injected .dockerignore are gone; `Df.dockerignore` applied.
        let left: Vec<_> = std::fs::read_dir(ctx.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // From stdin, the same.
        let plan = plan_dir(&ctx_dir, DockerfileSource::Bytes(b"FROM stdin\n".to_vec())).unwrap();
        let tar = plan.write_to(Vec::new()).unwrap();
        let ctx = crate::receive(&tar[..], plan.dockerfile_name(), scratch.path()).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM stdin\n");
        assert!(ctx.root.path().join("f").exists());
        assert!(std::fs::read_dir(ctx.root.path()).unwrap().count() == 1);
    }

    #[test]
    fn missing_dockerfile_and_lowercase_fallback() {
        let d = tempfile::tempdir().unwrap();
        let e = plan_dir(d.path(), DockerfileSource::Default).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Cannot locate specified Dockerfile"),
            "{e}"
        );
        write(d.path(), "dockerfile", "FROM x\n");
        assert_eq!(
            plan_dir(d.path(), DockerfileSource::Default)
                .unwrap()
                .dockerfile_name(),
            "dockerfile"
        );
    }

    #[test]
    fn stdin_contexts() {
        let (mut r, df) =
            stdin_context(&b"FROM alone\n"[..], vec![("s".into(), b"v".to_vec())]).unwrap();
        assert_eq!(df.as_deref(), Some("Dockerfile"));
        let mut tar = Vec::new();
        r.read_to_end(&mut tar).unwrap();
        let got: Vec<String> = names(&tar).into_iter().map(|n| n.0).collect();
        assert_eq!(got, vec!["Dockerfile", ".berth-build-secrets/s"]);
        // An archive passes through untouched, compressed or not.
        let mut b = tar::Builder::new(Vec::new());
        append_bytes(&mut b, "Dockerfile", b"FROM t\n", 0o644).unwrap();
        let plain = b.into_inner().unwrap();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        for input in [plain.clone(), gz] {
            assert!(looks_like_archive(&input));
            let (mut r, df) = stdin_context(std::io::Cursor::new(input.clone()), vec![]).unwrap();
            assert_eq!(df, None);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, input);
        }
        assert!(!looks_like_archive(b"FROM busybox\nRUN true\n"));
    }
}
