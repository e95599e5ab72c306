//! `POST /build/prune` and the build cache's part of `system df`.
//!
//! The build cache is the cache records (step key → image), the step images only builds need
//! (untagged, unused, not a parent of a tagged image) and the cache mounts' directories.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use berth_api::backend::BuildPruneOptions;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::images::blocking;
use crate::Daemon;

impl Daemon {
    pub async fn build_prune(&self, opts: BuildPruneOptions) -> Result<Value> {
        for key in opts.filters.keys() {
            if !matches!(key.as_str(), "until" | "unused-for") {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let until = match opts
            .filters
            .get("until")
            .or_else(|| opts.filters.get("unused-for"))
            .and_then(|v| v.first())
        {
            Some(v) => Some(berth_image::parse_until(v)?),
            None => None,
        };
        let in_use: HashSet<String> = self.image_ids_in_use().into_keys().collect();
        let db = self.db.clone();
        let images = self.images.clone();
        let mounts_dir = self.cache_mounts_dir();
        blocking(move || {
            let records = db.build_cache_list()?;
            let total = records.len();
            let old = |t: &str| match until {
                Some(u) => unix(t) < u,
                None => true,
            };
            let mut deleted = Vec::new();
            let mut candidates = HashSet::new();
            if opts
                .keep_storage
                .is_some_and(|k| k > 0 && cache_size(&images, &records, &mounts_dir) <= k as i64)
            {
                return Ok(json!({ "CachesDeleted": [], "SpaceReclaimed": 0 }));
            }
            for r in &records {
                if !old(&r.last_used) {
                    continue;
                }
                candidates.insert(r.image_id.clone());
                if opts.all {
                    db.build_cache_delete(&r.key)?;
                    deleted.push(r.key.clone());
                }
            }
            let (gone, mut reclaimed) =
                images.prune_build_images(&candidates, &|id| in_use.contains(id))?;
            if !opts.all {
                // The records of deleted images went with them (foreign key).
                let left: HashSet<String> =
                    db.build_cache_list()?.into_iter().map(|r| r.key).collect();
                deleted.extend(
                    records
                        .iter()
                        .filter(|r| !left.contains(&r.key))
                        .map(|r| r.key.clone()),
                );
            }
            let _ = (gone, total);
            for (id, bytes) in remove_cache_mounts(&mounts_dir, until)? {
                deleted.push(id);
                reclaimed += bytes;
            }
            Ok(json!({ "CachesDeleted": deleted, "SpaceReclaimed": reclaimed }))
        })
        .await
    }

    pub(crate) fn cache_mounts_dir(&self) -> PathBuf {
        self.config.data_root.join("build").join("cache-mounts")
    }

    /// `system df`'s `BuildCache`: one entry per cache record and per cache mount.
    pub(crate) async fn build_cache_df(&self) -> Result<Vec<Value>> {
        let db = self.db.clone();
        let images = self.images.clone();
        let mounts_dir = self.cache_mounts_dir();
        blocking(move || {
            let mut out = Vec::new();
            for r in db.build_cache_list()? {
                let size = images.own_layer_size(&r.image_id)?;
                let tagged = images
                    .resolve(&r.image_id)
                    .map(|rec| !rec.repo_tags.is_empty())
                    .unwrap_or(false);
                out.push(json!({
                    "ID": &r.key[..r.key.len().min(25)],
                    "Parents": [],
                    "Type": "regular",
                    "Description": format!("step image {}", berth_build::short(&r.image_id)),
                    "InUse": false,
                    "Shared": tagged,
                    "Size": size,
                    "CreatedAt": r.created,
                    "LastUsedAt": r.last_used,
                    "UsageCount": 1,
                }));
            }
            for (id, dir) in cache_mounts(&mounts_dir) {
                out.push(json!({
                    "ID": id,
                    "Parents": [],
                    "Type": "exec.cachemount",
                    "Description": format!("cache mount {}", std::fs::read_to_string(dir.join("id")).unwrap_or_default()),
                    "InUse": false,
                    "Shared": false,
                    "Size": dir_size(&dir),
                    "CreatedAt": "",
                    "LastUsedAt": "",
                    "UsageCount": 1,
                }));
            }
            Ok(out)
        })
        .await
    }
}

fn unix(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_or(0, |t| t.unix_timestamp())
}

fn cache_mounts(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

fn cache_size(
    images: &berth_image::ImageStore,
    records: &[berth_metadata::BuildCacheRow],
    mounts: &Path,
) -> i64 {
    let mut n: i64 = records
        .iter()
        .map(|r| images.own_layer_size(&r.image_id).unwrap_or(0))
        .sum();
    n += cache_mounts(mounts)
        .iter()
        .map(|(_, d)| dir_size(d))
        .sum::<i64>();
    n
}

fn dir_size(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.size() as i64;
    }
    std::fs::read_dir(p)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Removes the cache mounts no build holds (their lock is free), older than `until` by
/// modification time. Renamed first, so that a crash mid-removal leaves no half directory
/// under a live name.
fn remove_cache_mounts(dir: &Path, until: Option<i64>) -> Result<Vec<(String, i64)>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for (id, path) in cache_mounts(dir) {
        if id.starts_with(".gone-") {
            let _ = std::fs::remove_dir_all(&path);
            continue;
        }
        if let Some(u) = until {
            let m = std::fs::metadata(&path).map(|m| m.mtime()).unwrap_or(0);
            if m >= u {
                continue;
            }
        }
        let Ok(lock) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join("lock"))
        else {
            continue;
        };
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue;
        }
        let size = dir_size(&path.join("data"));
        let gone = dir.join(format!(".gone-{id}"));
        std::fs::rename(&path, &gone).map_err(Error::io("removing a cache mount"))?;
        drop(lock);
        std::fs::remove_dir_all(&gone).map_err(Error::io("removing a cache mount"))?;
        out.push((id, size));
    }
    Ok(out)
}
