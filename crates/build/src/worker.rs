//! What the daemon provides to the engine. The engine decides *what* each step is; the worker
//! runs containers, stores images and keeps cache records, so the engine can be driven by a
//! fake in tests.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use berth_types::image::ImageConfig;

use crate::error::Result;
use crate::output::Output;

/// An image as a step sees it.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// `sha256:<hex>`.
    pub id: String,
    pub config: ImageConfig,
}

/// Where a `RUN` container's network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunNetwork {
    /// The daemon's default bridge (or `networkmode` of the build request).
    Default(Option<String>),
    None,
    Host,
}

/// One mount of a `RUN` container, already resolved to a host path by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMountSpec {
    /// A host directory or file bound at `target`.
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    /// A fresh tmpfs.
    Tmpfs { target: String, size: Option<u64> },
}

/// One `RUN` step: run `argv` in a fresh container made from `image` and commit its changes
/// with `commit_config`.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The parent image (`None` for a `RUN` right after `FROM scratch`: an error for the
    /// daemon, as in Docker, since there is nothing to run).
    pub image: Option<String>,
    pub argv: Vec<String>,
    /// `KEY=value`: the stage's environment plus the build args in scope.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub network: RunNetwork,
    pub mounts: Vec<RunMountSpec>,
    pub extra_hosts: Vec<String>,
    /// The new image's config (history entry included; `rootfs` is the worker's).
    pub commit_config: ImageConfig,
    /// Remove the container when the command fails too (`forcerm`).
    pub force_remove: bool,
    /// Keep the container after success (`rm=false`).
    pub keep: bool,
}

/// A read-only view of an image's root filesystem, unmounted on drop.
pub trait MountedImage: Send + Sync {
    fn path(&self) -> &Path;
}

/// A new step image's layer, if any.
pub enum NewLayer {
    None,
    /// An uncompressed layer tar on disk (the worker may delete it once stored).
    Tar(PathBuf),
}

#[async_trait]
pub trait Worker: Send + Sync {
    /// The image `name` (reference or ID), pulled when absent or when `pull` is set.
    async fn resolve_image(&self, name: &str, pull: bool, out: &Output) -> Result<BaseImage>;
    /// The config of image `id`.
    async fn image_config(&self, id: &str) -> Result<ImageConfig>;
    /// Runs a `RUN` step (see [`RunRequest`]); its output goes to `out`. Returns the new
    /// image's ID. A non-zero exit is [`crate::Error::RunFailed`].
    async fn run(&self, req: RunRequest, out: &Output) -> Result<String>;
    /// Stores the image of a `COPY`/`ADD`/`WORKDIR` or metadata step on `parent`.
    async fn commit(
        &self,
        parent: Option<&str>,
        config: ImageConfig,
        layer: NewLayer,
    ) -> Result<String>;
    /// Mounts image `id` read-only for reading files from it.
    async fn mount(&self, id: &str) -> Result<Box<dyn MountedImage>>;
    /// The image recorded for cache key `key`, if it still exists.
    async fn cache_get(&self, key: &str) -> Result<Option<String>>;
    /// Records that `key` produced image `id`.
    async fn cache_put(&self, key: &str, id: &str) -> Result<()>;
    /// Points `tag` at `id`; a tag that moves leaves the old image dangling.
    async fn tag(&self, id: &str, tag: &str) -> Result<()>;
    /// Scratch space for layer tars and fetched files.
    fn scratch_dir(&self) -> PathBuf;
    /// The directory holding cache mount `id` (created on first use, kept between builds).
    fn cache_mount_dir(&self, id: &str) -> Result<PathBuf>;
}
