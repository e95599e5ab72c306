//! Start-up: load every container from the database and reconcile it with what is really
//! there — the daemon may have been SIGKILLed at any point.
//!
//! * A container recorded as running whose shim still answers is re-adopted: its monitor is
//!   started again and it carries on as if nothing happened.
//! * One whose shim is gone gets its exit status from `exit.json`, or 255 and an error when the
//!   shim died without writing one; its mounts and state dir are cleaned up.
//! * A container caught half-way through `start` (state dir present, status created/exited) is
//!   torn down: shim stopped, rootfs unmounted, state dir removed.
//! * A container caught half-way through `rm` (status removing) is removed.
//! * Restart policies: a container whose init exited while the daemon was down is restarted
//!   as its policy says; one caught waiting out a back-off resumes the wait; a stopped one
//!   comes back if its policy asks for it at daemon start (see [`super::restart`]).
//! * Healthchecks of running containers resume.
//! * State dirs and container dirs without a database row are orphans of an interrupted
//!   create and are removed, as are container snapshots without a row.

use std::collections::HashSet;
use std::sync::Arc;

use super::monitor::{read_exit_file, shim_alive};
use super::{Container, Entry, Status};
use crate::error::Result;
use crate::Daemon;

pub async fn restore_all(daemon: &Arc<Daemon>) -> Result<()> {
    let rows = daemon.db.list_containers()?;
    let mut known = HashSet::new();
    for row in rows {
        let c: Container = match serde_json::from_str(&row.record) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "container {} has an unreadable record ({e}); leaving it out",
                    row.id
                );
                continue;
            }
        };
        known.insert(c.id.clone());
        daemon.reference_volumes(&c);
        let entry = Entry::new(c.clone());
        daemon.containers.insert(entry.clone());
        let state_dir = daemon.state_dir(&c.id);
        match c.state.status {
            Status::Restarting => {
                // Killed while waiting out a restart back-off (or half-way through the
                // restart, which starts over: `start` clears what a run left behind).
                daemon.restart_at_startup(&entry);
            }
            Status::Running | Status::Paused => {
                if shim_alive(&state_dir) {
                    tracing::info!("re-adopting running container {}", c.short_id());
                    daemon.reacquire_volumes(&c);
                    daemon.spawn_monitor(entry.clone());
                    daemon.start_health_monitor(&entry, false);
                } else {
                    let exit = read_exit_file(&state_dir);
                    daemon.handle_exit(&entry, exit).await;
                }
            }
            Status::Removing | Status::Dead => {
                let _op = entry.op.lock().await;
                if let Err(e) = daemon.remove_locked(&entry, true).await {
                    tracing::warn!("finishing the removal of {}: {e}", c.id);
                    let _ = daemon.update(&entry, |c| c.state.status = Status::Dead);
                }
            }
            Status::Created | Status::Exited => {
                if state_dir.exists() {
                    daemon.teardown_runtime(&c.id).await;
                }
                daemon.restart_at_startup(&entry);
            }
        }
    }
    remove_orphans(daemon, &known).await;
    // Volumes mounted for containers that stopped while the daemon was away.
    daemon.volumes.unmount_unused();
    Ok(())
}

async fn remove_orphans(daemon: &Arc<Daemon>, known: &HashSet<String>) {
    for parent in [
        daemon.config.exec_root.join("c"),
        daemon.config.data_root.join("containers"),
    ] {
        let Ok(rd) = std::fs::read_dir(&parent) else {
            continue;
        };
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if known.contains(&name) || !berth_types::id::is_full_id(&name) {
                continue;
            }
            tracing::info!(
                "removing leftovers of an interrupted create: {}",
                e.path().display()
            );
            if parent.ends_with("c") {
                daemon.teardown_runtime(&name).await;
            } else {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let images = daemon.images.clone();
    let known = known.clone();
    let _ =
        tokio::task::spawn_blocking(move || crate::rootfs::remove_orphans(&images, &known)).await;
}
