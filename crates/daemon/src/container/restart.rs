//! Restart policies: `no`, `on-failure[:N]`, `always`, `unless-stopped`, as Docker's restart
//! manager applies them.
//!
//! Lifecycle: when the init exits ([`Daemon::handle_exit`]) the policy is asked whether to bring
//! the container back. If so the container is recorded as `restarting` (still "running" to
//! waiters, as in Docker), `RestartCount` goes up, and a task starts it again after the back-off:
//! 100 ms, doubling at every consecutive restart up to one minute, back to 100 ms once the
//! container had run for 10 s. The back-off is part of the record, so a daemon killed while a
//! container waits resumes the wait where it was.
//!
//! A user's `stop` or `kill` cancels restarting until the next manual `start`/`restart`
//! (Docker's `ExitOnNext`) and marks the container as stopped by hand, which keeps an
//! `unless-stopped` container down across daemon restarts. When the daemon starts, containers
//! that have run before and whose policy says so are started again ([`Daemon::restart_at_startup`]);
//! an `always` container comes back even when it was stopped by hand.

use std::sync::Arc;
use std::time::Duration;

use berth_types::api::{RestartPolicy, RestartPolicyNameEnum};

use super::{now_rfc3339, parse_rfc3339, Container, Entry, Status};
use crate::Daemon;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

/// In-memory supervision of one container: what the daemon does on its own behalf.
#[derive(Default)]
pub(crate) struct Supervision {
    /// The running healthcheck monitor.
    pub health: Option<tokio::task::AbortHandle>,
    /// The pending restart: its number, and what wakes the task waiting out its back-off.
    /// Only the task whose number is still here may start the container.
    pub pending_restart: Option<(u64, Arc<tokio::sync::Notify>)>,
    /// Numbers scheduled restarts.
    pub restarts_scheduled: u64,
    /// No automatic restart until the next manual start (set by `stop` and `kill`).
    pub canceled: bool,
}

/// The next back-off after a run of `ran`, given the previous one (Docker's restart manager).
pub(crate) fn next_backoff(previous: Duration, ran: Duration) -> Duration {
    let previous = if ran >= BACKOFF_RESET_AFTER {
        Duration::ZERO
    } else {
        previous
    };
    if previous.is_zero() {
        BACKOFF_START
    } else {
        (previous * 2).min(BACKOFF_MAX)
    }
}

/// Whether `policy` restarts a container that exited with `exit_code`.
pub(crate) fn policy_restarts(
    policy: Option<&RestartPolicy>,
    exit_code: i64,
    manually_stopped: bool,
    restart_count: i64,
) -> bool {
    let Some(p) = policy else { return false };
    match p.name {
        Some(RestartPolicyNameEnum::ALWAYS) => true,
        Some(RestartPolicyNameEnum::UNLESS_STOPPED) => !manually_stopped,
        Some(RestartPolicyNameEnum::ON_FAILURE) => {
            let max = p.maximum_retry_count.unwrap_or(0);
            exit_code != 0 && (max <= 0 || restart_count < max)
        }
        _ => false,
    }
}

/// Docker's checks of a restart policy (create and update).
pub(crate) fn validate_policy(p: &RestartPolicy) -> crate::error::Result<()> {
    let max = p.maximum_retry_count.unwrap_or(0);
    if max < 0 {
        return Err(crate::error::Error::InvalidArgument(
            "invalid restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if max != 0 && p.name != Some(RestartPolicyNameEnum::ON_FAILURE) {
        return Err(crate::error::Error::InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        ));
    }
    Ok(())
}

fn has_policy(c: &Container) -> bool {
    c.host_config.restart_policy.as_ref().is_some_and(|p| {
        !matches!(
            p.name,
            None | Some(RestartPolicyNameEnum::NO) | Some(RestartPolicyNameEnum::EMPTY)
        )
    })
}

fn run_time(c: &Container, finished: &str) -> Duration {
    match (parse_rfc3339(&c.state.started_at), parse_rfc3339(finished)) {
        (Some(s), Some(f)) if f > s => (f - s).unsigned_abs(),
        _ => Duration::ZERO,
    }
}

impl Daemon {
    /// For an exit about to be recorded: the back-off before the restart the policy asks for,
    /// or `None` when the container stays down.
    pub(crate) fn plan_restart(
        &self,
        entry: &Entry,
        exit_code: i64,
        finished: &str,
    ) -> Option<Duration> {
        let c = entry.snapshot();
        if !has_policy(&c) || c.host_config.auto_remove == Some(true) {
            return None;
        }
        if lock(entry).canceled {
            return None;
        }
        if !policy_restarts(
            c.host_config.restart_policy.as_ref(),
            exit_code,
            c.manually_stopped,
            c.restart_count,
        ) {
            return None;
        }
        Some(next_backoff(
            Duration::from_millis(c.restart_backoff_ms),
            run_time(&c, finished),
        ))
    }

    /// Starts the container again after `delay`, unless a `stop`/`kill`/`rm` intervenes.
    pub(crate) fn schedule_restart(&self, entry: Arc<Entry>, delay: Duration) {
        let Some(daemon) = self.me.upgrade() else {
            return;
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        let ticket = {
            let mut sup = lock(&entry);
            sup.restarts_scheduled += 1;
            let ticket = sup.restarts_scheduled;
            if let Some((_, older)) = sup.pending_restart.replace((ticket, wake.clone())) {
                older.notify_one();
            }
            ticket
        };
        let mut restored = self.restored.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = wake.notified() => {}
            }
            // Not before start-up recovery is over (see `Daemon::restored`).
            let _ = restored.wait_for(|done| *done).await;
            let _op = entry.op.lock().await;
            {
                let mut sup = lock(&entry);
                let mine = sup
                    .pending_restart
                    .as_ref()
                    .is_some_and(|(t, _)| *t == ticket);
                if sup.canceled || !mine {
                    return;
                }
                sup.pending_restart = None;
            }
            let c = entry.snapshot();
            if c.state.status != Status::Restarting || daemon.containers.lookup(&c.id).is_err() {
                return;
            }
            if let Err(e) = daemon.start_locked(&entry, &c).await {
                // Docker gives up on a container whose restart fails.
                tracing::warn!("restarting {}: {e}", c.id);
                daemon.teardown_runtime(&c.id).await;
                let message = e.to_string();
                let _ = daemon.update(&entry, |c| {
                    c.state.status = Status::Exited;
                    c.state.error = message.clone();
                });
                entry.wait_tx.send_modify(|w| {
                    w.running = false;
                    w.error = Some(message);
                });
            }
        });
    }

    /// A user's `stop`/`kill`: no automatic restart until the next manual start. A container
    /// waiting to be restarted is recorded as exited right away. Returns whether it was waiting.
    pub(crate) fn cancel_restarts(&self, entry: &Entry) -> bool {
        {
            let mut sup = lock(entry);
            sup.canceled = true;
            if let Some((_, wake)) = sup.pending_restart.take() {
                wake.notify_one();
            }
        }
        let c = entry.snapshot();
        if c.state.status != Status::Restarting {
            return false;
        }
        let _ = self.update(entry, |c| {
            c.state.status = Status::Exited;
            c.manually_stopped = true;
        });
        entry.wait_tx.send_modify(|w| w.running = false);
        true
    }

    /// Records that the user stopped the container by hand (`unless-stopped` stays down).
    pub(crate) fn mark_manually_stopped(&self, entry: &Entry) {
        if !entry.snapshot().manually_stopped {
            let _ = self.update(entry, |c| c.manually_stopped = true);
        }
    }

    /// A manual `start`/`restart` gives the restart policy a fresh start, as Docker's
    /// `ResetRestartManager` does: count, back-off and the stopped-by-hand mark are cleared.
    pub(crate) fn reset_restart_manager(&self, entry: &Entry) -> crate::error::Result<()> {
        lock(entry).canceled = false;
        let c = entry.snapshot();
        if c.restart_count != 0 || c.restart_backoff_ms != 0 || c.manually_stopped {
            self.update(entry, |c| {
                c.restart_count = 0;
                c.restart_backoff_ms = 0;
                c.manually_stopped = false;
            })?;
        }
        Ok(())
    }

    /// Daemon start-up, after every container is restored: containers caught waiting out a
    /// back-off resume it, and stopped containers whose policy says so are started again.
    pub(crate) fn restart_at_startup(&self, entry: &Arc<Entry>) {
        let c = entry.snapshot();
        if !has_policy(&c) {
            return;
        }
        match c.state.status {
            Status::Restarting => {
                let delay = Duration::from_millis(c.restart_backoff_ms);
                self.schedule_restart(entry.clone(), delay);
            }
            // Only containers that have run before (Docker's `HasBeenStartedBefore`).
            Status::Exited
                if !c.state.started_at.is_empty()
                    && policy_restarts(
                        c.host_config.restart_policy.as_ref(),
                        c.state.exit_code,
                        c.manually_stopped,
                        c.restart_count,
                    ) =>
            {
                let _ = self.update(entry, |c| {
                    c.state.status = Status::Restarting;
                    if c.state.finished_at.is_empty() {
                        c.state.finished_at = now_rfc3339();
                    }
                });
                entry.wait_tx.send_modify(|w| w.running = true);
                self.schedule_restart(entry.clone(), Duration::ZERO);
            }
            _ => {}
        }
    }
}

fn lock(entry: &Entry) -> std::sync::MutexGuard<'_, Supervision> {
    entry.supervision.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: RestartPolicyNameEnum, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: Some(name),
            maximum_retry_count: Some(max),
        }
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let short = Duration::from_secs(1);
        let mut b = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..12 {
            b = next_backoff(b, short);
            seen.push(b.as_millis());
        }
        assert_eq!(&seen[..4], &[100, 200, 400, 800]);
        assert_eq!(*seen.last().unwrap(), 60_000);
        assert_eq!(
            next_backoff(Duration::from_secs(60), Duration::from_secs(10)),
            BACKOFF_START
        );
    }

    #[test]
    fn policies_decide_like_docker() {
        use RestartPolicyNameEnum::*;
        assert!(!policy_restarts(Some(&policy(NO, 0)), 1, false, 0));
        assert!(policy_restarts(Some(&policy(ALWAYS, 0)), 0, true, 9));
        assert!(policy_restarts(
            Some(&policy(UNLESS_STOPPED, 0)),
            0,
            false,
            0
        ));
        assert!(!policy_restarts(
            Some(&policy(UNLESS_STOPPED, 0)),
            0,
            true,
            0
        ));
        assert!(!policy_restarts(Some(&policy(ON_FAILURE, 0)), 0, false, 0));
        assert!(policy_restarts(Some(&policy(ON_FAILURE, 0)), 3, false, 100));
        assert!(policy_restarts(Some(&policy(ON_FAILURE, 2)), 3, false, 1));
        assert!(!policy_restarts(Some(&policy(ON_FAILURE, 2)), 3, false, 2));
    }
}
