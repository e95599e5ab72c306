//! `berth attach`.

use berth_client::AttachOptions;
use clap::{ArgAction, Args};

use crate::attach_io::{self, ResizeTarget, StreamEnd, StreamOptions};
use crate::error::{CliError, Result};
use crate::terminal::{self, RawMode, DEFAULT_DETACH_KEYS};
use crate::Ctx;

/// `berth attach [OPTIONS] CONTAINER`
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "bool")]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, a: AttachArgs) -> Result {
    let info = ctx.client.container_inspect(&a.container, false).await?;
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    if !info
        .pointer("/State/Running")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
    {
        return Err(CliError::local(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if info
        .pointer("/State/Paused")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
    {
        return Err(CliError::local(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let stdin = !a.no_stdin
        && info
            .pointer("/Config/OpenStdin")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
    let keys_text = a
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.into());
    let keys = terminal::parse_detach_keys(&keys_text)
        .map_err(|_| CliError::local(format!("Invalid detach keys ({keys_text}) provided")))?;
    let conn = ctx
        .client
        .container_attach(
            &id,
            &AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                logs: false,
                detach_keys: a.detach_keys.clone(),
            },
        )
        .await?;
    let raw = if tty && stdin {
        RawMode::enable_stdin()
    } else {
        None
    };
    let resize = tty.then(|| {
        attach_io::monitor_resize(ctx.client.clone(), ResizeTarget::Container(id.clone()))
    });
    let proxy =
        (!tty && a.sig_proxy).then(|| attach_io::proxy_signals(ctx.client.clone(), id.clone()));
    let end = attach_io::stream(
        conn,
        StreamOptions {
            tty,
            stdin,
            detach_keys: keys,
        },
    )
    .await;
    drop(raw);
    for t in [resize, proxy].into_iter().flatten() {
        t.abort();
    }
    match end? {
        StreamEnd::Detached => {
            // Like the docker CLI, detaching prints nothing and leaves the container running.
            Ok(0)
        }
        StreamEnd::Eof => {
            let info = ctx.client.container_inspect(&id, false).await;
            match info {
                Ok(i)
                    if !i
                        .pointer("/State/Running")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false) =>
                {
                    Ok(i.pointer("/State/ExitCode")
                        .and_then(|c| c.as_i64())
                        .unwrap_or(0) as i32)
                }
                Ok(_) => Ok(ctx
                    .client
                    .container_wait(&id, Some("not-running"))
                    .await?
                    .wait()
                    .await? as i32),
                // Removed meanwhile (--rm): nothing more to report.
                Err(_) => Ok(0),
            }
        }
    }
}
