//! Blob uploads: `POST` (start, monolithic, mount), `PATCH` (chunk), `PUT` (finish), `GET`
//! (where does it stand), `DELETE` (cancel). See the crate docs for the lifecycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_content::{Digest, Writer};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::Request;
use serde_json::json;
use tokio::sync::watch;

use crate::auth::Access;
use crate::body;
use crate::error::{Error, Result};
use crate::names;
use crate::server::{empty, http_err, query, query_get, resp, Ctx, Registry, Resp};

/// One upload in progress.
pub(crate) struct Upload {
    repo: String,
    /// `None` only while a blocking write holds it.
    writer: Option<Writer>,
    touched: Instant,
}

/// The uploads in progress, by id. Each has its own lock so one slow client stalls only itself.
/// Their data are resumable ingests of the store: an upload the map does not hold (the server
/// restarted) is taken up again from disk when its client comes back.
pub(crate) struct Uploads {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
    /// One resume from disk at a time, so two requests cannot both take up the same upload.
    resuming: tokio::sync::Mutex<()>,
    ttl: Duration,
    max: usize,
}

impl Uploads {
    pub(crate) fn new(ttl: Duration, max: usize) -> Uploads {
        Uploads {
            map: Mutex::new(HashMap::new()),
            resuming: tokio::sync::Mutex::new(()),
            ttl,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Upload>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn create(&self, reg: &Registry, repo: &str) -> Result<String> {
        if self.len() >= self.max {
            return Err(Error::TooManyRequests {
                retry_after: Duration::from_secs(1),
            });
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let writer = reg.store.resumable_writer(&ingest_ref(&id), repo)?;
        self.lock().insert(
            id.clone(),
            Arc::new(tokio::sync::Mutex::new(Upload {
                repo: repo.to_string(),
                writer: Some(writer),
                touched: Instant::now(),
            })),
        );
        Ok(id)
    }

    /// The upload `id` of repository `repo`, locked; an id of another repository is unknown
    /// here. Waits while another request of the same upload writes a chunk.
    async fn get(
        &self,
        reg: &Registry,
        repo: &str,
        id: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<Upload>> {
        let unknown = || Error::BlobUploadUnknown(json!({ "uuid": id }));
        let found = self.lock().get(id).cloned();
        let up = match found {
            Some(up) => up,
            None => self.resume(reg, repo, id).await?.ok_or_else(unknown)?,
        };
        let g = up.lock_owned().await;
        // Checked under the lock: the upload may also have been finished or cancelled while
        // this request waited.
        if g.repo != repo || !self.lock().contains_key(id) {
            return Err(unknown());
        }
        Ok(g)
    }

    /// Takes up upload `id` of `repo` from disk, where an earlier run of the server left it.
    async fn resume(
        &self,
        reg: &Registry,
        repo: &str,
        id: &str,
    ) -> Result<Option<Arc<tokio::sync::Mutex<Upload>>>> {
        // Ids are ours: anything else is not worth a look on disk.
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let _one = self.resuming.lock().await;
        if let Some(up) = self.lock().get(id).cloned() {
            return Ok(Some(up));
        }
        if self.len() >= self.max {
            return Err(Error::TooManyRequests {
                retry_after: Duration::from_secs(1),
            });
        }
        let (store, r) = (reg.store.clone(), ingest_ref(id));
        // Hashing what arrived so far reads the whole partial blob: off the async threads.
        let resumed = tokio::task::spawn_blocking(move || store.resume_writer(&r))
            .await
            .map_err(|e| Error::Internal(format!("resume task: {e}")))??;
        let Some((writer, label)) = resumed else {
            return Ok(None);
        };
        if label != repo {
            // Another repository's upload: left where it is, unknown here.
            return Ok(None);
        }
        let up = Arc::new(tokio::sync::Mutex::new(Upload {
            repo: label,
            writer: Some(writer),
            touched: Instant::now(),
        }));
        self.lock().insert(id.to_owned(), up.clone());
        Ok(Some(up))
    }

    /// Ends upload `id` and discards its data (`g` is its locked state).
    fn discard(&self, id: &str, g: &mut Upload) {
        self.lock().remove(id);
        if let Some(w) = g.writer.take() {
            w.abort();
        }
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Discards uploads idle for longer than the purge age, in memory and on disk. Uploads busy
    /// with a chunk are never idle.
    fn purge(&self) {
        let now = Instant::now();
        self.lock().retain(|_, up| match up.try_lock() {
            Ok(mut g) => {
                let keep = now.duration_since(g.touched) < self.ttl;
                if !keep {
                    if let Some(w) = g.writer.take() {
                        w.abort();
                    }
                }
                keep
            }
            Err(_) => true,
        });
    }
}

pub(crate) fn spawn_purger(reg: Arc<Registry>, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let every = (reg.uploads.ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
        purge_on_disk(&reg).await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    reg.uploads.purge();
                    purge_on_disk(&reg).await;
                }
                _ = stopped.changed() => return,
            }
        }
    });
}

/// Removes uploads that an earlier run left on disk and nobody took up within the purge age.
pub(crate) async fn purge_on_disk(reg: &Registry) {
    let (store, ttl) = (reg.store.clone(), reg.uploads.ttl);
    let removed = tokio::task::spawn_blocking(move || store.remove_stale_resumable(ttl)).await;
    match removed {
        Ok(Ok(refs)) if !refs.is_empty() => {
            tracing::info!(count = refs.len(), "purged abandoned uploads")
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("purging abandoned uploads: {e}"),
        Err(e) => tracing::warn!("purging abandoned uploads: {e}"),
    }
}

/// The store's ingest reference of upload `id`.
fn ingest_ref(id: &str) -> String {
    format!("upload-{id}")
}

fn location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The `Range` header of an upload holding `n` bytes: distribution sends `0-0` for none.
fn range(n: u64) -> String {
    format!("0-{}", n.saturating_sub(1))
}

fn accepted(name: &str, id: &str, n: u64, status: u16) -> Result<Resp> {
    resp(status)
        .header("Location", location(name, id))
        .header("Range", range(n))
        .header("Docker-Upload-UUID", id)
        .header(CONTENT_LENGTH, 0)
        .body(empty())
        .map_err(http_err)
}

pub(crate) fn created(name: &str, digest: &Digest) -> Result<Resp> {
    resp(201)
        .header("Location", format!("/v2/{name}/blobs/{digest}"))
        .header("Docker-Content-Digest", digest.as_str())
        .header(CONTENT_LENGTH, 0)
        .body(empty())
        .map_err(http_err)
}

/// Verifies and commits a finished upload, then links it into the repository. Holds the GC
/// gate so a concurrent sweep either finishes before (and the blob is written anew) or starts
/// after (and sees the blob as just touched).
pub(crate) async fn commit(
    reg: &Registry,
    name: &str,
    writer: Writer,
    digest: &Digest,
) -> Result<()> {
    let _gate = reg.gc.hold().await;
    let repos = reg.repos.clone();
    let (d, n) = (digest.clone(), name.to_string());
    tokio::task::spawn_blocking(move || -> Result<()> {
        writer.commit(None, Some(&d))?;
        repos.link_layer(&n, &d)
    })
    .await
    .map_err(|e| Error::Internal(format!("commit task: {e}")))??;
    reg.gc.touch(digest);
    Ok(())
}

pub(crate) async fn start(
    reg: &Arc<Registry>,
    name: &str,
    req: Request<Incoming>,
    ctx: &Ctx,
) -> Result<Resp> {
    let q = query(&req);
    if let (Some(mount), Some(from)) = (query_get(&q, "mount"), query_get(&q, "from")) {
        let digest = names::parse_digest(mount)?;
        // A mount the client may not read from, or of a blob the source lacks, silently
        // becomes an ordinary upload, as in distribution.
        let may_read = names::check_name(from).is_ok()
            && reg.auth.as_ref().is_none_or(|a| {
                a.authorize(
                    req.headers(),
                    &[Access::new("repository", from, "pull")],
                    ctx.tls,
                )
                .is_ok()
            });
        if may_read && reg.repos.has_layer(from, &digest) && reg.store.exists(&digest) {
            let _gate = reg.gc.hold().await;
            if reg.store.exists(&digest) {
                reg.repos.link_layer(name, &digest)?;
                reg.gc.touch(&digest);
                return created(name, &digest);
            }
        }
    }
    if let Some(d) = query_get(&q, "digest") {
        let digest = names::parse_digest(d)?;
        let mut writer = Some(
            reg.store
                .writer(&format!("upload-{:032x}", rand::random::<u128>()))?,
        );
        body::write_to(req.into_body(), &mut writer, reg.idle).await?;
        let writer = writer.ok_or_else(|| Error::Internal("writer lost".into()))?;
        commit(reg, name, writer, &digest).await?;
        return created(name, &digest);
    }
    let id = reg.uploads.create(reg, name)?;
    accepted(name, &id, 0, 202)
}

pub(crate) async fn status(reg: &Registry, name: &str, id: &str) -> Result<Resp> {
    let g = reg.uploads.get(reg, name, id).await?;
    let n = g.writer.as_ref().map_or(0, Writer::written);
    accepted(name, id, n, 204)
}

/// Parses `Content-Range` of a chunk: `<start>-<end>`, also with distribution's tolerated
/// `bytes ` / `bytes=` prefixes and a `/<total>` suffix.
fn content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes=")
        .or_else(|| v.strip_prefix("bytes "))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

pub(crate) async fn patch(
    reg: &Registry,
    name: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Resp> {
    let mut g = reg.uploads.get(reg, name, id).await?;
    let have = g.writer.as_ref().map_or(0, Writer::written);
    let out_of_order = || Error::RangeInvalid {
        header: "Range",
        range: range(have),
    };
    if let Some(v) = req.headers().get("Content-Range") {
        let (start, end) = v
            .to_str()
            .ok()
            .and_then(content_range)
            .ok_or_else(out_of_order)?;
        if start != have {
            return Err(out_of_order());
        }
        let len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if len.is_some_and(|l| l != end - start + 1) {
            return Err(out_of_order());
        }
    }
    g.touched = Instant::now();
    let r = body::write_to(req.into_body(), &mut g.writer, reg.idle).await;
    g.touched = Instant::now();
    r?;
    let n = g.writer.as_ref().map_or(0, Writer::written);
    accepted(name, id, n, 202)
}

pub(crate) async fn finish(
    reg: &Registry,
    name: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Resp> {
    let mut g = reg.uploads.get(reg, name, id).await?;
    let q = query(&req);
    let digest = names::parse_digest(
        query_get(&q, "digest").ok_or_else(|| Error::DigestInvalid("digest missing".into()))?,
    )?;
    g.touched = Instant::now();
    body::write_to(req.into_body(), &mut g.writer, reg.idle).await?;
    let writer = g
        .writer
        .take()
        .ok_or_else(|| Error::Internal("writer lost".into()))?;
    // The upload ends here whatever the verdict: a wrong digest discards the data.
    reg.uploads.remove(id);
    drop(g);
    commit(reg, name, writer, &digest).await?;
    created(name, &digest)
}

pub(crate) async fn cancel(reg: &Registry, name: &str, id: &str) -> Result<Resp> {
    let mut g = reg.uploads.get(reg, name, id).await?;
    reg.uploads.discard(id, &mut g);
    resp(204)
        .header(CONTENT_LENGTH, 0)
        .body(empty())
        .map_err(http_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("0-9"), Some((0, 9)));
        assert_eq!(content_range("bytes=10-19"), Some((10, 19)));
        assert_eq!(content_range("bytes 10-19/20"), Some((10, 19)));
        assert_eq!(content_range("9-0"), None);
        assert_eq!(content_range("x"), None);
        assert_eq!(range(0), "0-0");
        assert_eq!(range(10), "0-9");
    }
}
