//! What daemon shutdown does to running containers.
//!
//! By default nothing: Berth's shims outlive the daemon, so containers keep running and are
//! re-adopted at the next start (dockerd's `live-restore`, on by default here). With
//! `"live-restore": false` in daemon.json the daemon stops every running container before it
//! exits, as dockerd does: each with its own stop signal and stop timeout (`--stop-signal`,
//! `--stop-timeout`, the image's `STOPSIGNAL`), all at once. Such a stop is not "by hand": the
//! restart policies bring `always` and `unless-stopped` containers back at the next start.

use crate::Daemon;

impl Daemon {
    /// Stops every running container (used when `live-restore` is off).
    pub async fn stop_all_for_shutdown(&self) {
        let mut stops = tokio::task::JoinSet::new();
        for entry in self.containers.all() {
            if !entry.snapshot().state.status.is_running() {
                continue;
            }
            let Some(daemon) = self.me.upgrade() else {
                return;
            };
            stops.spawn(async move {
                let _op = entry.op.lock().await;
                if !entry.snapshot().state.status.is_running() {
                    return;
                }
                // No restart for this exit; a container waiting for one keeps waiting, and
                // resumes the wait at the next start.
                entry
                    .supervision
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .canceled = true;
                if entry.snapshot().state.status == super::Status::Restarting {
                    return;
                }
                if let Err(e) = daemon.signal_and_wait(&entry, None, None).await {
                    tracing::warn!("stopping {} on shutdown: {e}", entry.id());
                }
            });
        }
        while stops.join_next().await.is_some() {}
    }
}
