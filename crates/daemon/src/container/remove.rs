//! `rm` and `container prune`.

use berth_api::backend::Filters;
use berth_types::api::ContainerPruneResponse;

use super::Entry;
use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    pub async fn remove_container(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        self.remove_locked_volumes(&entry, force, volumes).await
    }

    /// Removes the container; the caller holds the op lock. An `--rm` container takes its
    /// anonymous volumes with it, as in Docker.
    pub(crate) async fn remove_locked(&self, entry: &Entry, force: bool) -> Result<()> {
        let auto_remove = entry.snapshot().host_config.auto_remove == Some(true);
        self.remove_locked_volumes(entry, force, auto_remove).await
    }

    /// Removes the container and, with `volumes` (`rm -v`), its anonymous volumes that no
    /// other container uses.
    async fn remove_locked_volumes(&self, entry: &Entry, force: bool, volumes: bool) -> Result<()> {
        let c = entry.snapshot();
        if c.state.status.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
                    c.name,
                    c.state.status.as_str()
                )));
            }
            self.stop_locked(entry, Some("SIGKILL".into()), Some(0))
                .await?;
        }
        if self.containers.lookup(&c.id).is_err() {
            // Already removed (an --rm container that exited while we waited for the lock).
            return Ok(());
        }
        self.teardown_runtime(&c.id).await;
        let images = self.images.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || images.remove_container_rootfs(&id))
            .await
            .map_err(|e| Error::Internal(format!("snapshot removal task: {e}")))??;
        let dir = self.container_dir(&c.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::io(format!("removing {}", dir.display()))(e));
            }
        }
        self.db.delete_container(&c.id)?;
        self.containers.remove(&c.id);
        self.exec_records_remove_for(&c.id);
        entry.wait_tx.send_modify(|w| w.removed = true);
        self.container_event(&c, "destroy", &[]);
        if volumes {
            self.remove_anonymous_volumes(&c);
        } else {
            self.volumes.unreference(&c.id);
        }
        Ok(())
    }

    pub async fn prune_containers(&self, filters: Filters) -> Result<ContainerPruneResponse> {
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for entry in self.containers.all() {
            let c = entry.snapshot();
            if c.state.status.is_running() || c.state.status == super::Status::Removing {
                continue;
            }
            if !super::list::matches_prune_filters(&c, &filters)? {
                continue;
            }
            let _op = entry.op.lock().await;
            let size = self.images.snapshotter().usage(&c.id).unwrap_or(0);
            if self.remove_locked(&entry, false).await.is_ok() {
                deleted.push(c.id.clone());
                reclaimed += size as i64;
            }
        }
        let resp = ContainerPruneResponse {
            containers_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed),
        };
        self.events.publish(
            berth_types::api::EventMessageTypeEnum::CONTAINER,
            "prune",
            "",
            [("reclaimed".to_string(), reclaimed.to_string())].into(),
        );
        Ok(resp)
    }
}
