//! `berth start [-a -i]`.

use berth_client::AttachOptions;
use clap::Args;

use crate::attach_io::{self, ResizeTarget, StreamEnd, StreamOptions};
use crate::error::{CliError, Result};
use crate::terminal::{self, RawMode, DEFAULT_DETACH_KEYS};
use crate::Ctx;

/// `berth start [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: StartArgs) -> Result {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::local(
                "you cannot start and attach multiple containers at once",
            ));
        }
        return start_attached(ctx, &a).await;
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match ctx
            .client
            .container_start(c, a.detach_keys.as_deref())
            .await
        {
            Ok(()) => outln!("{c}"),
            Err(e) => {
                errln!("{}", CliError::from(e).render());
                failed.push(c.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Status {
            code: 1,
            message: Some(format!(
                "Error: failed to start containers: {}",
                failed.join(", ")
            )),
        })
    }
}

async fn start_attached(ctx: &Ctx, a: &StartArgs) -> Result {
    let name = &a.containers[0];
    let info = ctx.client.container_inspect(name, false).await?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let open_stdin = info
        .pointer("/Config/OpenStdin")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let stdin = a.interactive && open_stdin;
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
    let waiter = ctx.client.container_wait(&id, Some("next-exit")).await?;
    let raw = if tty && stdin {
        RawMode::enable_stdin()
    } else {
        None
    };
    if let Err(e) = ctx
        .client
        .container_start(&id, a.detach_keys.as_deref())
        .await
    {
        drop(raw);
        return Err(CliError::Status {
            code: 1,
            message: Some(format!(
                "{}\nError: failed to start containers: {name}",
                CliError::from(e).render()
            )),
        });
    }
    let resize = tty.then(|| {
        attach_io::monitor_resize(ctx.client.clone(), ResizeTarget::Container(id.clone()))
    });
    let proxy = (!tty).then(|| attach_io::proxy_signals(ctx.client.clone(), id.clone()));
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
    if let Some(r) = resize {
        r.abort();
    }
    if let Ok(StreamEnd::Detached) = end {
        if let Some(p) = proxy {
            p.abort();
        }
        // Like the docker CLI, detaching prints nothing and leaves the container running.
        return Ok(0);
    }
    let code = waiter.wait().await?;
    if let Some(p) = proxy {
        p.abort();
    }
    Ok(code as i32)
}
