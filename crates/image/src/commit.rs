//! `commit`: a container's changes become a new layer on top of its image, and a new image
//! whose config is the container's (plus `--change` instructions).
//!
//! Crash safety follows the store's rule: the layer blob is committed to the content store,
//! unpacked into a scratch snapshot that becomes the layer's snapshot, and only then are the
//! config, manifest and image row written — a kill at any point leaves at most unreferenced
//! blobs or scratch snapshots, which the next open or `system check` removes.

use berth_content::Digest;
use berth_types::api::ContainerConfig;
use berth_types::image::History;

use crate::changes::apply_changes;
use crate::error::{Error, Result};
use crate::oci::Manifest;
use crate::reference::Reference;
use crate::store::{now, MAX_DOC_SIZE};
use crate::unpack::Added;
use crate::ImageStore;

/// What `commit` records besides the changes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `name[:tag]` for the new image.
    pub reference: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Dockerfile instructions applied on top of `config`.
    pub changes: Vec<String>,
    /// The container's run configuration, which becomes the image's.
    pub config: ContainerConfig,
    /// The history step's `CreatedBy` (Docker: the container's command).
    pub created_by: String,
}

impl ImageStore {
    /// Commits container `container_id` (made from image `image_id`) as a new image; returns
    /// its ID.
    pub fn commit_container(
        &self,
        container_id: &str,
        image_id: &str,
        opts: CommitOptions,
    ) -> Result<String> {
        let tag = match &opts.reference {
            Some(r) => {
                let r = Reference::parse(r)?;
                if r.digest.is_some() {
                    return Err(Error::InvalidReference {
                        reference: r.to_string(),
                        reason: "cannot commit with a digest reference".into(),
                    });
                }
                Some(r)
            }
            None => None,
        };
        let mut run_config = opts.config.clone();
        apply_changes(&mut run_config, &opts.changes)?;
        let mut added = Added::default();
        match self.commit_inner(container_id, image_id, &opts, run_config, tag, &mut added) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.rollback(added);
                Err(e)
            }
        }
    }

    fn commit_inner(
        &self,
        container_id: &str,
        image_id: &str,
        opts: &CommitOptions,
        run_config: ContainerConfig,
        tag: Option<Reference>,
        added: &mut Added,
    ) -> Result<String> {
        let base = self.resolve(image_id)?;
        let mut config = self.config(&base.id)?;
        let base_blobs: Vec<Digest> = match base.row.manifest.as_deref() {
            Some(m) => {
                let m = Digest::parse(m).map_err(|e| Error::InvalidArchive(e.to_string()))?;
                let man: Manifest = serde_json::from_slice(
                    &self.content.read_blob(&m, MAX_DOC_SIZE)?,
                )
                .map_err(|e| Error::InvalidConfig {
                    id: base.id.clone(),
                    reason: e.to_string(),
                })?;
                man.layers
                    .iter()
                    .map(|l| Digest::parse(&l.digest))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| Error::InvalidArchive(e.to_string()))?
            }
            None => Vec::new(),
        };

        let reference = format!("commit-{}", hex::encode(rand::random::<[u8; 8]>()));
        let w = self.content.writer(&reference)?;
        let w = self.container_changes_tar(container_id, w)?;
        let blob = self.commit_blob(w, None, None, added)?;
        let layer = self.unpack_layer(
            &blob,
            base.row.chain_id.as_deref(),
            None,
            "commit",
            config.rootfs.diff_ids.len(),
            added,
        )?;

        let created = now();
        config.created = Some(created.clone());
        config.author = opts.author.clone().filter(|a| !a.is_empty());
        config.comment = opts.comment.clone().filter(|c| !c.is_empty());
        config.docker_version = None;
        config.config = Some(run_config);
        config.rootfs.diff_ids.push(layer.diff_id.to_string());
        config.history.push(History {
            created: Some(created),
            created_by: Some(opts.created_by.clone()),
            author: config.author.clone(),
            comment: config.comment.clone(),
            empty_layer: false,
        });
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig {
            id: "commit".into(),
            reason: e.to_string(),
        })?;
        let id = self.content.write_blob(&bytes, None)?;
        added.blobs.push(id.clone());
        let mut blobs = base_blobs;
        blobs.push(blob);
        let compressions = vec![None; blobs.len()];
        let manifest = self.synthesize_manifest(&id, &blobs, &compressions)?;
        added.blobs.push(manifest.clone());
        let size = base.row.size.saturating_add(layer.size);
        let names: Vec<String> = tag.iter().filter_map(|t| t.tagged_name()).collect();
        self.register(crate::store::Registration {
            id: &id,
            config: &config,
            top_chain: Some(&layer.chain),
            size,
            manifest: Some(&manifest),
            tags: &names,
            parent: &base.id,
        })?;
        Ok(id.to_string())
    }
}
