//! The image store proper: resolution, listing, inspection, tagging, removal and container
//! root filesystems.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_content::{Digest, Store};
use berth_metadata::{Db, ImageRow};
use berth_snapshot::{Mount, Snapshotter};
use berth_types::api;
use berth_types::image::ImageConfig;

use crate::error::{Error, Result};
use crate::oci::Manifest;
use crate::reference::{familiar, Reference};
use crate::unpack::EXTRACT_PREFIX;

/// Largest config or manifest blob the store reads into memory.
pub(crate) const MAX_DOC_SIZE: u64 = 16 << 20;
/// Shortest ID prefix accepted.
const MIN_PREFIX: usize = 3;

/// The image store: content blobs, snapshots and metadata rows, kept consistent.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) content: Store,
    pub(crate) db: Db,
    pub(crate) snapshots: Arc<dyn Snapshotter>,
    /// Cached layer file indexes (see `waste`).
    pub(crate) layer_index_dir: PathBuf,
    /// `--userns-remap`: layers unpack with owners shifted into this mapping, and container
    /// roots belong to its root (see [`ImageStore::with_id_map`]).
    pub(crate) id_map: Option<berth_types::idmap::IdMap>,
}

/// An image as the store records it, with its names in familiar form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub row: ImageRow,
}

/// A container that uses an image, as removal's conflict messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// The container's ID.
    pub container: String,
    pub running: bool,
}

/// How a name resolved: through a tag or digest name (which removal treats differently from an
/// ID), or through the ID.
pub(crate) enum Matched {
    Name(String),
    Id,
}

/// How long a partial download waits for a pull to resume it.
const STALE_DOWNLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl ImageStore {
    /// Opens the image store on the data root's content store, with `db` and `snapshots`.
    /// Unpacks a previous process left unfinished are discarded, and so are partial downloads
    /// nobody resumed within a day.
    pub fn open(data_root: &Path, db: Db, snapshots: Arc<dyn Snapshotter>) -> Result<ImageStore> {
        let content = Store::open(data_root)?;
        content.remove_stale_resumable(STALE_DOWNLOAD)?;
        for info in snapshots.list()? {
            if info.key.starts_with(EXTRACT_PREFIX) && info.kind == berth_snapshot::Kind::Active {
                snapshots.remove(&info.key)?;
            }
        }
        let store = ImageStore {
            content,
            db,
            snapshots,
            layer_index_dir: data_root.join(crate::waste::INDEX_DIR),
            id_map: None,
        };
        store.sweep_layer_indexes()?;
        Ok(store)
    }

    /// The store of a remapped daemon: every layer it unpacks has its owners shifted into
    /// `map`, so that the files appear owned by their image owners inside the container's user
    /// namespace (dockerd's per-remap layer store). The store must be on a data root of its
    /// own (`<data-root>/<uid>.<gid>`): layers unpacked under another mapping are not shifted.
    pub fn with_id_map(mut self, map: Option<berth_types::idmap::IdMap>) -> Self {
        self.id_map = map;
        self
    }

    /// The mapping layers are unpacked with, if the daemon is remapped.
    pub fn id_map(&self) -> Option<&berth_types::idmap::IdMap> {
        self.id_map.as_ref()
    }

    pub fn content(&self) -> &Store {
        &self.content
    }

    pub fn snapshotter(&self) -> &Arc<dyn Snapshotter> {
        &self.snapshots
    }

    /// Finds an image by `name[:tag]` (no tag means `latest`), `name@digest`, full ID with or
    /// without `sha256:`, or a unique ID prefix of at least 3 hex digits. Names win over
    /// prefixes, as in Docker.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        self.resolve_matched(name).map(|(r, _)| r)
    }

    pub(crate) fn resolve_matched(&self, name: &str) -> Result<(ImageRecord, Matched)> {
        let s = name.trim();
        let not_found = || Error::NotFound(name.to_string());
        if s.is_empty() {
            return Err(not_found());
        }
        let hexpart = s.strip_prefix("sha256:");
        let bare = hexpart.unwrap_or(s);
        let is_hex = bare.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_hex && bare.len() == 64 {
            let row = self
                .db
                .get_image(&format!("sha256:{bare}"))?
                .ok_or_else(not_found)?;
            return Ok((self.record(row)?, Matched::Id));
        }
        if hexpart.is_none() {
            if let Ok(r) = Reference::parse(s) {
                let key = r
                    .digest_name()
                    .or_else(|| r.tagged_name())
                    .unwrap_or_default();
                let id = match r.digest {
                    Some(_) => self.db.get_repo_digest(&key)?,
                    None => self.db.get_tag(&key)?.map(|t| t.image_id),
                };
                if let Some(id) = id {
                    let row = self.db.get_image(&id)?.ok_or_else(not_found)?;
                    return Ok((self.record(row)?, Matched::Name(key)));
                }
            }
        }
        if is_hex && bare.len() >= MIN_PREFIX {
            let ids = self.db.image_ids_with_prefix(&format!("sha256:{bare}"))?;
            return match ids.as_slice() {
                [] => Err(not_found()),
                [one] => {
                    let row = self.db.get_image(one)?.ok_or_else(not_found)?;
                    Ok((self.record(row)?, Matched::Id))
                }
                _ => Err(Error::Ambiguous(bare.to_string())),
            };
        }
        if hexpart.is_some() {
            return Err(Error::InvalidReference {
                reference: name.to_string(),
                reason: "not a valid image ID".into(),
            });
        }
        // Report malformed names as such rather than as missing.
        Reference::parse(s)?;
        Err(not_found())
    }

    pub(crate) fn record(&self, row: ImageRow) -> Result<ImageRecord> {
        let repo_tags = self
            .db
            .tags_for_image(&row.id)?
            .iter()
            .map(|t| familiar(t))
            .collect();
        let repo_digests = self
            .db
            .repo_digests_for_image(&row.id)?
            .iter()
            .map(|t| familiar(t))
            .collect();
        Ok(ImageRecord {
            id: row.id.clone(),
            repo_tags,
            repo_digests,
            row,
        })
    }

    /// The image config of image `id` (`sha256:<hex>`).
    pub fn config(&self, id: &str) -> Result<ImageConfig> {
        let digest = Digest::parse(id).map_err(|_| Error::NotFound(id.to_string()))?;
        let bytes = self.content.read_blob(&digest, MAX_DOC_SIZE)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Every image, newest first, as the Engine API's `GET /images/json` lists them.
    pub fn list(&self) -> Result<Vec<api::ImageSummary>> {
        let mut out = Vec::new();
        for row in self.db.list_images()? {
            let rec = self.record(row)?;
            let config = self.config(&rec.id).unwrap_or_default();
            out.push(api::ImageSummary {
                id: rec.id.clone(),
                parent_id: rec.row.parent.clone(),
                repo_tags: rec.repo_tags,
                repo_digests: rec.repo_digests,
                created: rec.row.created.as_deref().map_or(0, unix_seconds),
                size: rec.row.size,
                shared_size: -1,
                labels: config.config.and_then(|c| c.labels).unwrap_or_default(),
                containers: -1,
                manifests: None,
                descriptor: None,
            });
        }
        Ok(out)
    }

    /// Docker's `GET /images/{name}/json` for `name`.
    pub fn inspect(&self, name: &str) -> Result<api::ImageInspect> {
        let rec = self.resolve(name)?;
        let config = self.config(&rec.id)?;
        let run_config = config
            .config
            .as_ref()
            .map(|c| serde_json::to_value(c).and_then(serde_json::from_value::<api::ImageConfig>))
            .transpose()
            .map_err(|e| Error::InvalidConfig {
                id: rec.id.clone(),
                reason: e.to_string(),
            })?;
        let graph_driver = match &rec.row.chain_id {
            Some(chain) => Some(api::DriverData {
                name: self.snapshots.driver_name().to_string(),
                data: self.snapshots.driver_data(chain)?.into_iter().collect(),
            }),
            None => Some(api::DriverData {
                name: self.snapshots.driver_name().to_string(),
                data: HashMap::new(),
            }),
        };
        Ok(api::ImageInspect {
            id: Some(rec.id.clone()),
            repo_tags: Some(rec.repo_tags),
            repo_digests: Some(rec.repo_digests),
            comment: Some(config.comment.clone().unwrap_or_default()),
            created: config.created.clone(),
            author: Some(config.author.clone().unwrap_or_default()),
            config: run_config,
            architecture: config.architecture.clone(),
            variant: config.variant.clone(),
            os: config.os.clone(),
            os_version: config.os_version.clone(),
            size: Some(rec.row.size),
            graph_driver,
            root_fs: Some(api::ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(config.rootfs.diff_ids.clone()),
            }),
            metadata: Some(api::ImageInspectMetadata {
                last_tag_time: rec.row.last_tag_time.clone(),
            }),
            ..Default::default()
        })
    }

    /// [`ImageStore::inspect`] as JSON, with the fields older API versions still show that the
    /// current model lacks (`Parent`, `DockerVersion`).
    pub fn inspect_json(&self, name: &str) -> Result<serde_json::Value> {
        let rec = self.resolve(name)?;
        let config = self.config(&rec.id)?;
        let mut v =
            serde_json::to_value(self.inspect(&rec.id)?).map_err(|e| Error::InvalidConfig {
                id: rec.id.clone(),
                reason: e.to_string(),
            })?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("Parent".into(), rec.row.parent.clone().into());
            obj.insert(
                "DockerVersion".into(),
                config.docker_version.unwrap_or_default().into(),
            );
        }
        Ok(v)
    }

    /// Tags the image `source` resolves to as `target` (`name[:tag]`), moving the tag if it
    /// named another image.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let rec = self.resolve(source)?;
        let r = Reference::parse(target)?;
        let Some(name) = r.tagged_name().filter(|_| r.digest.is_none()) else {
            return Err(Error::InvalidReference {
                reference: target.to_string(),
                reason: "refusing to create a tag with a digest reference".into(),
            });
        };
        self.db.set_tag(&name, &rec.id, &now())?;
        Ok(())
    }

    /// Removes the tag `name` (no tag means `latest`) without touching the image.
    pub fn untag(&self, name: &str) -> Result<()> {
        let r = Reference::parse(name)?;
        let key = r.tagged_name().unwrap_or_default();
        if !self.db.delete_tag(&key)? {
            return Err(Error::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// Removes `name` with Docker's semantics: a tag is removed and the image is deleted only
    /// when nothing else names it; by ID, every tag goes (several need `force`). An image that
    /// `in_use` says containers use is never deleted: without `force` that is a conflict, with
    /// it only the names go. Deleting an image also deletes its layers and blobs that no other
    /// image shares.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Result<Vec<api::ImageDeleteResponseItem>> {
        self.remove_with(name, force, false, in_use)
    }

    /// [`ImageStore::remove`], and unless `noprune`, the untagged parents (left by `commit`)
    /// that nothing else needs any more, as Docker's `rmi` does.
    pub fn remove_with(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Result<Vec<api::ImageDeleteResponseItem>> {
        let (rec, matched) = self.resolve_matched(name)?;
        let short = berth_types::id::short_id(&rec.id).to_string();
        let user = in_use(&rec.id);
        let used = user.is_some();
        let by = user.as_ref().map_or_else(String::new, |u| {
            berth_types::id::short_id(&u.container).to_string()
        });
        let mut names: Vec<String> = self.db.tags_for_image(&rec.id)?;
        names.extend(self.db.repo_digests_for_image(&rec.id)?);
        let mut out = Vec::new();
        let untag = |n: &str, out: &mut Vec<api::ImageDeleteResponseItem>| -> Result<()> {
            if n.contains('@') {
                // Repo digests go with the image row; untagging one alone is not supported yet.
                return Ok(());
            }
            self.db.delete_tag(n)?;
            out.push(api::ImageDeleteResponseItem {
                untagged: Some(familiar(n)),
                deleted: None,
            });
            Ok(())
        };
        match matched {
            Matched::Name(n) => {
                if names.len() > 1 {
                    untag(&n, &mut out)?;
                    return Ok(out);
                }
                if used && !force {
                    return Err(Error::Conflict(format!(
                        "unable to remove repository reference {:?} (must force) - container {by} is using its referenced image {short}",
                        familiar(&n)
                    )));
                }
                untag(&n, &mut out)?;
                if used {
                    return Ok(out);
                }
            }
            Matched::Id => {
                if self.has_children(&rec.id)? {
                    return Err(Error::Conflict(format!(
                        "unable to delete {short} (cannot be forced) - image has dependent child images"
                    )));
                }
                match &user {
                    Some(u) if u.running => {
                        return Err(Error::Conflict(format!(
                            "unable to delete {short} (cannot be forced) - image is being used by running container {by}"
                        )))
                    }
                    Some(_) if !force => {
                        return Err(Error::Conflict(format!(
                            "unable to delete {short} (must be forced) - image is being used by stopped container {by}"
                        )))
                    }
                    _ => {}
                }
                let repos: HashSet<String> = names
                    .iter()
                    .filter_map(|n| Reference::parse_bare(n).ok().map(|r| r.repository()))
                    .collect();
                if repos.len() > 1 && !force {
                    return Err(Error::Conflict(format!(
                        "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                    )));
                }
                for n in &names {
                    untag(n, &mut out)?;
                }
                if used {
                    return Ok(out);
                }
            }
        }
        // A parent of committed images stays, untagged, as Docker keeps an intermediate image.
        if self.has_children(&rec.id)? {
            return Ok(out);
        }
        out.extend(self.delete_image(&rec)?.0);
        if !noprune {
            out.extend(
                self.prune_parents(&rec.row.parent, &|id| in_use(id).is_some())?
                    .0,
            );
        }
        Ok(out)
    }

    /// Deletes `parent` and its ancestors while each is untagged, unused and childless.
    pub(crate) fn prune_parents(
        &self,
        parent: &str,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<api::ImageDeleteResponseItem>, i64)> {
        let mut out = Vec::new();
        let mut reclaimed = 0;
        let mut next = parent.to_string();
        while !next.is_empty() {
            let Some(row) = self.db.get_image(&next)? else {
                break;
            };
            let rec = self.record(row)?;
            if !rec.repo_tags.is_empty() || in_use(&rec.id) || self.has_children(&rec.id)? {
                break;
            }
            let (items, bytes) = self.delete_image(&rec)?;
            out.extend(items);
            reclaimed += bytes;
            next = rec.row.parent.clone();
        }
        Ok((out, reclaimed))
    }

    /// Whether images were committed on top of `id`.
    pub(crate) fn has_children(&self, id: &str) -> Result<bool> {
        Ok(self.db.list_images()?.iter().any(|r| r.parent == id))
    }

    /// Deletes the image row, then the layers and blobs nothing else needs. Returns what was
    /// deleted, top layer first, and the unpacked bytes the deleted layers held.
    pub(crate) fn delete_image(
        &self,
        rec: &ImageRecord,
    ) -> Result<(Vec<api::ImageDeleteResponseItem>, i64)> {
        let blobs = self.image_blobs(&rec.row);
        self.db.delete_image(&rec.id)?;
        let mut out = vec![api::ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(rec.id.clone()),
        }];
        let mut reclaimed = 0i64;
        let mut used_chains = HashSet::new();
        let mut used_blobs = HashSet::new();
        for other in self.db.list_images()? {
            used_chains.extend(self.chain_of(other.chain_id.as_deref())?);
            used_blobs.extend(self.image_blobs(&other));
        }
        for chain in self.chain_of(rec.row.chain_id.as_deref())? {
            if used_chains.contains(&chain) {
                break;
            }
            match self.snapshots.remove(&chain) {
                Ok(()) | Err(berth_snapshot::Error::NotFound(_)) => {}
                // A container or another layer still stands on it: keep it and what is below.
                Err(berth_snapshot::Error::InUse { .. }) => break,
                Err(e) => return Err(e.into()),
            }
            reclaimed += self.db.get_layer(&chain)?.map_or(0, |l| l.size);
            self.db.delete_layer(&chain)?;
            out.push(api::ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(chain),
            });
        }
        for b in blobs.difference(&used_blobs) {
            match self.content.delete(b) {
                Ok(()) | Err(berth_content::Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.sweep_layer_indexes()?;
        Ok((out, reclaimed))
    }

    /// Chain IDs from `top` down to the bottom layer.
    pub(crate) fn chain_of(&self, top: Option<&str>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = top.map(str::to_string);
        while let Some(c) = next {
            next = self.db.get_layer(&c)?.and_then(|l| l.parent);
            out.push(c);
        }
        Ok(out)
    }

    /// The blobs an image's manifest names (manifest, config, layers).
    pub(crate) fn image_blobs(&self, row: &ImageRow) -> HashSet<Digest> {
        let mut out = HashSet::new();
        if let Ok(id) = Digest::parse(&row.id) {
            out.insert(id);
        }
        let Some(m) = row.manifest.as_deref().and_then(|m| Digest::parse(m).ok()) else {
            return out;
        };
        if let Ok(bytes) = self.content.read_blob(&m, MAX_DOC_SIZE) {
            if let Ok(man) = serde_json::from_slice::<Manifest>(&bytes) {
                out.extend(
                    man.layers
                        .iter()
                        .filter_map(|l| Digest::parse(&l.digest).ok()),
                );
            }
        }
        out.insert(m);
        out
    }

    /// Prepares the writable root filesystem of container `container_id` on top of image
    /// `image_id` and returns the mounts that present it (see [`berth_snapshot::mount_all`]).
    pub fn rootfs_for_container(&self, container_id: &str, image_id: &str) -> Result<Vec<Mount>> {
        let id = if image_id.starts_with("sha256:") {
            image_id.to_string()
        } else {
            format!("sha256:{image_id}")
        };
        let row = self
            .db
            .get_image(&id)?
            .ok_or_else(|| Error::NotFound(image_id.to_string()))?;
        let mounts = self
            .snapshots
            .prepare(container_id, row.chain_id.as_deref())?;
        if let Some(map) = &self.id_map {
            // The container's root directory is its upper dir's: give it to the remapped root,
            // or `/` would show as nobody's inside.
            let (uid, gid) = map.root();
            let upper = self.snapshots.upper_dir(container_id)?;
            if let Err(e) = std::os::unix::fs::chown(&upper, Some(uid), Some(gid)) {
                let _ = self.snapshots.remove(container_id);
                return Err(Error::Io {
                    op: format!("chown {}", upper.display()),
                    source: e,
                });
            }
        }
        Ok(mounts)
    }

    /// The mounts of an existing container root filesystem.
    pub fn container_rootfs_mounts(&self, container_id: &str) -> Result<Vec<Mount>> {
        Ok(self.snapshots.mounts(container_id)?)
    }

    /// Removes a container's root filesystem (unmount it first). Absent is fine.
    pub fn remove_container_rootfs(&self, container_id: &str) -> Result<()> {
        match self.snapshots.remove(container_id) {
            Ok(()) | Err(berth_snapshot::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// For each image, the bytes of its layers that some other image also uses (`SharedSize`).
    pub fn shared_sizes(&self) -> Result<HashMap<String, i64>> {
        let rows = self.db.list_images()?;
        let mut chains = Vec::new();
        let mut users: HashMap<String, usize> = HashMap::new();
        for r in &rows {
            let c = self.chain_of(r.chain_id.as_deref())?;
            for l in &c {
                *users.entry(l.clone()).or_default() += 1;
            }
            chains.push((r.id.clone(), c));
        }
        let mut out = HashMap::new();
        for (id, c) in chains {
            let mut shared = 0;
            for l in c.iter().filter(|l| users.get(*l).copied().unwrap_or(0) > 1) {
                shared += self.db.get_layer(l)?.map_or(0, |r| r.size);
            }
            out.insert(id, shared);
        }
        Ok(out)
    }

    /// Bytes used by all layers (each counted once), for `docker system df`.
    pub fn layers_size(&self) -> Result<i64> {
        Ok(self.db.list_layers()?.iter().map(|l| l.size).sum())
    }

    /// Records a new image (or finds it recorded) and sets `tags` (normalised names) on it.
    /// Returns the tags that moved, with the image each named before.
    pub(crate) fn register(&self, r: Registration<'_>) -> Result<Vec<(String, String)>> {
        let Registration {
            id,
            config,
            top_chain,
            size,
            manifest,
            tags,
            parent,
        } = r;
        let now = now();
        self.db.put_image(&ImageRow {
            id: id.to_string(),
            created: config.created.clone(),
            added: now.clone(),
            parent: parent.to_string(),
            size,
            chain_id: top_chain.map(str::to_string),
            manifest: manifest.map(|m| m.to_string()),
            last_tag_time: None,
        })?;
        let mut moved = Vec::new();
        for t in tags {
            if let Some(prev) = self.db.set_tag(t, id.as_str(), &now)? {
                moved.push((t.clone(), prev));
            }
        }
        Ok(moved)
    }
}

/// What [`ImageStore::register`] records.
pub(crate) struct Registration<'a> {
    pub id: &'a Digest,
    pub config: &'a ImageConfig,
    pub top_chain: Option<&'a str>,
    pub size: i64,
    pub manifest: Option<&'a Digest>,
    /// Normalised names to point at the image.
    pub tags: &'a [String],
    /// The image this one was committed from, or empty.
    pub parent: &'a str,
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn unix_seconds(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map_or(0, |t| t.unix_timestamp())
}
