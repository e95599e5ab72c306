//! The container-side image verbs: `commit`, `diff` (changes) and `export`.

use berth_api::backend::{ByteStream, CommitOptions};
use berth_types::api::{EventMessageTypeEnum, FilesystemChange};

use super::blocking;
use super::save::blocking_stream;
use crate::container::Status;
use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    /// `POST /commit`. A running container is paused for the duration unless `pause` is false,
    /// so that the walk of its changes sees a tree that does not move.
    pub async fn commit_container(&self, req: CommitOptions) -> Result<String> {
        let entry = self.containers.lookup(&req.container)?;
        let c = entry.snapshot();
        let reference = match (&req.repo, &req.tag) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r.clone()),
            (None, Some(_)) => {
                return Err(Error::InvalidArgument(
                    "tag requires a repository name".into(),
                ))
            }
            (None, None) => None,
        };
        let paused = req.pause && c.state.status == Status::Running;
        if paused {
            self.pause_container(&c.id).await?;
        }
        let images = self.images.clone();
        let opts = berth_image::CommitOptions {
            reference: reference.clone(),
            author: req.author.clone(),
            comment: req.comment.clone(),
            changes: req.changes.clone(),
            config: c.config.clone(),
            created_by: std::iter::once(c.path.clone())
                .chain(c.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let (cid, image) = (c.id.clone(), c.image_id.clone());
        let result = blocking(move || Ok(images.commit_container(&cid, &image, opts)?)).await;
        if paused {
            // The container must not stay frozen because the commit failed.
            if let Err(e) = self.unpause_container(&c.id).await {
                tracing::warn!("unpausing {} after commit: {e}", c.id);
            }
        }
        let id = result?;
        self.events.publish(
            EventMessageTypeEnum::CONTAINER,
            "commit",
            &c.id,
            [
                ("comment".to_string(), req.comment.unwrap_or_default()),
                ("imageID".to_string(), id.clone()),
                ("imageRef".to_string(), reference.unwrap_or_default()),
            ]
            .into(),
        );
        Ok(id)
    }

    /// `GET /containers/{id}/changes`.
    pub async fn container_changes(&self, key: &str) -> Result<Vec<FilesystemChange>> {
        let c = self.containers.lookup(key)?.snapshot();
        let images = self.images.clone();
        blocking(move || Ok(images.container_changes(&c.id)?)).await
    }

    /// `GET /containers/{id}/export`: the container's whole root filesystem as a tar. A
    /// running container's mounted root is read in place; a stopped one is mounted privately
    /// for the duration, under its operation lock so that a start cannot race the mount.
    pub async fn export_container(&self, key: &str) -> Result<ByteStream> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let mounted = self.state_dir(&c.id).join("rootfs");
        // A remapped daemon's root filesystems hold shifted owners: write the image world's.
        let map = self.config.id_map.clone();
        if c.state.status.is_running() {
            self.container_event(&c, "export", &[]);
            return Ok(blocking_stream(move |w| {
                berth_archive::tar_dir_as(&mounted, w, map.as_ref())
                    .map_err(|e| Error::Internal(format!("exporting: {e}")))?;
                Ok(())
            }));
        }
        let target = self.config.exec_root.join("export").join(hex_suffix(&c.id));
        std::fs::create_dir_all(&target).map_err(Error::io("creating the export mount point"))?;
        let images = self.images.clone();
        self.container_event(&c, "export", &[]);
        Ok(blocking_stream(move |w| {
            let _op = entry.op.blocking_lock();
            let r = crate::rootfs::mount(&images, &c.id, &target).and_then(|()| {
                berth_archive::tar_dir_as(&target, w, map.as_ref())
                    .map(|_| ())
                    .map_err(|e| Error::Internal(format!("exporting: {e}")))
            });
            let u = crate::rootfs::unmount(&target);
            let _ = std::fs::remove_dir(&target);
            r.and(u)
        }))
    }
}

fn hex_suffix(id: &str) -> String {
    format!("{id}-{}", rand::random::<u32>())
}
