//! Starting `berth daemon` on demand: only for the default socket, only as root, and only when
//! nothing answers there. An explicit `-H` or `BERTH_HOST` never starts anything.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use berth_client::{Error as ClientError, HostSource};

use crate::error::{CliError, Result};
use crate::Ctx;

/// Where the auto-started daemon writes its log.
pub const DAEMON_LOG: &str = "/run/berth/berth-daemon.log";

/// Makes sure a daemon answers, starting one when allowed. Errors other than "nothing listens"
/// are left for the command to report.
pub async fn ensure_daemon(ctx: &Ctx) -> Result<()> {
    match ctx.client.api_version().await {
        Ok(_) => return Ok(()),
        Err(ClientError::Connect { .. }) if may_autostart(ctx) => {}
        Err(_) => return Ok(()),
    }
    let mut child = spawn_daemon()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ctx.client.api_version().await {
            Ok(_) => return Ok(()),
            // A daemon that died (bad config, socket in use) will not answer: say so now.
            Err(e) if matches!(child.try_wait(), Ok(Some(_))) => {
                let status = child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Err(CliError::local(format!(
                    "{e} (`berth daemon` exited: {status}; see {DAEMON_LOG})"
                )));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(CliError::local(format!(
                "{e} (started `berth daemon`, which did not answer within 10s; see {DAEMON_LOG})"
            )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn may_autostart(ctx: &Ctx) -> bool {
    ctx.host_source == HostSource::Default && nix::unistd::geteuid().is_root()
}

fn spawn_daemon() -> Result<std::process::Child> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::local(format!("cannot find berth binary: {e}")))?;
    std::fs::create_dir_all("/run/berth")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(DAEMON_LOG)?;
    let log2 = log.try_clone()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("daemon")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our session and terminal
    // so that it outlives this CLI and ignores its ^C.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
        .map_err(|e| CliError::local(format!("cannot start berth daemon: {e}")))
}
