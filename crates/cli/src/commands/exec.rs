//! `berth exec`.

use berth_client::api::ExecConfig;
use clap::Args;

use crate::attach_io::{self, ResizeTarget, StreamEnd, StreamOptions};
use crate::container_config::{expand_env, parse_env_file};
use crate::error::{CliError, Result};
use crate::terminal::{self, RawMode, DEFAULT_DETACH_KEYS};
use crate::Ctx;

/// `berth exec [OPTIONS] CONTAINER COMMAND [ARG...]`
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER")]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: ExecArgs) -> Result {
    let container = &a.args[0];
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for f in &a.env_file {
        let text =
            std::fs::read_to_string(f).map_err(|e| CliError::local(format!("open {f}: {e}")))?;
        env.extend(parse_env_file(&text, &lookup)?);
    }
    env.extend(a.env.iter().map(|e| expand_env(e, &lookup)));
    let keys_text = a
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.into());
    let keys = terminal::parse_detach_keys(&keys_text)
        .map_err(|_| CliError::local(format!("Invalid detach keys ({keys_text}) provided")))?;
    let stdin_is_tty = terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdin()));
    if a.tty && a.interactive && !stdin_is_tty && !a.detach {
        return Err(CliError::local("the input device is not a TTY"));
    }
    let config = ExecConfig {
        attach_stdin: Some(a.interactive && !a.detach),
        attach_stdout: Some(!a.detach),
        attach_stderr: Some(!a.detach),
        detach_keys: a.detach_keys.clone(),
        tty: Some(a.tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(a.args[1..].to_vec()),
        privileged: Some(a.privileged),
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        console_size: if a.tty {
            terminal::size().map(|(h, w)| vec![h as usize, w as usize])
        } else {
            None
        },
    };
    let exec_id = ctx.client.exec_create(container, &config).await?;
    if a.detach {
        ctx.client.exec_start_detached(&exec_id, a.tty).await?;
        return Ok(0);
    }
    let conn = ctx.client.exec_start(&exec_id, a.tty).await?;
    let raw = if a.tty && a.interactive {
        RawMode::enable_stdin()
    } else {
        None
    };
    let resize = a.tty.then(|| {
        attach_io::monitor_resize(ctx.client.clone(), ResizeTarget::Exec(exec_id.clone()))
    });
    let end = attach_io::stream(
        conn,
        StreamOptions {
            tty: a.tty,
            stdin: a.interactive,
            detach_keys: keys,
        },
    )
    .await;
    drop(raw);
    if let Some(r) = resize {
        r.abort();
    }
    if let StreamEnd::Detached = end? {
        // Like the docker CLI, detaching prints nothing and leaves the container running.
        return Ok(0);
    }
    let info = ctx.client.exec_inspect(&exec_id).await?;
    Ok(info.get("ExitCode").and_then(|c| c.as_i64()).unwrap_or(0) as i32)
}
