//! The on-disk store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};

/// What the store knows about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub digest: Digest,
    pub size: u64,
}

/// The content store rooted at `<data-root>/content`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl Store {
    /// Opens the store under `data_root`, creating its directories, and discards every ingest a
    /// previous process left unfinished (they can never be committed now) but the resumable
    /// ones.
    pub fn open(data_root: &Path) -> Result<Store> {
        let root = data_root.join("content");
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
        fs::create_dir_all(&ingest).map_err(Error::io(&ingest))?;
        for entry in fs::read_dir(&ingest).map_err(Error::io(&ingest))? {
            let path = entry.map_err(Error::io(&ingest))?.path();
            // A resumable ingest is one whose `label` made it to disk (it is written last).
            if !path.join(LABEL).is_file() {
                fs::remove_dir_all(&path).map_err(Error::io(&path))?;
            }
        }
        Ok(Store { blobs, ingest })
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Whether the blob exists.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a blob.
    pub fn info(&self, digest: &Digest) -> Result<Info> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(Info {
                digest: digest.clone(),
                size: m.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(digest.clone())),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    /// Opens a blob for reading.
    pub fn reader(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(digest.clone()),
            _ => Error::io(&path)(e),
        })
    }

    /// Reads a whole blob into memory, refusing blobs above `limit` bytes (manifests and configs
    /// are small; a hostile one must not exhaust memory).
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let info = self.info(digest)?;
        if info.size > limit {
            return Err(Error::TooLarge {
                digest: digest.clone(),
                size: info.size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(info.size as usize);
        let path = self.blob_path(digest);
        self.reader(digest)?
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(Error::io(&path))?;
        Ok(buf)
    }

    /// Removes a blob; [`Error::NotFound`] if absent.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        fs::remove_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(digest.clone()),
            _ => Error::io(&path)(e),
        })
    }

    /// Every blob in the store. Files whose names are not digests are skipped.
    pub fn list(&self) -> Result<Vec<Info>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blobs).map_err(Error::io(&self.blobs))? {
            let entry = entry.map_err(Error::io(&self.blobs))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(digest) = Digest::parse(&format!("sha256:{name}")) else {
                continue;
            };
            let meta = entry.metadata().map_err(Error::io(entry.path()))?;
            if meta.is_file() {
                out.push(Info {
                    digest,
                    size: meta.len(),
                });
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Starts writing a blob under ingest ref `reference`. Fails with [`Error::IngestInUse`] while
    /// another writer holds the same ref.
    pub fn writer(&self, reference: &str) -> Result<Writer> {
        // The ref is caller-chosen text; its hash makes a safe, fixed-length directory name.
        let dir = self.ingest.join(Digest::of(reference.as_bytes()).hex());
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::IngestInUse(reference.to_string()))
            }
            Err(e) => return Err(Error::io(&dir)(e)),
        }
        let data = dir.join("data");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&data)
            .map_err(|e| {
                let _ = fs::remove_dir_all(&dir);
                Error::io(&data)(e)
            });
        Ok(Writer {
            store: self.clone(),
            dir,
            data,
            inner: Some(DigestWriter::new(file?)),
            keep: false,
        })
    }

    /// Starts a *resumable* ingest under `reference`, tagged with `label` (whatever the caller
    /// needs to know again when resuming, e.g. the repository of an upload). Unlike
    /// [`Store::writer`], dropping the writer keeps what was written, across restarts too,
    /// until it is committed, [`Writer::abort`]ed or removed as stale.
    pub fn resumable_writer(&self, reference: &str, label: &str) -> Result<Writer> {
        let mut w = self.writer(reference)?;
        w.lock()?;
        // The label goes last: an ingest without one is not resumable and is discarded at
        // the next open, so a crash in between leaves nothing half-made.
        write_synced(&w.dir.join(REFERENCE), reference.as_bytes())?;
        write_synced(&w.dir.join(LABEL), label.as_bytes())?;
        w.keep = true;
        Ok(w)
    }

    /// Reopens the resumable ingest `reference` where it stopped (the bytes so far are hashed
    /// again); `None` when there is none. [`Error::IngestInUse`] while a writer holds it.
    pub fn resume_writer(&self, reference: &str) -> Result<Option<(Writer, String)>> {
        let dir = self.ingest.join(Digest::of(reference.as_bytes()).hex());
        let label = match fs::read(dir.join(LABEL)) {
            Ok(l) => String::from_utf8_lossy(&l).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(dir.join(LABEL))(e)),
        };
        let data = dir.join("data");
        let file = match OpenOptions::new().append(true).open(&data) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&data)(e)),
        };
        try_lock(&file, reference)?;
        let already = File::open(&data).map_err(Error::io(&data))?;
        let inner =
            DigestWriter::resume(file, io::BufReader::new(already)).map_err(Error::io(&data))?;
        let w = Writer {
            store: self.clone(),
            dir,
            data,
            inner: Some(inner),
            keep: true,
        };
        Ok(Some((w, label)))
    }

    /// Removes resumable ingests untouched for longer than `age` that no writer holds; returns
    /// their references.
    pub fn remove_stale_resumable(&self, age: std::time::Duration) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.ingest).map_err(Error::io(&self.ingest))? {
            let dir = entry.map_err(Error::io(&self.ingest))?.path();
            let (Ok(reference), Ok(data)) = (
                fs::read_to_string(dir.join(REFERENCE)),
                File::open(dir.join("data")),
            ) else {
                continue;
            };
            let idle = data
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            if idle > age && try_lock(&data, &reference).is_ok() {
                fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
                removed.push(reference);
            }
        }
        Ok(removed)
    }

    /// Writes `data` as a blob (verifying it against `expected` if given) and returns its digest.
    pub fn write_blob(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let digest = Digest::of(data);
        if let Some(exp) = expected {
            if *exp != digest {
                return Err(Error::DigestMismatch {
                    expected: exp.clone(),
                    actual: digest,
                });
            }
        }
        if self.exists(&digest) {
            return Ok(digest);
        }
        let mut w = self.writer(&format!("write-blob-{digest}-{}", unique_suffix()))?;
        w.write_all(data).map_err(Error::io(&w.data))?;
        w.commit(Some(data.len() as u64), Some(&digest))
    }

    /// Copies a stream into the store as a blob, verifying it if `expected` is given.
    pub fn ingest_reader(
        &self,
        reference: &str,
        mut src: impl Read,
        expected: Option<(&Digest, u64)>,
    ) -> Result<Digest> {
        let mut w = self.writer(reference)?;
        io::copy(&mut src, &mut w).map_err(Error::io(&w.data))?;
        w.commit(expected.map(|e| e.1), expected.map(|e| e.0))
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An in-progress blob write. Implements [`Write`]; finish with [`Writer::commit`]. Dropping it
/// uncommitted removes the partial data, unless it is resumable.
pub struct Writer {
    store: Store,
    dir: PathBuf,
    data: PathBuf,
    inner: Option<DigestWriter<File>>,
    /// Resumable: the ingest outlives the writer.
    keep: bool,
}

/// Files of a resumable ingest beside `data`.
const REFERENCE: &str = "ref";
const LABEL: &str = "label";

impl Writer {
    /// Holds the ingest against other writers (of this or another process) while it lives:
    /// the lock goes with the file when the writer is dropped or the process dies.
    fn lock(&self) -> Result<()> {
        match self.inner.as_ref() {
            Some(w) => try_lock(w.get_ref(), &self.dir.display().to_string()),
            None => Ok(()),
        }
    }

    /// Reads the bytes written so far from their start (a resumed writer's earlier part).
    pub fn read_so_far(&self) -> Result<File> {
        File::open(&self.data).map_err(Error::io(&self.data))
    }

    /// Discards the ingest (resumable or not).
    pub fn abort(mut self) {
        self.keep = false;
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.written())
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.inner
            .as_ref()
            .map_or_else(|| Digest::of(b""), |w| w.digest())
    }

    /// Verifies size and digest (when given), makes the data durable and moves it to its name.
    /// Committing content the store already has succeeds and discards the duplicate.
    pub fn commit(mut self, size: Option<u64>, expected: Option<&Digest>) -> Result<Digest> {
        // Committed or refused, a write is over: nothing of it is kept to resume.
        self.keep = false;
        let Some(inner) = self.inner.take() else {
            unreachable!("inner is only taken by commit, which consumes self")
        };
        let (digest, written, file) = inner.finish();
        if let Some(expected) = size {
            if expected != written {
                return Err(Error::SizeMismatch {
                    expected,
                    actual: written,
                });
            }
        }
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(Error::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let target = self.store.blob_path(&digest);
        if target.is_file() {
            return Ok(digest);
        }
        file.sync_all().map_err(Error::io(&self.data))?;
        drop(file);
        // Blobs are immutable: make that visible in their mode too.
        set_readonly(&self.data)?;
        fs::rename(&self.data, &target).map_err(Error::io(&target))?;
        sync_dir(&self.store.blobs)?;
        Ok(digest)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("writer already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Whether committed, failed or abandoned, the ingest directory has served its purpose
        // — unless it is resumable and still open.
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Takes the ingest's exclusive lock without waiting.
fn try_lock(file: &File, what: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Err(Error::IngestInUse(what.to_string()))
    } else {
        Err(Error::Io {
            path: what.to_string(),
            source: e,
        })
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(Error::io(path))?;
    f.write_all(data).map_err(Error::io(path))?;
    f.sync_all().map_err(Error::io(path))
}

fn set_readonly(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o444)).map_err(Error::io(path))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn write_read_list_delete() {
        let (dir, s) = store();
        let d = s.write_blob(b"hello", None).unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert!(dir
            .path()
            .join("content/blobs/sha256")
            .join(d.hex())
            .is_file());
        assert!(s.exists(&d));
        assert_eq!(s.info(&d).unwrap().size, 5);
        assert_eq!(s.read_blob(&d, 100).unwrap(), b"hello");
        assert!(matches!(s.read_blob(&d, 4), Err(Error::TooLarge { .. })));
        let mut buf = String::new();
        s.reader(&d).unwrap().read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "hello");
        // Writing the same content again is a no-op.
        assert_eq!(s.write_blob(b"hello", Some(&d)).unwrap(), d);
        assert_eq!(
            s.list().unwrap(),
            vec![Info {
                digest: d.clone(),
                size: 5
            }]
        );
        s.delete(&d).unwrap();
        assert!(!s.exists(&d));
        assert!(matches!(s.delete(&d), Err(Error::NotFound(_))));
        assert!(matches!(s.reader(&d), Err(Error::NotFound(_))));
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn verification_failures_leave_nothing() {
        let (dir, s) = store();
        let want = Digest::of(b"expected");
        let mut w = s.writer("r1").unwrap();
        w.write_all(b"something else").unwrap();
        assert!(matches!(
            w.commit(None, Some(&want)),
            Err(Error::DigestMismatch { .. })
        ));
        let mut w = s.writer("r1").unwrap();
        w.write_all(b"expected").unwrap();
        assert!(matches!(
            w.commit(Some(3), Some(&want)),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
        assert!(matches!(
            s.write_blob(b"x", Some(&want)),
            Err(Error::DigestMismatch { .. })
        ));

        let d = s
            .ingest_reader("r2", &b"expected"[..], Some((&want, 8)))
            .unwrap();
        assert_eq!(d, want);
    }

    #[test]
    fn one_writer_per_ref_and_abandon_cleans_up() {
        let (dir, s) = store();
        let mut w = s.writer("same").unwrap();
        assert!(matches!(s.writer("same"), Err(Error::IngestInUse(_))));
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(
            fs::read_dir(dir.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
        assert!(s.list().unwrap().is_empty());
        s.writer("same").unwrap();
    }

    #[test]
    fn leftover_ingest_is_cleaned_at_open() {
        let (dir, s) = store();
        let mut w = s.writer("crash").unwrap();
        w.write_all(b"half").unwrap();
        // Simulate a crash: the process dies without running destructors.
        std::mem::forget(w);
        let ingest = dir.path().join("content/ingest");
        assert_eq!(fs::read_dir(&ingest).unwrap().count(), 1);
        let s2 = Store::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(&ingest).unwrap().count(), 0);
        assert!(s2.list().unwrap().is_empty());
    }

    #[test]
    fn resumable_ingest_survives_its_writer_and_a_reopen() {
        let (dir, s) = store();
        let mut w = s.resumable_writer("upload-1", "library/app").unwrap();
        w.write_all(b"hello ").unwrap();
        // While it is open nobody else may resume it.
        assert!(matches!(
            s.resume_writer("upload-1"),
            Err(Error::IngestInUse(_))
        ));
        drop(w);
        // A restart keeps it (an ordinary ingest beside it goes).
        let mut plain = s.writer("plain").unwrap();
        plain.write_all(b"x").unwrap();
        std::mem::forget(plain);
        let s = Store::open(dir.path()).unwrap();
        let ingest = dir.path().join("content/ingest");
        assert_eq!(fs::read_dir(&ingest).unwrap().count(), 1);
        let (mut w, label) = s.resume_writer("upload-1").unwrap().unwrap();
        assert_eq!(label, "library/app");
        assert_eq!(w.written(), 6);
        w.write_all(b"world").unwrap();
        let d = w
            .commit(Some(11), Some(&Digest::of(b"hello world")))
            .unwrap();
        assert_eq!(s.read_blob(&d, 100).unwrap(), b"hello world");
        assert_eq!(
            fs::read_dir(&ingest).unwrap().count(),
            0,
            "commit clears it"
        );
        assert!(s.resume_writer("upload-1").unwrap().is_none());
    }

    #[test]
    fn resumable_ingests_abort_and_go_stale() {
        let (dir, s) = store();
        let ingest = dir.path().join("content/ingest");
        let w = s.resumable_writer("a", "").unwrap();
        w.abort();
        assert_eq!(fs::read_dir(&ingest).unwrap().count(), 0);
        let held = s.resumable_writer("held", "").unwrap();
        drop(s.resumable_writer("idle", "").unwrap());
        let removed = s.remove_stale_resumable(std::time::Duration::ZERO).unwrap();
        // The one a writer holds stays, however old.
        assert_eq!(removed, vec!["idle".to_string()]);
        drop(held);
        assert_eq!(
            s.remove_stale_resumable(std::time::Duration::from_secs(3600))
                .unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn list_ignores_foreign_files() {
        let (dir, s) = store();
        fs::write(dir.path().join("content/blobs/sha256/not-a-digest"), b"x").unwrap();
        assert!(s.list().unwrap().is_empty());
    }
}
