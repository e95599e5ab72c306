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
    /// previous process left unfinished (they can never be committed now).
    pub fn open(data_root: &Path) -> Result<Store> {
        let root = data_root.join("content");
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
        fs::create_dir_all(&ingest).map_err(Error::io(&ingest))?;
        for entry in fs::read_dir(&ingest).map_err(Error::io(&ingest))? {
            let path = entry.map_err(Error::io(&ingest))?.path();
            fs::remove_dir_all(&path).map_err(Error::io(&path))?;
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
        })
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
/// uncommitted removes the partial data.
pub struct Writer {
    store: Store,
    dir: PathBuf,
    data: PathBuf,
    inner: Option<DigestWriter<File>>,
}

impl Writer {
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
        // Whether committed, failed or abandoned, the ingest directory has served its purpose.
        let _ = fs::remove_dir_all(&self.dir);
    }
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
    fn list_ignores_foreign_files() {
        let (dir, s) = store();
        fs::write(dir.path().join("content/blobs/sha256/not-a-digest"), b"x").unwrap();
        assert!(s.list().unwrap().is_empty());
    }
}
