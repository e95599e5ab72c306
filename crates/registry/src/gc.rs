//! Garbage collection while serving: mark and sweep of blobs that no manifest references.
//!
//! distribution must be stopped or made read-only to collect (distribution#1609), because a push
//! can link a blob the sweep has already judged garbage. Here the two are made to exclude each
//! other only briefly:
//!
//! * **Mark** runs without any lock: every manifest revision of every repository is read and
//!   everything it references (config, layers, child manifests) is marked, with the manifest
//!   itself.
//! * Every write that makes a blob reachable — an upload's commit and link, a mount, a manifest
//!   `PUT` from its existence checks to its links — holds the [`Gate`] for reading and, once done,
//!   *touches* the digests it made reachable (an in-memory record with the time).
//! * **Sweep** takes the gate for writing, so no such write is in progress, and deletes a blob
//!   only if it is unmarked, was not touched since the mark began (minus the grace period), and
//!   its file is older than the grace period. A write that finished before the mark began is seen
//!   by the mark; one that finished after it is in the touched record; one that has not started
//!   waits for the sweep and then finds the blob gone (and uploads it again, or is told
//!   `MANIFEST_BLOB_UNKNOWN`).
//!
//! The grace period (default 1 h) also protects layers pushed before their manifest; the file age
//! check keeps that protection across a restart, which forgets the touched record. Untagged
//! manifests are kept, as distribution keeps them by default; `DELETE` them to free their blobs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use berth_content::Digest;
use serde_json::json;
use tokio::sync::{watch, RwLock, RwLockReadGuard};

use crate::error::{Error, Result};
use crate::manifests::Manifest;
use crate::server::Registry;

/// Coordinates writers with the sweep; see the module docs.
pub(crate) struct Gate {
    lock: RwLock<()>,
    touched: Mutex<HashMap<Digest, Instant>>,
    /// One collection at a time.
    running: tokio::sync::Mutex<()>,
    grace: Duration,
}

impl Gate {
    pub(crate) fn new(grace: Duration) -> Gate {
        Gate {
            lock: RwLock::new(()),
            touched: Mutex::new(HashMap::new()),
            running: tokio::sync::Mutex::new(()),
            grace,
        }
    }

    /// Held by a write that makes blobs reachable, for the duration of its checks and links.
    pub(crate) async fn hold(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().await
    }

    /// Records that `d` was just made reachable (or re-used).
    pub(crate) fn touch(&self, d: &Digest) {
        self.touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.clone(), Instant::now());
    }
}

/// What a collection did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub dry_run: bool,
    pub blobs_total: usize,
    pub marked: usize,
    /// Unreferenced but kept: touched recently or younger than the grace period.
    pub kept_recent: usize,
    pub deleted: Vec<(Digest, u64)>,
}

impl GcReport {
    pub fn freed_bytes(&self) -> u64 {
        self.deleted.iter().map(|(_, s)| s).sum()
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "dryRun": self.dry_run,
            "blobs": self.blobs_total,
            "marked": self.marked,
            "keptRecent": self.kept_recent,
            "freedBytes": self.freed_bytes(),
            "deleted": self.deleted.iter()
                .map(|(d, s)| json!({ "digest": d, "size": s }))
                .collect::<Vec<_>>(),
        })
    }
}

/// Everything reachable from some repository's manifests.
fn mark(reg: &Registry) -> HashSet<Digest> {
    let mut marked = HashSet::new();
    for repo in reg.repos.list() {
        for rev in reg.repos.revisions(&repo) {
            marked.insert(rev.clone());
            let Ok(bytes) = reg.store.read_blob(&rev, reg.max_manifest as u64) else {
                continue;
            };
            let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
                continue;
            };
            // A manifest that fails to parse here was validated at push; keep what it names
            // as far as it can be read.
            if let Ok((blobs, children)) = m.references() {
                marked.extend(blobs);
                marked.extend(children);
            }
        }
    }
    marked
}

pub(crate) async fn collect(reg: &Registry, dry_run: bool) -> Result<GcReport> {
    let _one = reg.gc.running.lock().await;
    let began = Instant::now();
    let began_wall = SystemTime::now();
    let marked = tokio::task::block_in_place(|| mark(reg));
    let blobs = reg.store.list()?;
    let candidates: Vec<_> = blobs
        .iter()
        .filter(|b| !marked.contains(&b.digest))
        .cloned()
        .collect();
    let mut report = GcReport {
        dry_run,
        blobs_total: blobs.len(),
        marked: marked.len(),
        ..GcReport::default()
    };

    let _sweep = reg.gc.lock.write().await;
    let grace = reg.gc.grace;
    let cutoff = began.checked_sub(grace).unwrap_or(began);
    let wall_cutoff = began_wall.checked_sub(grace).unwrap_or(began_wall);
    let touched: HashMap<Digest, Instant> = reg
        .gc
        .touched
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut deleted = HashSet::new();
    for b in candidates {
        let recent_touch = touched.get(&b.digest).is_some_and(|t| *t >= cutoff);
        let young = std::fs::metadata(reg.store.blob_path(&b.digest))
            .and_then(|m| m.modified())
            .map(|m| m > wall_cutoff)
            .unwrap_or(false);
        if recent_touch || young {
            report.kept_recent += 1;
            continue;
        }
        if !dry_run {
            match reg.store.delete(&b.digest) {
                Ok(()) | Err(berth_content::Error::NotFound(_)) => {}
                Err(e) => return Err(Error::from(e)),
            }
            deleted.insert(b.digest.clone());
        }
        report.deleted.push((b.digest, b.size));
    }
    if !deleted.is_empty() {
        // Still under the gate: drop the repositories' links to what is gone, so a HEAD never
        // finds a link without its blob for longer than this loop.
        for repo in reg.repos.list() {
            for l in reg.repos.layers(&repo) {
                if deleted.contains(&l) {
                    reg.repos.unlink_layer(&repo, &l)?;
                }
            }
        }
    }
    // Forget touches too old to matter to any later collection.
    reg.gc
        .touched
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|_, t| *t >= cutoff);
    reg.metrics.gc_done(&report);
    tracing::info!(
        dry_run,
        deleted = report.deleted.len(),
        freed = report.freed_bytes(),
        kept_recent = report.kept_recent,
        "garbage collection"
    );
    Ok(report)
}

/// Collects on a storage directory no server is using (`berth registry gc`).
pub async fn collect_offline(config: crate::Config, dry_run: bool) -> Result<GcReport> {
    let reg = Registry::open(config)?;
    collect(&reg, dry_run).await
}

pub(crate) fn spawn_schedule(
    reg: Arc<Registry>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    let dry = reg.config.gc.dryrun;
                    if let Err(e) = collect(&reg, dry).await {
                        tracing::warn!("scheduled garbage collection: {e}");
                    }
                }
                _ = stopped.changed() => return,
            }
        }
    });
}
