//! What a registry pull needs from the store, as a transaction: blobs and layers are added
//! through an [`Ingest`], the image is recorded by [`Ingest::finish`] only after every layer it
//! names is committed, and a pull that fails (or is dropped) takes back what it added.
//!
//! The registry client (`berth-distribution`) downloads and verifies blobs; the store owns
//! unpacking, chain IDs and metadata rows, exactly as for `load`.

use std::io::Read;
use std::sync::Mutex;

use berth_content::Digest;
use berth_types::image::ImageConfig;

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::MAX_DOC_SIZE;
use crate::unpack::Added;
use crate::ImageStore;

/// An in-progress addition of one image. Shared between the threads that unpack its layers.
pub struct Ingest {
    store: ImageStore,
    added: Mutex<Added>,
    done: bool,
}

/// What [`Ingest::finish`] did to the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOutcome {
    /// The tag already named this image.
    Unchanged,
    /// The tag is new or moved here (from the image given).
    Set(Option<String>),
    /// No tag was given (pull by digest).
    None,
}

impl ImageStore {
    /// Starts adding an image.
    pub fn begin_ingest(&self) -> Ingest {
        Ingest {
            store: self.clone(),
            added: Mutex::new(Added::default()),
            done: false,
        }
    }

    /// The unpacked size of committed layer `chain`, `None` if it is not (completely) there.
    pub fn layer_size(&self, chain: &str) -> Result<Option<i64>> {
        Ok(self.committed_layer(chain)?.map(|r| r.size))
    }

    /// Records `repository@digest` (normalised repository) as a name of image `id`, after a
    /// push.
    pub fn add_repo_digest(&self, repository: &str, digest: &Digest, id: &str) -> Result<()> {
        Ok(self
            .db
            .add_repo_digest(&format!("{repository}@{digest}"), id)?)
    }

    /// Whether image `id` (`sha256:<hex>`) is recorded.
    pub fn has_image(&self, id: &str) -> Result<bool> {
        Ok(self.db.get_image(id)?.is_some())
    }

    /// Parses an image config document, as a pull must before trusting its diff IDs.
    pub fn parse_config(id: &Digest, bytes: &[u8]) -> Result<(ImageConfig, Vec<Digest>)> {
        if bytes.len() as u64 > MAX_DOC_SIZE {
            return Err(Error::InvalidConfig {
                id: id.to_string(),
                reason: "too large".into(),
            });
        }
        let config: ImageConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
        if config.rootfs.kind != "layers" {
            return Err(Error::InvalidConfig {
                id: id.to_string(),
                reason: format!("rootfs type {:?}, expected \"layers\"", config.rootfs.kind),
            });
        }
        let diff_ids = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig {
                id: id.to_string(),
                reason: e.to_string(),
            })?;
        Ok((config, diff_ids))
    }
}

impl Ingest {
    /// Stores a document (manifest, index, config) verified against `expected`.
    pub fn put_blob(&self, data: &[u8], expected: &Digest) -> Result<()> {
        let existed = self.store.content.exists(expected);
        self.store.content.write_blob(data, Some(expected))?;
        if !existed {
            self.note_blob(expected.clone());
        }
        Ok(())
    }

    /// Records that this ingest added blob `d` (taken back if the ingest fails).
    pub fn note_blob(&self, d: Digest) {
        let mut a = self.added.lock().unwrap_or_else(|p| p.into_inner());
        if !a.blobs.contains(&d) {
            a.blobs.push(d);
        }
    }

    /// The content store, for blob writers.
    pub fn content(&self) -> &berth_content::Store {
        &self.store.content
    }

    /// Unpacks the layer stream `src` on top of committed `parent`, verifying its diff ID
    /// against `diff_id`, and returns the chain ID and the layer's unpacked size. A layer whose
    /// chain is already committed is not unpacked again (`src` is left unread).
    pub fn unpack(
        &self,
        src: impl Read,
        parent: Option<&str>,
        diff_id: &Digest,
        image: &str,
        index: usize,
    ) -> Result<(String, i64)> {
        let chain = crate::chain_id(parent, diff_id.as_str());
        if let Some(row) = self.store.committed_layer(&chain)? {
            return Ok((chain, row.size));
        }
        let mut added = Added::default();
        let u = self
            .store
            .unpack_reader(src, parent, Some(diff_id), image, index, &mut added)?;
        self.added
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .chains
            .extend(added.chains);
        Ok((u.chain, u.size))
    }

    /// Records the image (config `id`, manifest `manifest`) whose top layer is `top_chain`,
    /// names it `reference` (its tag and, given `repo_digest`, `repository@digest`), and ends
    /// the ingest successfully.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        mut self,
        id: &Digest,
        config: &ImageConfig,
        top_chain: Option<&str>,
        size: i64,
        manifest: &Digest,
        reference: &Reference,
        repo_digest: &Digest,
    ) -> Result<TagOutcome> {
        let before = match reference.tagged_name() {
            Some(t) => self.store.db.get_tag(&t)?.map(|r| r.image_id),
            None => None,
        };
        let tags: Vec<String> = reference.tagged_name().into_iter().collect();
        let unchanged = before.as_deref() == Some(id.as_str());
        // An unchanged tag keeps its time: nothing moved.
        let tags: &[String] = if unchanged { &[] } else { &tags };
        self.store.register(crate::store::Registration {
            id,
            config,
            top_chain,
            size,
            manifest: Some(manifest),
            tags,
            parent: "",
        })?;
        self.store.db.add_repo_digest(
            &format!("{}@{}", reference.repository(), repo_digest),
            id.as_str(),
        )?;
        self.done = true;
        Ok(match (tags.is_empty(), unchanged) {
            (true, _) => TagOutcome::None,
            (false, true) => TagOutcome::Unchanged,
            (false, false) => TagOutcome::Set(before),
        })
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.done {
            let added = std::mem::take(&mut *self.added.lock().unwrap_or_else(|p| p.into_inner()));
            self.store.rollback(added);
        }
    }
}
