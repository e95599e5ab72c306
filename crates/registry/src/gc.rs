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
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        // Without collections to prune it the record would grow with every push; a touch older
        // than the grace period is older than any running mark's cutoff, so it can go.
        if touched.len() >= 100_000 {
            let grace = self.grace;
            touched.retain(|_, t| t.elapsed() < grace);
        }
        touched.insert(d.clone(), Instant::now());
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
    /// Untagged manifests removed from their repositories (with `untagged`).
    pub untagged: Vec<(String, Digest)>,
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
            "untagged": self.untagged.iter()
                .map(|(r, d)| json!({ "repository": r, "digest": d }))
                .collect::<Vec<_>>(),
            "deleted": self.deleted.iter()
                .map(|(d, s)| json!({ "digest": d, "size": s }))
                .collect::<Vec<_>>(),
        })
    }
}

/// A manifest as the mark sees it.
struct Rev {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

fn read_rev(reg: &Registry, d: &Digest) -> Option<Rev> {
    let bytes = reg.store.read_blob(d, reg.max_manifest as u64).ok()?;
    let m = serde_json::from_slice::<Manifest>(&bytes).ok()?;
    // A manifest that no longer parses was validated at push; keep what it names as far as
    // it can be read.
    let (blobs, children) = m.references().unwrap_or_default();
    let subject = m.subject.and_then(|s| Digest::parse(&s.digest).ok());
    Some(Rev {
        blobs,
        children,
        subject,
    })
}

/// Marks everything reachable from the manifests kept. With `untagged`, a manifest is kept only
/// if a tag names it, an index kept names it, it refers (`subject`) to a manifest kept, or it
/// was pushed recently (`fresh`); the others are returned for unlinking.
fn mark(
    reg: &Registry,
    untagged: bool,
    fresh: &dyn Fn(&Digest) -> bool,
) -> (HashSet<Digest>, Vec<(String, Digest)>) {
    let mut marked = HashSet::new();
    let mut dropped = Vec::new();
    for repo in reg.repos.list() {
        let revs: HashMap<Digest, Option<Rev>> = reg
            .repos
            .revisions(&repo)
            .into_iter()
            .map(|d| {
                let r = read_rev(reg, &d);
                (d, r)
            })
            .collect();
        let mut kept: HashSet<Digest> = if untagged {
            let mut roots: HashSet<Digest> = reg
                .repos
                .tags(&repo)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| reg.repos.tag(&repo, t))
                .collect();
            roots.extend(revs.keys().filter(|d| fresh(d)).cloned());
            roots
        } else {
            revs.keys().cloned().collect()
        };
        // Close over index children and referrers until nothing changes.
        loop {
            let before = kept.len();
            for (d, r) in &revs {
                let Some(r) = r else { continue };
                if kept.contains(d) {
                    kept.extend(r.children.iter().cloned());
                } else if r.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                    kept.insert(d.clone());
                }
            }
            if kept.len() == before {
                break;
            }
        }
        for (d, r) in &revs {
            if !kept.contains(d) {
                dropped.push((repo.clone(), d.clone()));
                continue;
            }
            marked.insert(d.clone());
            if let Some(r) = r {
                marked.extend(r.blobs.iter().cloned());
                marked.extend(r.children.iter().cloned());
            }
        }
    }
    (marked, dropped)
}

pub(crate) async fn collect(reg: &Registry, dry_run: bool, untagged: bool) -> Result<GcReport> {
    let _one = reg.gc.running.lock().await;
    let began = Instant::now();
    let began_wall = SystemTime::now();
    let grace = reg.gc.grace;
    let cutoff = began.checked_sub(grace).unwrap_or(began);
    let wall_cutoff = began_wall.checked_sub(grace).unwrap_or(began_wall);
    // Recent by the in-memory record, or by the file's age (which survives a restart).
    let fresh = |d: &Digest| {
        let touched = reg
            .gc
            .touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(d)
            .is_some_and(|t| *t >= cutoff);
        touched
            || std::fs::metadata(reg.store.blob_path(d))
                .and_then(|m| m.modified())
                .map(|m| m > wall_cutoff)
                .unwrap_or(false)
    };
    let (marked, dropped) = tokio::task::block_in_place(|| mark(reg, untagged, &fresh));
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
    // Untagged manifests: re-checked under the gate, since a tag may have been pushed for one
    // since the mark (a tag push touches the manifest, so `fresh` sees it).
    // What a revived manifest references is revived with it (an index tagged since the mark
    // touched its children, but not the children's layers).
    let mut revived = HashSet::new();
    let mut work: Vec<Digest> = dropped
        .iter()
        .filter(|(_, d)| fresh(d))
        .map(|(_, d)| d.clone())
        .collect();
    while let Some(d) = work.pop() {
        if !revived.insert(d.clone()) {
            continue;
        }
        if let Some(r) = read_rev(reg, &d) {
            revived.extend(r.blobs);
            work.extend(r.children);
        }
    }
    for (repo, d) in &dropped {
        if revived.contains(d) {
            continue;
        }
        report.untagged.push((repo.clone(), d.clone()));
        if !dry_run {
            reg.repos.unlink_revision(repo, d)?;
        }
    }
    let mut deleted = HashSet::new();
    for b in candidates {
        if fresh(&b.digest) || revived.contains(&b.digest) {
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
pub async fn collect_offline(
    config: crate::Config,
    dry_run: bool,
    untagged: bool,
) -> Result<GcReport> {
    let reg = Registry::open(config)?;
    collect(&reg, dry_run, untagged).await
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
                    let (dry, untagged) = (reg.config.gc.dryrun, reg.config.gc.deleteuntagged);
                    if let Err(e) = collect(&reg, dry, untagged).await {
                        tracing::warn!("scheduled garbage collection: {e}");
                    }
                }
                _ = stopped.changed() => return,
            }
        }
    });
}
