//! Watching a running container: one task per container holds a `Wait` long poll on its shim
//! and records the exit. If the shim vanishes without answering, its `exit.json` is the truth;
//! without that, the container is recorded as exited with 255 and an error.

use std::sync::Arc;
use std::time::Duration;

use berth_shim::protocol::{ExitStatus, EXIT_FILE};

use super::{now_rfc3339, Entry, Status};
use crate::Daemon;

impl Daemon {
    pub(crate) fn spawn_monitor(&self, entry: Arc<Entry>) {
        let Some(daemon) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            let id = entry.id();
            let state_dir = daemon.state_dir(&id);
            let shim = berth_shim::client::ShimClient::new(&state_dir);
            let exit = loop {
                match shim.wait().await {
                    Ok(status) => break Some(status),
                    Err(e) => {
                        // The shim may be gone (it exits once the init is reaped and its state
                        // written) or not answering for a moment.
                        if let Some(status) = read_exit_file(&state_dir) {
                            break Some(status);
                        }
                        if !shim_alive(&state_dir) {
                            tracing::warn!("shim of {id} is gone without an exit status: {e}");
                            break None;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            daemon.handle_exit(&entry, exit).await;
        });
    }

    /// Records the exit of the init, announces it, and removes `--rm` containers.
    pub(crate) async fn handle_exit(&self, entry: &Arc<Entry>, exit: Option<ExitStatus>) {
        let (code, oom, finished, error) = match &exit {
            Some(e) => (
                e.exit_code as i64,
                e.oom_killed,
                e.finished_at.clone(),
                String::new(),
            ),
            None => (
                255,
                false,
                now_rfc3339(),
                "the container's shim exited unexpectedly".to_owned(),
            ),
        };
        self.stop_health_monitor(entry);
        let restart = self.plan_restart(entry, code, &finished);
        let updated = self.update(entry, |c| {
            if c.state.status.is_running() {
                c.state.status = match restart {
                    Some(_) => Status::Restarting,
                    None => Status::Exited,
                };
                if let Some(backoff) = restart {
                    c.restart_count += 1;
                    c.restart_backoff_ms = backoff.as_millis() as u64;
                }
                c.state.pid = 0;
                c.state.exit_code = code;
                c.state.oom_killed = oom;
                c.state.finished_at = finished.clone();
                if !error.is_empty() {
                    c.state.error = error.clone();
                }
            }
        });
        let c = match updated {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("recording the exit of {}: {e}", entry.id());
                entry.snapshot()
            }
        };
        if c.state.oom_killed {
            self.container_event(&c, "oom", &[]);
        }
        self.container_event(&c, "die", &[("exitCode", code.to_string())]);
        self.teardown_runtime(&c.id).await;
        if let Some(backoff) = restart {
            self.schedule_restart(entry.clone(), backoff);
        }
        entry.wait_tx.send_modify(|w| {
            w.exits += 1;
            // A restarting container still counts as running, as in Docker.
            w.running = restart.is_some();
            w.exit_code = code;
            w.error = if error.is_empty() {
                None
            } else {
                Some(error.clone())
            };
        });
        if c.host_config.auto_remove == Some(true) && restart.is_none() {
            let _op = entry.op.lock().await;
            if let Err(e) = self.remove_locked(entry, false).await {
                tracing::warn!("auto-removing {}: {e}", c.id);
            }
        }
    }
}

pub(crate) fn read_exit_file(state_dir: &std::path::Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the shim recorded in `shim.pid` still runs.
pub(crate) fn shim_alive(state_dir: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(state_dir.join(berth_shim::protocol::SHIM_PID_FILE))
    else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
