//! The image store: images made of content blobs (manifests, configs, layer tars), unpacked
//! layers (snapshots keyed by chain ID) and metadata rows (images, tags, layers), kept
//! consistent with one rule — rows are written only after the blobs and snapshots they name
//! exist, and a failed operation takes back what it added.
//!
//! Lifecycle of an image:
//!
//! 1. **In**: [`ImageStore::load`] (a `docker save` archive or an OCI layout tar) or
//!    [`ImageStore::import`] (a root filesystem tar plus `--change` instructions). Every blob is
//!    verified; each layer is unpacked once into the snapshot named by its chain ID
//!    (`chain(0) = diff_id(0)`, `chain(n) = sha256(chain(n-1) + " " + diff_id(n))`) and reused by
//!    every image that shares it.
//! 2. **Named**: tags are stored normalised (`docker.io/library/busybox:latest`) and shown
//!    familiar (`busybox:latest`); [`ImageStore::resolve`] accepts names, IDs and ID prefixes.
//! 3. **Used**: [`ImageStore::rootfs_for_container`] prepares a writable snapshot on the image's
//!    top layer; [`ImageStore::remove_container_rootfs`] drops it.
//! 4. **Looked at**: [`ImageStore::layer_report`] tells which bytes each layer carries that
//!    later layers delete or overwrite (see [`waste`]).
//! 5. **Out**: [`ImageStore::remove`] untags and, when nothing names or uses the image, deletes
//!    it with the layers and blobs no other image shares.

mod build;
mod changes;
mod check;
mod commit;
mod diff;
mod error;
mod history;
mod import;
mod load;
pub mod oci;
pub mod platform;
mod prune;
mod pull;
pub mod reference;
mod save;
mod store;
mod unpack;
pub mod waste;

pub use build::StepLayer;
pub use changes::apply_changes;
pub use check::{CheckReport, RemovedImage};
pub use commit::CommitOptions;
pub use error::{Error, Result};
pub use load::LoadedImage;
pub use prune::{parse_until, PruneFilters};
pub use pull::{Ingest, TagOutcome};
pub use reference::Reference;
pub use save::SavePlan;
pub use store::{ImageRecord, ImageStore, ImageUser};
pub use unpack::chain_id;

#[cfg(test)]
mod tests;
