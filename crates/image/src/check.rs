//! `system check`: verifies the whole store — every blob against its digest, every image's
//! config, manifest and layer chain against its snapshots — and, when asked, repairs it by
//! removing what is broken or unreferenced. A broken image is removed here and reported in
//! [`CheckReport::removed_images`] with the names it had, so that the daemon can re-fetch it
//! from the registry it came from (its repo digests) and give it its tags back.

use std::collections::HashSet;

use berth_content::Digest;
use serde::Serialize;

use crate::error::Result;
use crate::oci::Manifest;
use crate::store::MAX_DOC_SIZE;
use crate::unpack::{chain_id, EXTRACT_PREFIX};
use crate::ImageStore;

/// What a check found (and, with repair, did).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CheckReport {
    pub blobs_checked: usize,
    pub images_checked: usize,
    pub layers_checked: usize,
    /// One line per problem found.
    pub problems: Vec<String>,
    /// One line per repair made.
    pub repaired: Vec<String>,
    /// Broken images removed by a repair, for the caller to fetch again.
    #[serde(skip)]
    pub removed_images: Vec<RemovedImage>,
}

/// A broken image that a repair removed, with what it was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedImage {
    pub id: String,
    pub tags: Vec<String>,
    /// `repo@sha256:...` names it was pulled by: where it can be fetched again.
    pub repo_digests: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl ImageStore {
    /// Checks the store; with `repair`, removes corrupt blobs, images that lost a blob or a
    /// layer, layers with no snapshot, and blobs and snapshots nothing refers to.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        let mut corrupt: HashSet<Digest> = HashSet::new();
        for info in self.content.list()? {
            r.blobs_checked += 1;
            let ok = self
                .content
                .reader(&info.digest)
                .ok()
                .and_then(|mut f| {
                    let mut h = sha2::Sha256::default();
                    std::io::copy(&mut f, &mut h).ok()?;
                    Some(Digest::from_sha256(sha2::Digest::finalize(h).into()))
                })
                .is_some_and(|d| d == info.digest);
            if !ok {
                r.problems.push(format!(
                    "blob {}: content does not match its digest",
                    info.digest
                ));
                corrupt.insert(info.digest.clone());
                if repair {
                    self.content.delete(&info.digest)?;
                    r.repaired
                        .push(format!("removed corrupt blob {}", info.digest));
                }
            }
        }

        // Layers: each needs its committed snapshot and a recorded parent.
        let mut bad_layers: HashSet<String> = HashSet::new();
        for l in self.db.list_layers()? {
            r.layers_checked += 1;
            let problem: Option<String> = match self.snapshots.stat(&l.chain_id) {
                Ok(info) if info.kind != berth_snapshot::Kind::Committed => {
                    Some("its snapshot is not committed".to_string())
                }
                Ok(info) if info.parent != l.parent => Some(format!(
                    "its snapshot's parent is {:?}, the layer's {:?}",
                    info.parent, l.parent
                )),
                Ok(_) => None,
                Err(_) => Some("its snapshot is missing".to_string()),
            }
            .or_else(|| {
                let expect = chain_id(l.parent.as_deref(), &l.diff_id);
                (expect != l.chain_id).then(|| format!("its chain ID should be {expect}"))
            });
            // Reported through the images that use it; one no image uses is plain garbage
            // (a crash between removing a layer's snapshot and its row leaves one).
            if problem.is_some() {
                bad_layers.insert(l.chain_id.clone());
            }
        }

        // Images: config, manifest, layer blobs present and sound; the layer chain matches the
        // config's diff IDs.
        let mut keep_blobs: HashSet<Digest> = HashSet::new();
        let mut keep_chains: HashSet<String> = HashSet::new();
        let mut broken_images = Vec::new();
        for row in self.db.list_images()? {
            r.images_checked += 1;
            let blobs = self.image_blobs(&row);
            let mut problem = None;
            // The config and manifest define the image; without them it is broken. A layer
            // blob only serves save and push (containers run from the unpacked snapshot), so
            // losing one is reported but does not condemn the image.
            let defining: Vec<Digest> = [Some(row.id.as_str()), row.manifest.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|d| Digest::parse(d).ok())
                .collect();
            for b in &blobs {
                if !corrupt.contains(b) && self.content.exists(b) {
                    continue;
                }
                if defining.contains(b) {
                    problem = Some(format!("blob {b} is missing or corrupt"));
                } else {
                    r.problems.push(format!(
                        "image {}: layer blob {b} is missing or corrupt; the image runs but \
                         cannot be saved or pushed until it is loaded or pulled again",
                        row.id
                    ));
                }
            }
            if problem.is_none() {
                problem = self.check_chain(&row, &bad_layers);
            }
            if let Some(m) = row.manifest.as_deref().and_then(|m| Digest::parse(m).ok()) {
                let layers = self
                    .content
                    .read_blob(&m, MAX_DOC_SIZE)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
                    .map(|m| m.layers.len());
                if problem.is_none() && layers.is_none() {
                    problem = Some("its manifest is unreadable".into());
                }
            }
            match problem {
                Some(p) => {
                    r.problems.push(format!("image {}: {p}", row.id));
                    broken_images.push(row);
                }
                None => {
                    keep_blobs.extend(blobs);
                    keep_chains.extend(self.chain_of(row.chain_id.as_deref())?);
                }
            }
        }

        if repair {
            for row in &broken_images {
                let tags = self.db.tags_for_image(&row.id)?;
                for t in &tags {
                    self.db.delete_tag(t)?;
                }
                let repo_digests = self.db.repo_digests_for_image(&row.id)?;
                self.db.delete_image(&row.id)?;
                r.repaired.push(format!("removed broken image {}", row.id));
                r.removed_images.push(RemovedImage {
                    id: row.id.clone(),
                    tags,
                    repo_digests,
                });
            }
        }

        // Unreferenced layers (top first, so children go before parents) and snapshots.
        let used_by_containers: HashSet<String> = self
            .snapshots
            .list()?
            .into_iter()
            .filter(|s| s.kind != berth_snapshot::Kind::Committed)
            .filter_map(|s| s.parent)
            .collect();
        let mut orphans: Vec<String> = self
            .db
            .list_layers()?
            .into_iter()
            .map(|l| l.chain_id)
            .filter(|c| !keep_chains.contains(c))
            .collect();
        for s in self.snapshots.list()? {
            if s.kind == berth_snapshot::Kind::Committed
                && s.key.starts_with("sha256:")
                && !keep_chains.contains(&s.key)
                && !orphans.contains(&s.key)
            {
                orphans.push(s.key.clone());
            }
            if s.kind == berth_snapshot::Kind::Active && s.key.starts_with(EXTRACT_PREFIX) {
                r.problems.push(format!("unfinished unpack {}", s.key));
                if repair {
                    self.snapshots.remove(&s.key)?;
                    r.repaired
                        .push(format!("removed unfinished unpack {}", s.key));
                }
            }
        }
        if !orphans.is_empty() {
            r.problems
                .push(format!("{} layer(s) belong to no image", orphans.len()));
        }
        if repair {
            // Remove leaves first, repeatedly, until nothing more can go.
            let mut progress = true;
            while progress {
                progress = false;
                for c in orphans.clone() {
                    if used_by_containers.contains(&c) {
                        continue;
                    }
                    match self.snapshots.remove(&c) {
                        Ok(()) | Err(berth_snapshot::Error::NotFound(_)) => {
                            self.db.delete_layer(&c)?;
                            orphans.retain(|o| o != &c);
                            r.repaired.push(format!("removed unreferenced layer {c}"));
                            progress = true;
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        let unreferenced: Vec<Digest> = self
            .content
            .list()?
            .into_iter()
            .map(|i| i.digest)
            .filter(|d| !keep_blobs.contains(d))
            .collect();
        if !unreferenced.is_empty() {
            r.problems
                .push(format!("{} blob(s) belong to no image", unreferenced.len()));
            if repair {
                for d in unreferenced {
                    self.content.delete(&d)?;
                    r.repaired.push(format!("removed unreferenced blob {d}"));
                }
            }
        }
        Ok(r)
    }

    /// Whether the image's layer chain is recorded, sound, and what its config promises.
    fn check_chain(
        &self,
        row: &berth_metadata::ImageRow,
        bad_layers: &HashSet<String>,
    ) -> Option<String> {
        let config = match self.config(&row.id) {
            Ok(c) => c,
            Err(e) => return Some(format!("config unreadable: {e}")),
        };
        let mut chain: Option<String> = None;
        for d in &config.rootfs.diff_ids {
            let c = chain_id(chain.as_deref(), d);
            if bad_layers.contains(&c) {
                return Some(format!("layer {c} is broken"));
            }
            match self.committed_layer(&c) {
                Ok(Some(_)) => {}
                _ => return Some(format!("layer {c} is missing")),
            }
            chain = Some(c);
        }
        (chain != row.chain_id).then(|| {
            format!(
                "its top layer is recorded as {:?}, its config says {chain:?}",
                row.chain_id
            )
        })
    }
}
