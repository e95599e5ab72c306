//! `docker cp`'s endpoints: `HEAD`/`GET`/`PUT /containers/{id}/archive`. The container's root
//! is the mounted one while it runs; a stopped container's is mounted privately for the call,
//! under its operation lock. Path handling is `berth_archive`'s: everything resolves inside the
//! root, never through the host's view of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::backend::ByteStream;
use berth_archive::PathStat;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::save::ChannelWriter;
use crate::container::Entry;
use crate::error::{Error, Result};
use crate::Daemon;

fn archive_err(e: berth_archive::Error, path: &str, id: &str) -> Error {
    match berth_types::Kinded::kind(&e) {
        berth_types::ErrorKind::NotFound => {
            Error::NotFound(format!("Could not find the file {path} in container {id}"))
        }
        berth_types::ErrorKind::InvalidArgument => Error::InvalidArgument(e.to_string()),
        _ => Error::Internal(e.to_string()),
    }
}

/// A container root to run a cp on, resolved on the async side; [`RootJob::run`] does the
/// (blocking) mounting and the work.
struct RootJob {
    entry: Arc<Entry>,
    id: String,
    /// The name the client used, for messages (Docker echoes it).
    key: String,
    mounted: PathBuf,
    scratch: PathBuf,
    images: Arc<berth_image::ImageStore>,
    running: bool,
}

impl RootJob {
    fn run<T>(self, f: impl FnOnce(&Path, &str) -> Result<T>) -> Result<T> {
        if self.running {
            return f(&self.mounted, &self.key);
        }
        let _op = self.entry.op.blocking_lock();
        std::fs::create_dir_all(&self.scratch).map_err(Error::io("creating a cp mount point"))?;
        if let Err(e) = crate::rootfs::mount(&self.images, &self.id, &self.scratch) {
            let _ = std::fs::remove_dir(&self.scratch);
            return Err(e);
        }
        let r = f(&self.scratch, &self.key);
        let u = crate::rootfs::unmount(&self.scratch);
        let _ = std::fs::remove_dir(&self.scratch);
        let v = r?;
        u?;
        Ok(v)
    }
}

impl Daemon {
    fn root_job(&self, key: &str) -> Result<RootJob> {
        let entry: Arc<Entry> = self.containers.lookup(key)?;
        let c = entry.snapshot();
        Ok(RootJob {
            mounted: self.state_dir(&c.id).join("rootfs"),
            scratch: self.config.exec_root.join("cp").join(format!(
                "{}-{}",
                c.id,
                rand::random::<u32>()
            )),
            images: self.images.clone(),
            running: c.state.status.is_running(),
            id: c.id,
            key: key.to_string(),
            entry,
        })
    }

    /// Runs `f` on the container's root filesystem on a blocking thread (see the module doc).
    async fn with_root<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Path, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let job = self.root_job(key)?;
        super::blocking(move || job.run(f)).await
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat> {
        let path = path.to_string();
        self.with_root(key, move |root, id| {
            berth_archive::stat_in_root(root, &path).map_err(|e| archive_err(e, &path, id))
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=`: the stat (for the header) and the tar stream.
    pub async fn archive_get(&self, key: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let (stat_tx, stat_rx) = tokio::sync::oneshot::channel::<Result<PathStat>>();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let path = path.to_string();
        let job = self.root_job(key)?;
        let map = self.config.id_map.clone();
        let work = move |root: &Path, id: &str| {
            let stat = match berth_archive::stat_in_root(root, &path) {
                Ok(s) => s,
                Err(e) => {
                    let _ = stat_tx.send(Err(archive_err(e, &path, id)));
                    return Ok(());
                }
            };
            let _ = stat_tx.send(Ok(stat));
            let w = std::io::BufWriter::with_capacity(256 << 10, ChannelWriter(tx));
            if let Err(e) = berth_archive::tar_from_root_as(root, &path, w, map.as_ref()) {
                tracing::warn!("copying {path} out of {id}: {e}");
            }
            Ok(())
        };
        // The walk runs (and holds the mount) while the body streams.
        let handle = tokio::task::spawn_blocking(move || job.run(work));
        let stat = match stat_rx.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(match handle.await {
                    Ok(Err(e)) => e,
                    _ => Error::Internal("cp ended before reporting".into()),
                })
            }
        };
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
        Ok((stat, body))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `body` into directory `path`.
    pub async fn archive_put(
        &self,
        key: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        body: ByteStream,
    ) -> Result<()> {
        let c = self.containers.lookup(key)?.snapshot();
        if c.host_config.readonly_rootfs.unwrap_or(false) {
            return Err(Error::Conflict(
                "container rootfs is marked read-only".into(),
            ));
        }
        let path = path.to_string();
        let chunks = body.map(Ok::<Bytes, std::io::Error>);
        let reader = SyncIoBridge::new(StreamReader::new(chunks));
        // Into a remapped daemon's root filesystem, owners are shifted as the layers' are.
        let map = self.config.id_map.clone();
        self.with_root(key, move |root, id| {
            berth_archive::extract_into_root_as(
                root,
                &path,
                reader,
                no_overwrite_dir_non_dir,
                map.as_ref(),
            )
            .map_err(|e| archive_err(e, &path, id))
        })
        .await?;
        self.container_event(&c, "extract-to-dir", &[]);
        Ok(())
    }
}
