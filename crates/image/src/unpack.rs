//! Unpacking layer blobs into committed snapshots keyed by chain ID, shared by load and import,
//! and the bookkeeping that lets a failed operation take back what it added.

use berth_archive::{apply_layer, ApplyOptions, Compression, WhiteoutMode};
use berth_content::Digest;
use berth_metadata::LayerRow;
use berth_snapshot::LayerFormat;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::ImageStore;

/// Prefix of the keys of snapshots being unpacked; leftovers are removed at open.
pub(crate) const EXTRACT_PREFIX: &str = "extract-";

/// The chain ID of a layer: its diff ID for the bottom layer, else
/// `sha256(parent_chain + " " + diff_id)` (OCI image spec).
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => Digest::from_sha256(Sha256::digest(format!("{p} {diff_id}")).into()).to_string(),
    }
}

/// What an operation added, so that it can be taken back if it fails.
#[derive(Default)]
pub(crate) struct Added {
    pub blobs: Vec<Digest>,
    pub chains: Vec<String>,
}

/// One unpacked layer.
pub(crate) struct Unpacked {
    pub chain: String,
    pub diff_id: Digest,
    pub size: i64,
    pub compression: Option<Compression>,
}

impl ImageStore {
    /// Commits the blob `w` wrote (checked against `size` and `expected` when given) and, when
    /// the store did not have it before, records it in `added` so that a failure takes it back.
    pub(crate) fn commit_blob(
        &self,
        w: berth_content::Writer,
        size: Option<u64>,
        expected: Option<&Digest>,
        added: &mut Added,
    ) -> Result<Digest> {
        // Hashed before the commit, so that we know whether the store had this blob already.
        let existed = self.content.exists(&w.digest());
        let blob = w.commit(size, expected)?;
        if !existed && !added.blobs.contains(&blob) {
            added.blobs.push(blob.clone());
        }
        Ok(blob)
    }

    /// Unpacks `blob` on top of `parent` unless the resulting chain exists already. `expected`
    /// is the diff ID the image config promises; without it (import) the computed one is used.
    pub(crate) fn unpack_layer(
        &self,
        blob: &Digest,
        parent: Option<&str>,
        expected: Option<&Digest>,
        image: &str,
        index: usize,
        added: &mut Added,
    ) -> Result<Unpacked> {
        if let Some(diff) = expected {
            let chain = chain_id(parent, diff.as_str());
            if let Some(row) = self.committed_layer(&chain)? {
                return Ok(Unpacked {
                    chain,
                    diff_id: diff.clone(),
                    size: row.size,
                    compression: None,
                });
            }
        }
        self.unpack_reader(
            self.content.reader(blob)?,
            parent,
            expected,
            image,
            index,
            added,
        )
    }

    /// Unpacks the layer stream `src` (compressed or not) on top of `parent` into a new
    /// committed snapshot, checking its diff ID against `expected` in the same pass.
    pub(crate) fn unpack_reader(
        &self,
        src: impl std::io::Read,
        parent: Option<&str>,
        expected: Option<&Digest>,
        image: &str,
        index: usize,
        added: &mut Added,
    ) -> Result<Unpacked> {
        let key = format!("{EXTRACT_PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()));
        self.snapshots.prepare(&key, parent)?;
        let applied = (|| -> Result<_> {
            let dir = self.snapshots.upper_dir(&key)?;
            let mode = match self.snapshots.layer_format() {
                LayerFormat::OverlayDiff => WhiteoutMode::Overlay,
                LayerFormat::Full => WhiteoutMode::Delete,
            };
            let opts = ApplyOptions {
                id_map: self.id_map.clone(),
                ..ApplyOptions::new(mode)
            };
            let applied = apply_layer(src, &dir, &opts)?;
            if let Some(exp) = expected {
                if *exp != applied.diff_id {
                    return Err(Error::DiffIdMismatch {
                        image: image.to_string(),
                        index,
                        expected: exp.to_string(),
                        actual: applied.diff_id.to_string(),
                    });
                }
            }
            Ok(applied)
        })();
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                let _ = self.snapshots.remove(&key);
                return Err(e);
            }
        };
        let chain = chain_id(parent, applied.diff_id.as_str());
        match self.snapshots.commit(&chain, &key) {
            Ok(()) => added.chains.push(chain.clone()),
            // Someone unpacked the same chain meanwhile (or import met a known layer): theirs
            // is as good as ours.
            Err(berth_snapshot::Error::AlreadyExists(_)) => self.snapshots.remove(&key)?,
            Err(e) => {
                let _ = self.snapshots.remove(&key);
                return Err(e.into());
            }
        }
        let size = i64::try_from(applied.size).unwrap_or(i64::MAX);
        self.db.put_layer(&LayerRow {
            chain_id: chain.clone(),
            diff_id: applied.diff_id.to_string(),
            parent: parent.map(str::to_string),
            size,
        })?;
        let size = self.db.get_layer(&chain)?.map_or(size, |r| r.size);
        Ok(Unpacked {
            chain,
            diff_id: applied.diff_id,
            size,
            compression: Some(applied.compression),
        })
    }

    /// The layer row of `chain` if its snapshot is committed and recorded.
    pub(crate) fn committed_layer(&self, chain: &str) -> Result<Option<LayerRow>> {
        match self.snapshots.stat(chain) {
            Ok(info) if info.kind == berth_snapshot::Kind::Committed => {
                Ok(self.db.get_layer(chain)?)
            }
            Ok(_) | Err(berth_snapshot::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes back what a failed operation added: new layers (top first) and new blobs.
    pub(crate) fn rollback(&self, added: Added) {
        for chain in added.chains.iter().rev() {
            if self.snapshots.remove(chain).is_ok() {
                let _ = self.db.delete_layer(chain);
            }
        }
        for blob in &added.blobs {
            let _ = self.content.delete(blob);
        }
        let _ = self.sweep_layer_indexes();
    }
}
