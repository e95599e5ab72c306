//! `stop`, `kill`, `restart`, `pause`, `unpause`: signals and freezer, through the shim.

use std::time::Duration;

use berth_api::backend::Changed;

use super::{parse_signal, Entry, Status};
use crate::error::{Error, Result};
use crate::Daemon;

/// Docker's default grace period before SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

fn shim_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Shim(format!("{what}: {e}"))
}

impl Daemon {
    fn shim_for(&self, id: &str) -> berth_shim::client::ShimClient {
        berth_shim::client::ShimClient::new(self.state_dir(id))
    }

    pub async fn stop_container(
        &self,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<Changed> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if !c.state.status.is_running() {
            return Ok(Changed::AlreadyInState);
        }
        self.stop_locked(&entry, signal, timeout).await?;
        self.container_event(&entry.snapshot(), "stop", &[]);
        Ok(Changed::Yes)
    }

    /// Sends the stop signal, waits up to the timeout (negative = forever), then SIGKILLs.
    pub(crate) async fn stop_locked(
        &self,
        entry: &Entry,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        // Stopped by hand: no automatic restart until the next start.
        self.mark_manually_stopped(entry);
        if self.cancel_restarts(entry) {
            return Ok(());
        }
        self.signal_and_wait(entry, signal, timeout).await
    }

    /// The stop signal (the request's, else the container's, else SIGTERM), then SIGKILL after
    /// the timeout (the request's, else the container's, else 10 s; negative = forever).
    pub(crate) async fn signal_and_wait(
        &self,
        entry: &Entry,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = entry.snapshot();
        let sig = match signal.or(c.config.stop_signal.clone()) {
            Some(s) => parse_signal(&s)?,
            None => libc::SIGTERM,
        };
        let timeout = timeout
            .or(c.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let mut rx = entry.wait_tx.subscribe();
        let shim = self.shim_for(&c.id);
        if c.state.status == Status::Paused {
            // A frozen process cannot handle its signal: thaw it first, as Docker does.
            let _ = shim.resume().await;
        }
        self.container_event(&c, "kill", &[("signal", sig.to_string())]);
        if let Err(e) = shim.kill(sig, false).await {
            tracing::debug!("stop signal to {}: {e}", c.id);
        }
        let exited = async {
            while rx.borrow_and_update().running {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        if timeout < 0 {
            exited.await;
            return Ok(());
        }
        if tokio::time::timeout(Duration::from_secs(timeout as u64), exited)
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.container_event(&c, "kill", &[("signal", libc::SIGKILL.to_string())]);
        // The init may have exited on its own meanwhile: a failed kill is then no failure, and
        // waiting for the exit below is the truth either way.
        if let Err(e) = shim.kill(libc::SIGKILL, true).await {
            tracing::debug!("SIGKILL to {}: {e}", c.id);
        }
        let mut rx = entry.wait_tx.subscribe();
        let gone = async {
            while rx.borrow_and_update().running {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), gone)
            .await
            .map_err(|_| Error::Internal(format!("container {} did not exit after SIGKILL", c.id)))
    }

    pub async fn kill_container(&self, key: &str, signal: Option<String>) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let sig = match signal {
            Some(s) => parse_signal(&s)?,
            None => libc::SIGKILL,
        };
        if !c.state.status.is_running() {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {key}: container {} is not running",
                c.id
            )));
        }
        // Docker's rule: SIGKILL, the container's stop signal, or any signal when it has none
        // ends automatic restarts until the next start.
        let stop_signal = c
            .config
            .stop_signal
            .as_deref()
            .and_then(|s| parse_signal(s).ok());
        let exit_on_next = sig == libc::SIGKILL || stop_signal.is_none_or(|s| s == sig);
        self.mark_manually_stopped(&entry);
        if exit_on_next && self.cancel_restarts(&entry) {
            return Ok(());
        }
        if c.state.status == Status::Restarting {
            // Nothing runs to take the signal.
            return Ok(());
        }
        self.container_event(&c, "kill", &[("signal", sig.to_string())]);
        self.shim_for(&c.id)
            .kill(sig, false)
            .await
            .map_err(|e| shim_err("sending the signal", e))?;
        if sig == libc::SIGKILL {
            // Like Docker, return once a SIGKILLed container is really gone.
            let mut rx = entry.wait_tx.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while rx.borrow_and_update().running {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    pub async fn restart_container(
        &self,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        if entry.snapshot().state.status.is_running() {
            self.stop_locked(&entry, signal, timeout).await?;
        }
        // Docker's restart is a manual start: the restart policy starts afresh (count 0).
        self.reset_restart_manager(&entry)?;
        let c = entry.snapshot();
        self.start_locked(&entry, &c).await?;
        self.container_event(&entry.snapshot(), "restart", &[]);
        Ok(())
    }

    pub async fn pause_container(&self, key: &str) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        match c.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            _ => {
                return Err(Error::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        self.shim_for(&c.id)
            .pause()
            .await
            .map_err(|e| shim_err("pausing", e))?;
        let c = self.update(&entry, |c| c.state.status = Status::Paused)?;
        self.container_event(&c, "pause", &[]);
        Ok(())
    }

    pub async fn unpause_container(&self, key: &str) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if c.state.status != Status::Paused {
            return Err(Error::Conflict(format!("Container {} is not paused", c.id)));
        }
        self.shim_for(&c.id)
            .resume()
            .await
            .map_err(|e| shim_err("unpausing", e))?;
        let c = self.update(&entry, |c| c.state.status = Status::Running)?;
        self.container_event(&c, "unpause", &[]);
        Ok(())
    }

    pub async fn resize_container(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        if !c.state.status.is_running() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.shim_for(&c.id)
            .resize(height, width)
            .await
            .map_err(|e| shim_err("resizing", e))
    }
}
