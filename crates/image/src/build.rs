//! The image-creation primitive the builder uses: one build step's image, made from its
//! parent's (or nothing, for `FROM scratch`), a complete config the builder prepared, and at
//! most one new layer — a layer tar the builder wrote (`COPY`/`ADD`) or a container's changes
//! (`RUN`).
//!
//! Crash safety is commit's: blobs and snapshots first, the image row last; a failure takes
//! back what it added.

use std::io::Read;

use berth_content::Digest;
use berth_types::image::ImageConfig;

use crate::error::{Error, Result};
use crate::oci::{Descriptor, Manifest};
use crate::store::MAX_DOC_SIZE;
use crate::unpack::Added;
use crate::ImageStore;

/// Where a build step's new layer comes from.
pub enum StepLayer<'a> {
    /// Metadata-only step: no layer (the history entry says `empty_layer`).
    None,
    /// A layer tar (uncompressed) the builder wrote.
    Tar(&'a mut dyn Read),
    /// The changes of container `id` on top of the parent image.
    Container(&'a str),
}

impl ImageStore {
    /// Creates the image of one build step and returns its ID. `config` is complete except for
    /// `rootfs`, which this function derives from the parent plus the new layer (if any).
    pub fn create_step_image(
        &self,
        parent: Option<&str>,
        mut config: ImageConfig,
        layer: StepLayer<'_>,
    ) -> Result<String> {
        let mut added = Added::default();
        let r = (|| {
            let (base_row, base_blobs, mut diff_ids) = match parent {
                Some(p) => {
                    let rec = self.resolve(p)?;
                    let cfg = self.config(&rec.id)?;
                    let blobs = self.layer_descriptors(&rec.row.manifest, &rec.id)?;
                    (Some(rec), blobs, cfg.rootfs.diff_ids)
                }
                None => (None, Vec::new(), Vec::new()),
            };
            let parent_chain = base_row.as_ref().and_then(|r| r.row.chain_id.clone());
            let mut size = base_row.as_ref().map_or(0, |r| r.row.size);
            let mut blobs = base_blobs;
            let mut top = parent_chain.clone();
            let blob = match layer {
                StepLayer::None => None,
                StepLayer::Tar(src) => {
                    let reference = format!("build-{}", hex::encode(rand::random::<[u8; 8]>()));
                    let mut w = self.content.writer(&reference)?;
                    std::io::copy(src, &mut w).map_err(|e| Error::Io {
                        op: "writing a build layer".into(),
                        source: e,
                    })?;
                    Some(w)
                }
                StepLayer::Container(id) => {
                    let reference = format!("build-{}", hex::encode(rand::random::<[u8; 8]>()));
                    let w = self.content.writer(&reference)?;
                    Some(self.container_changes_tar(id, w)?)
                }
            };
            if let Some(w) = blob {
                let blob = self.commit_blob(w, None, None, &mut added)?;
                let layer = self.unpack_layer(
                    &blob,
                    parent_chain.as_deref(),
                    None,
                    "build",
                    diff_ids.len(),
                    &mut added,
                )?;
                diff_ids.push(layer.diff_id.to_string());
                size = size.saturating_add(layer.size);
                blobs.push(Descriptor {
                    media_type: crate::oci::MEDIA_OCI_LAYER.into(),
                    size: self.content.info(&blob)?.size as i64,
                    digest: blob.to_string(),
                    ..Default::default()
                });
                top = Some(layer.chain);
            }
            config.rootfs.kind = "layers".into();
            config.rootfs.diff_ids = diff_ids;
            let bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig {
                id: "build".into(),
                reason: e.to_string(),
            })?;
            let id = self.content.write_blob(&bytes, None)?;
            added.blobs.push(id.clone());
            // The parent's layer descriptors are reused as they are: no layer blob is
            // reopened to sniff its compression on every step.
            let m = Manifest {
                schema_version: 2,
                media_type: crate::oci::MEDIA_OCI_MANIFEST.into(),
                config: Descriptor {
                    media_type: crate::oci::MEDIA_OCI_CONFIG.into(),
                    digest: id.to_string(),
                    size: bytes.len() as i64,
                    ..Default::default()
                },
                layers: blobs,
            };
            let mbytes = serde_json::to_vec(&m).map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
            let manifest = self.content.write_blob(&mbytes, None)?;
            added.blobs.push(manifest.clone());
            self.register(crate::store::Registration {
                id: &id,
                config: &config,
                top_chain: top.as_deref(),
                size,
                manifest: Some(&manifest),
                tags: &[],
                parent: base_row.as_ref().map_or("", |r| r.id.as_str()),
            })?;
            Ok(id.to_string())
        })();
        match r {
            Ok(id) => Ok(id),
            Err(e) => {
                // Blobs shared with an existing image are never in `added`.
                self.rollback(added);
                Err(e)
            }
        }
    }

    /// Points normalised `name` at image `id`; returns the image it named before, if another.
    pub fn set_tag(&self, name: &str, id: &str) -> Result<Option<String>> {
        let r = crate::reference::Reference::parse(name)?;
        let key = r.tagged_name().ok_or_else(|| Error::InvalidReference {
            reference: name.to_string(),
            reason: "a tag needs a name".into(),
        })?;
        let prev = self.db.set_tag(&key, id, &crate::store::now())?;
        Ok(prev.filter(|p| p != id))
    }

    /// Deletes the images of `candidates` (build step images) that no tag, container or
    /// child image needs, children before parents. Returns the deleted IDs and the bytes their
    /// layers held.
    pub fn prune_build_images(
        &self,
        candidates: &std::collections::HashSet<String>,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<String>, i64)> {
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        let mut progress = true;
        while progress {
            progress = false;
            for row in self.db.list_images()? {
                if !candidates.contains(&row.id) || in_use(&row.id) {
                    continue;
                }
                let rec = self.record(row)?;
                if !rec.repo_tags.is_empty() || self.has_children(&rec.id)? {
                    continue;
                }
                let (_, bytes) = self.delete_image(&rec)?;
                reclaimed += bytes;
                deleted.push(rec.id);
                progress = true;
            }
        }
        Ok((deleted, reclaimed))
    }

    /// The bytes of the top layer of image `id` alone (0 for a metadata-only step).
    pub fn own_layer_size(&self, id: &str) -> Result<i64> {
        let Some(row) = self.db.get_image(id)? else {
            return Ok(0);
        };
        let parent_chain = match self.db.get_image(&row.parent)? {
            Some(p) => p.chain_id,
            None => None,
        };
        if row.chain_id == parent_chain {
            return Ok(0);
        }
        Ok(match row.chain_id.as_deref() {
            Some(c) => self.db.get_layer(c)?.map_or(0, |l| l.size),
            None => 0,
        })
    }

    fn layer_descriptors(&self, manifest: &Option<String>, id: &str) -> Result<Vec<Descriptor>> {
        let Some(m) = manifest.as_deref() else {
            return Ok(Vec::new());
        };
        let m = Digest::parse(m).map_err(|e| Error::InvalidArchive(e.to_string()))?;
        let man: Manifest = serde_json::from_slice(&self.content.read_blob(&m, MAX_DOC_SIZE)?)
            .map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
        Ok(man.layers)
    }
}
