//! Pull: manifest (an index resolved to one platform) → config → every missing layer
//! downloaded in parallel, each streaming through the content store's hashing writer while the
//! layer below it unpacks → layers unpacked in parent-before-child order, each straight from its
//! download stream (decompression sniffed by magic, diff ID computed in the same pass) → image
//! recorded. Nothing is recorded unless every digest and diff ID checked out; a failed pull takes
//! back the blobs and layers it added.
//!
//! Two pulls that need the same blob at the same time download it once: the second waits for
//! the first and unpacks from the stored blob. A download whose connection breaks resumes with
//! an HTTP `Range` request where it stopped.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use berth_content::Digest;
use berth_image::oci::{self, Descriptor};
use berth_image::platform::Platform;
use berth_image::{ImageStore, Ingest, Reference, TagOutcome};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{LOCATION, RANGE};
use hyper::{Method, StatusCode};

use crate::error::{Error, Result};
use crate::manifest::{self, Fetched};
use crate::progress::{self, Sink};
use crate::registry::{Client, Credentials, Repository};
use crate::transport::{self, Endpoint};

/// Compressed bytes of one layer buffered for its unpacker before the unpacker starts; past
/// this the unpacker reads the stored blob instead once the download is complete.
const SPOOL_CAP: usize = 32 << 20;
/// How often a layer's progress bar is updated.
const TICK: Duration = Duration::from_millis(100);
/// What becomes of a download's resumable ingest once the transfer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// All bytes arrived: verify and commit.
    Complete,
    /// Interrupted: keep what arrived for the next pull.
    Keep,
    /// Interrupted in a way resuming cannot mend: start over next time.
    Discard,
}

/// Attempts to resume a broken download.
const RESUMES: usize = 3;
/// Largest config document accepted.
const MAX_CONFIG: usize = 16 << 20;

/// Pulls images into an [`ImageStore`]. One per daemon: it holds the in-flight downloads.
pub struct Puller {
    client: Arc<Client>,
    store: Arc<ImageStore>,
    inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

/// A pull whose manifest has been found: [`Puller::run`] does the rest.
pub struct Plan {
    repo: Repository,
    reference: Reference,
    /// What the registry's tag or digest pointed at (an index or a manifest).
    top: Fetched,
    /// The image manifest chosen.
    image: Fetched,
    manifest: oci::Manifest,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// `sha256:` image ID.
    pub id: String,
    /// The digest the reference resolved to (`Digest:` line).
    pub digest: String,
    /// Whether anything changed (`Downloaded newer image` rather than `Image is up to date`).
    pub newer: bool,
}

impl Puller {
    pub fn new(client: Arc<Client>, store: Arc<ImageStore>) -> Arc<Puller> {
        Arc::new(Puller {
            client,
            store,
            inflight: Mutex::new(HashMap::new()),
        })
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Finds the manifest `reference` names for `platform` (the host's if `None`), through the
    /// registry's mirrors first if it has any. Errors here come before any progress output, so
    /// the API can still answer them with an HTTP status.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platform: Option<&Platform>,
        creds: Option<Credentials>,
    ) -> Result<Plan> {
        let mirrors = self
            .client
            .config
            .mirrors
            .get(&reference.domain)
            .cloned()
            .unwrap_or_default();
        for m in mirrors {
            let Ok((ep, _)) = Endpoint::from_url(&m) else {
                continue;
            };
            // A mirror that is down or lacks the image is skipped, as Docker does.
            match self.resolve_at(Some(ep), reference, platform, None).await {
                Ok(p) => return Ok(p),
                Err(e) => tracing::debug!("mirror {m} for {reference}: {e}"),
            }
        }
        self.resolve_at(None, reference, platform, creds).await
    }

    async fn resolve_at(
        &self,
        ep: Option<Endpoint>,
        reference: &Reference,
        platform: Option<&Platform>,
        creds: Option<Credentials>,
    ) -> Result<Plan> {
        let repo = match ep {
            Some(ep) => {
                self.client
                    .repository_at(ep, &reference.path, creds, false)
                    .await?
            }
            None => {
                self.client
                    .repository(&reference.domain, &reference.path, creds, false)
                    .await?
            }
        };
        let what = reference.to_string();
        let what = what
            .strip_prefix("docker.io/")
            .map_or(what.clone(), |w| format!("docker.io/{w}"));
        let name = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let top = manifest::fetch(&repo, &name, &what).await?;
        let image = if oci::is_index(&top.media_type) {
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let d = manifest::choose(&top, &want)?;
            let f = manifest::fetch(&repo, &d.digest, &what).await?;
            if oci::is_index(&f.media_type) {
                return Err(Error::InvalidManifest(format!(
                    "index {} names another index",
                    top.digest
                )));
            }
            f
        } else {
            top.clone()
        };
        let manifest = manifest::parse_manifest(&image)?;
        Ok(Plan {
            repo,
            reference: reference.clone(),
            top,
            image,
            manifest,
        })
    }

    /// The tags of `reference`'s repository (`pull --all-tags`).
    pub async fn tags(
        &self,
        reference: &Reference,
        creds: Option<Credentials>,
    ) -> Result<Vec<String>> {
        let repo = self
            .client
            .repository(&reference.domain, &reference.path, creds, false)
            .await?;
        let r = repo
            .send(Method::GET, &repo.url("tags/list"), &[], None)
            .await?;
        if !r.status().is_success() {
            return Err(repo
                .fail(&format!("repository {}", reference.repository()), r)
                .await);
        }
        let body = transport::read_body(r.into_body(), 16 << 20).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Registry(format!("tag list: {e}")))?;
        Ok(v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Downloads, verifies and records the planned image, reporting progress on `sink`, ending
    /// with the `Status:` line unless `status` is false (`--all-tags` prints one at the end).
    pub async fn run(self: &Arc<Self>, plan: Plan, sink: &Sink, status: bool) -> Result<Pulled> {
        let Plan {
            repo,
            reference,
            top,
            image,
            manifest,
        } = plan;
        let repo = Arc::new(repo);
        // dockerd names the pull by its tag, or by the whole reference when it has a digest.
        let line_id = match &reference.digest {
            Some(d) => format!("{}@{d}", reference.familiar_repository()),
            None => reference.tag.clone().unwrap_or_default(),
        };
        let _ = sink.send(progress::status(
            Some(&line_id),
            &format!("Pulling from {}", reference.path),
        ));

        let config_digest = parse_digest(&manifest.config.digest)?;
        let ingest = self.store.begin_ingest();
        let config_bytes = fetch_small(&repo, &config_digest, MAX_CONFIG).await?;
        let (config, diff_ids) = ImageStore::parse_config(&config_digest, &config_bytes)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(Error::InvalidManifest(format!(
                "manifest {} lists {} layers but its config has {} diff IDs",
                image.digest,
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let layers: Vec<Digest> = manifest
            .layers
            .iter()
            .map(|l| parse_digest(&l.digest))
            .collect::<Result<_>>()?;

        let mut chains = Vec::new();
        let mut parent: Option<String> = None;
        for d in &diff_ids {
            let c = berth_image::chain_id(parent.as_deref(), d.as_str());
            chains.push(c.clone());
            parent = Some(c);
        }
        let complete = self.store.has_image(config_digest.as_str())?;
        // Layers already unpacked: a prefix of the stack (a chain implies its parents).
        let mut have = 0;
        let mut size = 0i64;
        while have < chains.len() {
            match self.store.layer_size(&chains[have])? {
                Some(s) => {
                    size = size.saturating_add(s);
                    have += 1;
                }
                None => break,
            }
        }
        if !complete || have < chains.len() {
            for (i, l) in manifest.layers.iter().enumerate() {
                let id = progress::short(&l.digest);
                let s = if i < have {
                    "Already exists"
                } else {
                    "Pulling fs layer"
                };
                let _ = sink.send(progress::layer(&id, s));
            }
        }

        ingest.put_blob(&top.bytes, &top.digest)?;
        if image.digest != top.digest {
            ingest.put_blob(&image.bytes, &image.digest)?;
        }
        ingest.put_blob(&config_bytes, &config_digest)?;

        let ingest = if have < chains.len() {
            let (ingest, unpacked) = self
                .fetch_layers(
                    &repo,
                    &manifest.layers[have..],
                    &layers[have..],
                    &diff_ids[have..],
                    chains[..have].last().cloned(),
                    have,
                    config_digest.as_str(),
                    ingest,
                    sink,
                )
                .await?;
            size = size.saturating_add(unpacked);
            ingest
        } else {
            ingest
        };

        let store_ingest = ingest;
        let top_chain = chains.last().cloned();
        let cfg = config.clone();
        let id = config_digest.clone();
        let manifest_digest = image.digest.clone();
        let reference2 = reference.clone();
        let repo_digest = top.digest.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            store_ingest.finish(
                &id,
                &cfg,
                top_chain.as_deref(),
                size,
                &manifest_digest,
                &reference2,
                &repo_digest,
            )
        })
        .await
        .map_err(|e| Error::Internal(format!("pull task: {e}")))??;
        let newer = !complete
            || have < chains.len()
            || !matches!(outcome, TagOutcome::Unchanged | TagOutcome::None);
        let _ = sink.send(progress::status(None, &format!("Digest: {}", top.digest)));
        let shown = match &reference.digest {
            Some(d) => format!("{}@{d}", reference.familiar_repository()),
            None => reference.familiar(),
        };
        if !status {
            return Ok(Pulled {
                id: config_digest.to_string(),
                digest: top.digest.to_string(),
                newer,
            });
        }
        let _ = sink.send(progress::status(
            None,
            &if newer {
                format!("Status: Downloaded newer image for {shown}")
            } else {
                format!("Status: Image is up to date for {shown}")
            },
        ));
        Ok(Pulled {
            id: config_digest.to_string(),
            digest: top.digest.to_string(),
            newer,
        })
    }

    /// Downloads `descs` in parallel and unpacks them in order on top of `parent`; returns the
    /// ingest and the layers' total unpacked size.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_layers(
        self: &Arc<Self>,
        repo: &Arc<Repository>,
        descs: &[Descriptor],
        digests: &[Digest],
        diff_ids: &[Digest],
        parent: Option<String>,
        first_index: usize,
        image_id: &str,
        ingest: Ingest,
        sink: &Sink,
    ) -> Result<(Ingest, i64)> {
        let mut spools = Vec::new();
        let mut downloads = tokio::task::JoinSet::new();
        // Blobs this pull stored, taken back if it fails.
        let stored: Arc<Mutex<Vec<Digest>>> = Arc::default();
        // Tells downloads to stop when the pull fails; they then clean up after themselves.
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        for (desc, digest) in descs.iter().zip(digests) {
            let spool = Arc::new(Spool::default());
            spools.push(spool.clone());
            let me = self.clone();
            let repo = repo.clone();
            let digest = digest.clone();
            let size = desc.size.max(0) as u64;
            let sink = sink.clone();
            let content = ingest.content().clone();
            let stored = stored.clone();
            let cancelled = cancelled.clone();
            downloads.spawn(async move {
                let r = me
                    .download(
                        &repo, &digest, size, &spool, &content, &stored, cancelled, &sink,
                    )
                    .await;
                if let Err(e) = &r {
                    spool.finish(Err(e.to_string()));
                }
                r
            });
        }

        let all_spools = spools.clone();
        let jobs: Vec<(Arc<Spool>, Digest, Digest, u64)> = spools
            .into_iter()
            .zip(digests.iter().cloned())
            .zip(diff_ids.iter().cloned())
            .zip(descs.iter().map(|d| d.size.max(0) as u64))
            .map(|(((s, d), diff), size)| (s, d, diff, size))
            .collect();
        let image_id = image_id.to_string();
        let unpack_sink = sink.clone();
        let mut unpacker = tokio::task::spawn_blocking(move || -> Result<(Ingest, i64)> {
            let mut parent = parent;
            let mut total = 0i64;
            for (i, (spool, digest, diff_id, size)) in jobs.into_iter().enumerate() {
                let id = progress::short(digest.as_str());
                let reader = SpoolReader::new(spool.clone(), ingest.content().clone(), digest);
                let reader = Counting::new(reader, &id, size, spool, unpack_sink.clone());
                let (chain, s) = ingest.unpack(
                    reader,
                    parent.as_deref(),
                    &diff_id,
                    &image_id,
                    first_index + i,
                )?;
                let _ = unpack_sink.send(progress::layer(&id, "Pull complete"));
                total = total.saturating_add(s);
                parent = Some(chain);
            }
            Ok((ingest, total))
        });

        // Whichever fails first fails the pull; the other side is stopped.
        let mut result: Option<(Ingest, i64)> = None;
        let mut unpack_done = false;
        let mut failure: Option<Error> = None;
        while failure.is_none() && (!unpack_done || !downloads.is_empty()) {
            tokio::select! {
                r = &mut unpacker, if !unpack_done => {
                    unpack_done = true;
                    match r {
                        Ok(Ok(v)) => result = Some(v),
                        Ok(Err(e)) => failure = Some(e),
                        Err(e) => failure = Some(Error::Internal(format!("unpack task: {e}"))),
                    }
                }
                Some(r) = downloads.join_next(), if !downloads.is_empty() => {
                    match r {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => failure = Some(e),
                        Err(e) => failure = Some(Error::Internal(format!("download task: {e}"))),
                    }
                }
            }
        }
        if let Some(e) = failure {
            let _ = cancel.send(true);
            while downloads.join_next().await.is_some() {}
            // Downloads that never started end their spools here, so the unpacker stops.
            for sp in &all_spools {
                sp.finish(Err("the pull failed".into()));
            }
            // The unpacker sees its spool fail and returns; its ingest rolls back on drop.
            if !unpack_done {
                let _ = unpacker.await;
            }
            let stored = std::mem::take(&mut *stored.lock().unwrap_or_else(|p| p.into_inner()));
            for d in stored {
                let _ = self.store.content().delete(&d);
            }
            return Err(e);
        }
        result.ok_or_else(|| Error::Internal("unpack produced nothing".into()))
    }

    /// Downloads blob `digest` into the content store, feeding `spool` as bytes arrive.
    /// A blob it adds is listed in `stored`.
    #[allow(clippy::too_many_arguments)]
    async fn download(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        spool: &Arc<Spool>,
        content: &berth_content::Store,
        stored: &Mutex<Vec<Digest>>,
        mut cancelled: tokio::sync::watch::Receiver<bool>,
        sink: &Sink,
    ) -> Result<()> {
        let id = progress::short(digest.as_str());
        let lock = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.clone())
            .or_default()
            .clone();
        let _guard = tokio::select! {
            g = lock.lock() => g,
            _ = cancelled.changed() => return Err(Error::Internal("the pull failed".into())),
        };
        if content.exists(digest) {
            spool.finish_stored();
            let _ = sink.send(progress::layer(&id, "Download complete"));
            return Ok(());
        }

        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        let (resumed_tx, resumed_rx) = tokio::sync::oneshot::channel::<u64>();
        let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel::<Outcome>();
        let writer_spool = spool.clone();
        let writer_content = content.clone();
        let writer_digest = digest.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<()> {
            use std::io::{Read, Write};
            // Resumable: what an interrupted pull (even a killed daemon) downloaded is kept,
            // and the next pull of this blob goes on from there.
            let reference = format!("pull-{}", writer_digest.hex());
            let mut w = match writer_content.resume_writer(&reference)? {
                Some((w, _)) if w.written() <= size => w,
                Some((w, _)) => {
                    w.abort();
                    writer_content.resumable_writer(&reference, "")?
                }
                None => writer_content.resumable_writer(&reference, "")?,
            };
            let have = w.written();
            if have > 0 {
                // The unpacker needs the whole stream: replay the part already here.
                let mut earlier = w.read_so_far()?.take(have);
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = earlier
                        .read(&mut buf)
                        .map_err(|e| Error::Internal(format!("reading a partial blob: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    writer_spool.push(Bytes::copy_from_slice(&buf[..n]));
                }
            }
            let _ = resumed_tx.send(have);
            while let Some(b) = rx.blocking_recv() {
                w.write_all(&b)
                    .map_err(|e| Error::Internal(format!("writing blob: {e}")))?;
                writer_spool.push(b);
            }
            // No verdict: the download was dropped mid-way (its pull was abandoned).
            match outcome_rx.blocking_recv().unwrap_or(Outcome::Discard) {
                Outcome::Complete => {}
                // Dropped, the resumable ingest stays for the next pull.
                Outcome::Keep => return Err(Error::Internal("the download stopped".into())),
                Outcome::Discard => {
                    w.abort();
                    return Err(Error::Internal("the download stopped".into()));
                }
            }
            w.commit(Some(size), Some(&writer_digest))?;
            Ok(())
        });

        // Where the download starts: after what an earlier, interrupted pull left.
        let mut received: u64 = resumed_rx.await.unwrap_or(0);
        let resumed_at = received;
        if received > 0 {
            tracing::debug!("resuming {digest} at {received} of {size} bytes");
        }
        let mut last = Instant::now() - TICK;
        let mut attempts = 0;
        let fetched: Result<()> = async {
            loop {
                if received >= size {
                    return Ok(());
                }
                let mut body = match self.open_blob(repo, digest, received).await {
                    Ok(b) => b,
                    Err(e) if attempts < RESUMES && received > 0 => {
                        attempts += 1;
                        tracing::debug!("resuming {digest} at {received}: {e}");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let mut broke = None;
                loop {
                    let frame = tokio::select! {
                        f = body.frame() => f,
                        _ = cancelled.changed() => {
                            return Err(Error::Internal("the pull failed".into()));
                        }
                    };
                    let Some(frame) = frame else { break };
                    match frame {
                        Ok(f) => {
                            if let Ok(data) = f.into_data() {
                                received += data.len() as u64;
                                if received > size {
                                    return Err(Error::DigestMismatch {
                                        expected: digest.to_string(),
                                        actual: format!("a blob longer than {size} bytes"),
                                    });
                                }
                                if tx.send(data).await.is_err() {
                                    return Err(Error::Internal("blob writer stopped".into()));
                                }
                                if last.elapsed() >= TICK {
                                    last = Instant::now();
                                    let _ = sink.send(progress::bar(
                                        &id,
                                        "Downloading",
                                        received,
                                        size,
                                    ));
                                }
                            }
                        }
                        Err(e) => {
                            broke = Some(e.to_string());
                            break;
                        }
                    }
                }
                match broke {
                    None if received >= size => return Ok(()),
                    None => {
                        broke = Some(format!(
                            "connection closed after {received} of {size} bytes"
                        ))
                    }
                    Some(_) => {}
                }
                if attempts >= RESUMES {
                    return Err(Error::Registry(format!(
                        "downloading {digest}: {}",
                        broke.unwrap_or_default()
                    )));
                }
                attempts += 1;
            }
        }
        .await;
        let _ = outcome_tx.send(match &fetched {
            Ok(()) => Outcome::Complete,
            // The pull failed elsewhere (bad content, a refused layer): not a download to
            // take up again.
            Err(_) if *cancelled.borrow() => Outcome::Discard,
            // Nothing came after the kept part (a registry that cannot resume, a blob that
            // is gone): keeping it would only fail the same way next time.
            Err(_) if resumed_at > 0 && received == resumed_at => Outcome::Discard,
            Err(_) => Outcome::Keep,
        });
        drop(tx);
        let written = writer
            .await
            .map_err(|e| Error::Internal(format!("blob writer: {e}")))?;
        if written.is_ok() {
            // Committed: this pull's to take back if it fails.
            stored
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(digest.clone());
        }
        fetched?;
        if let Err(e) = written {
            spool.finish(Err(e.to_string()));
            return Err(e);
        }
        let _ = sink.send(progress::bar(&id, "Downloading", received, size));
        let _ = sink.send(progress::layer(&id, "Verifying Checksum"));
        let _ = sink.send(progress::layer(&id, "Download complete"));
        spool.finish(Ok(()));
        Ok(())
    }

    /// Opens the blob's body from `offset` on (a `Range` request when resuming), following one
    /// redirect to storage the registry delegates to.
    async fn open_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<hyper::body::Incoming> {
        let headers: Vec<(&str, String)> = if offset > 0 {
            vec![(RANGE.as_str(), format!("bytes={offset}-"))]
        } else {
            Vec::new()
        };
        let r = repo
            .send(
                Method::GET,
                &repo.url(&format!("blobs/{digest}")),
                &headers,
                None,
            )
            .await?;
        let r = if r.status().is_redirection() {
            let loc = r
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Registry("redirect without Location".into()))?
                .to_string();
            let (ep, path, redirected) = if loc.starts_with('/') {
                (repo.ep.clone(), loc.clone(), false)
            } else {
                let (ep, path) = Endpoint::from_url(&loc)?;
                (ep, path, true)
            };
            let mut b = hyper::Request::get(path).header(hyper::header::HOST, &ep.authority);
            for (k, v) in &headers {
                b = b.header(*k, v);
            }
            let _ = redirected;
            self.client
                .transport
                .send(
                    &ep,
                    b.body(transport::empty())
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )
                .await?
        } else {
            r
        };
        match r.status() {
            StatusCode::OK if offset == 0 => Ok(r.into_body()),
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok(r.into_body()),
            StatusCode::OK => Err(Error::Registry(format!(
                "the registry cannot resume {digest} (no Range support)"
            ))),
            _ => Err(repo.fail(&format!("blob {digest}"), r).await),
        }
    }
}

fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|_| Error::InvalidManifest(format!("invalid digest {s:?}")))
}

/// Fetches a small blob (a config) whole and verifies it.
async fn fetch_small(repo: &Repository, digest: &Digest, limit: usize) -> Result<Vec<u8>> {
    let r = repo
        .send(
            Method::GET,
            &repo.url(&format!("blobs/{digest}")),
            &[],
            None,
        )
        .await?;
    if !r.status().is_success() {
        return Err(repo.fail(&format!("blob {digest}"), r).await);
    }
    let bytes = transport::read_body(r.into_body(), limit).await?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(Error::DigestMismatch {
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes.to_vec())
}

/// The bytes of one layer on their way from its download to its unpacker.
#[derive(Default)]
struct Spool {
    st: Mutex<SpoolState>,
    cv: Condvar,
}

#[derive(Default)]
struct SpoolState {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// The unpacker is reading from the queue.
    attached: bool,
    /// Too much arrived before the unpacker started: it reads the stored blob instead.
    overflowed: bool,
    /// The unpacker is gone: stop queueing.
    abandoned: bool,
    /// The download's end: committed and verified, or why not.
    done: Option<std::result::Result<(), String>>,
}

impl Spool {
    fn lock(&self) -> std::sync::MutexGuard<'_, SpoolState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, b: Bytes) {
        let mut st = self.lock();
        if st.abandoned || st.overflowed {
            return;
        }
        if !st.attached && st.buffered + b.len() > SPOOL_CAP {
            st.overflowed = true;
            st.chunks.clear();
            st.buffered = 0;
            return;
        }
        // Back-pressure once the unpacker reads: the download waits for it.
        while st.attached && st.buffered > SPOOL_CAP && !st.abandoned {
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.abandoned {
            return;
        }
        st.buffered += b.len();
        st.chunks.push_back(b);
        self.cv.notify_all();
    }

    fn finish(&self, r: std::result::Result<(), String>) {
        let mut st = self.lock();
        if st.done.is_none() {
            st.done = Some(r);
        }
        self.cv.notify_all();
    }

    /// The blob was in the store already: read it from there.
    fn finish_stored(&self) {
        let mut st = self.lock();
        st.overflowed = true;
        st.chunks.clear();
        st.done = Some(Ok(()));
        self.cv.notify_all();
    }
}

/// Reads a layer from its spool, or from the stored blob when the spool overflowed.
struct SpoolReader {
    spool: Arc<Spool>,
    content: berth_content::Store,
    digest: Digest,
    cur: Bytes,
    file: Option<std::fs::File>,
}

impl SpoolReader {
    fn new(spool: Arc<Spool>, content: berth_content::Store, digest: Digest) -> SpoolReader {
        spool.lock().attached = true;
        SpoolReader {
            spool,
            content,
            digest,
            cur: Bytes::new(),
            file: None,
        }
    }
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file {
            return f.read(buf);
        }
        if self.cur.is_empty() {
            let spool = self.spool.clone();
            let mut st = spool.lock();
            loop {
                if let Some(c) = st.chunks.pop_front() {
                    st.buffered -= c.len();
                    spool.cv.notify_all();
                    self.cur = c;
                    break;
                }
                match (&st.done, st.overflowed) {
                    (Some(Err(e)), _) => return Err(std::io::Error::other(e.clone())),
                    (Some(Ok(())), true) => {
                        drop(st);
                        let mut f = self
                            .content
                            .reader(&self.digest)
                            .map_err(std::io::Error::other)?;
                        let n = f.read(buf)?;
                        self.file = Some(f);
                        return Ok(n);
                    }
                    (Some(Ok(())), false) => return Ok(0),
                    (None, _) => st = spool.cv.wait(st).unwrap_or_else(|p| p.into_inner()),
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

impl Drop for SpoolReader {
    fn drop(&mut self) {
        let mut st = self.spool.lock();
        st.abandoned = true;
        st.chunks.clear();
        self.spool.cv.notify_all();
    }
}

/// Counts the compressed bytes the unpacker consumes, for the `Extracting` bar. Like dockerd,
/// a layer shows `Extracting` only once its download is complete, although unpacking started
/// with the first bytes.
struct Counting<R> {
    inner: R,
    spool: Arc<Spool>,
    id: String,
    total: u64,
    read: u64,
    last: Instant,
    sink: Sink,
}

impl<R> Counting<R> {
    fn new(inner: R, id: &str, total: u64, spool: Arc<Spool>, sink: Sink) -> Counting<R> {
        Counting {
            inner,
            spool,
            id: id.to_string(),
            total,
            read: 0,
            last: Instant::now() - TICK,
            sink,
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let due = (n == 0 && self.read > 0) || self.last.elapsed() >= TICK;
        if due && self.spool.lock().done.is_some() {
            self.last = Instant::now();
            let _ = self
                .sink
                .send(progress::bar(&self.id, "Extracting", self.read, self.total));
        }
        Ok(n)
    }
}
