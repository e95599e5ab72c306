//! Snapshots: the filesystems that image layers and container root filesystems live in,
//! modelled on containerd's snapshotter interface.
//!
//! A snapshot is known by a caller-chosen *key*. It is one of:
//!
//! * **active** — writable, made by [`Snapshotter::prepare`] on top of an optional committed
//!   parent. Layers are unpacked into active snapshots, and a container's root filesystem is one.
//! * **committed** — made from an active snapshot by [`Snapshotter::commit`] under a new name
//!   (the image store uses the layer's chain ID); immutable, usable as a parent.
//! * **view** — a read-only look at a committed snapshot, made by [`Snapshotter::view`].
//!
//! Lifecycle of a layer: `prepare("extract-…", parent)` → write the layer into
//! [`Snapshotter::upper_dir`] in the snapshotter's [`LayerFormat`] → `commit(chain_id, key)`.
//! Lifecycle of a container root: `prepare(container_id, image_chain_id)` → [`mount_all`] the
//! returned [`Mount`]s → run → [`unmount`] → `remove(container_id)`.
//! A committed snapshot cannot be removed while another snapshot names it as parent.
//!
//! Backends ([`open`] picks one): [`overlay`] stacks each layer's own directory with overlayfs;
//! [`native`] copies the parent in full into each new snapshot and is used where overlayfs cannot
//! be mounted (probed at open). [`mount_all`] and [`unmount`] are the only code that mounts.

mod error;
mod meta;
mod mount;
pub mod native;
pub mod overlay;
mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{Error, Result};
pub use mount::{mount_all, unmount, Mount};

/// The state of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Active,
    Committed,
    View,
}

/// What a snapshotter knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub key: String,
    pub kind: Kind,
    pub parent: Option<String>,
    /// RFC 3339 creation time.
    pub created: String,
}

/// How a layer must be written into an active snapshot's [`Snapshotter::upper_dir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerFormat {
    /// The directory starts empty and holds only this layer's changes; deletions are overlayfs
    /// whiteouts (0/0 character devices, `trusted.overlay.opaque`).
    OverlayDiff,
    /// The directory already holds the parent's whole tree; deletions delete.
    Full,
}

/// The snapshotter interface. Implementations are safe to share between threads.
pub trait Snapshotter: Send + Sync {
    /// The backend's name as Docker reports it in `GraphDriver.Name` (`overlay2`, `native`).
    fn driver_name(&self) -> &'static str;

    /// How layers are written into active snapshots.
    fn layer_format(&self) -> LayerFormat;

    /// Information about the snapshot `key`.
    fn stat(&self, key: &str) -> Result<Info>;

    /// Creates the active snapshot `key` on top of committed `parent` (or empty) and returns the
    /// mounts that present it.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// Creates the read-only view `key` of committed `parent` (or of an empty tree).
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// The mounts of an existing active snapshot or view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;

    /// The writable directory of active snapshot `key`, where a layer is unpacked (see
    /// [`Snapshotter::layer_format`]) or where a container's changes accumulate.
    fn upper_dir(&self, key: &str) -> Result<PathBuf>;

    /// Turns active snapshot `key` into committed snapshot `name`. `key` ceases to exist.
    fn commit(&self, name: &str, key: &str) -> Result<()>;

    /// Removes a snapshot. Fails with [`Error::InUse`] while another snapshot has it as parent.
    fn remove(&self, key: &str) -> Result<()>;

    /// Every snapshot.
    fn list(&self) -> Result<Vec<Info>>;

    /// Bytes used by the snapshot's own directory (for a layer: its unpacked size).
    fn usage(&self, key: &str) -> Result<u64>;

    /// Extra `GraphDriver.Data` Docker shows for an active snapshot or committed layer
    /// (`UpperDir`, `LowerDir`, `WorkDir`, `MergedDir`).
    fn driver_data(&self, key: &str) -> Result<Vec<(String, String)>>;
}

/// Which backend [`open`] should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Overlay,
    Native,
    /// Overlay when a probe mount succeeds, native otherwise.
    Auto,
}

/// Opens the snapshotter under `<data_root>/snapshots/`.
pub fn open(data_root: &Path, backend: Backend) -> Result<Arc<dyn Snapshotter>> {
    let root = data_root.join("snapshots");
    let use_overlay = match backend {
        Backend::Overlay => true,
        Backend::Native => false,
        Backend::Auto => overlay::supported(&root),
    };
    Ok(if use_overlay {
        Arc::new(overlay::Overlay::open(&root.join("overlay"))?)
    } else {
        Arc::new(native::Native::open(&root.join("native"))?)
    })
}

#[cfg(test)]
mod tests;
