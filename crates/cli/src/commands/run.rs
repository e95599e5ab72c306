//! `berth run`: create, attach before start, register the wait before start, start, stream,
//! and exit with the container's status.

use std::sync::Arc;

use berth_client::AttachOptions;
use clap::Args;

use crate::attach_io::{self, ResizeTarget, StreamEnd, StreamOptions};
use crate::commands::create::{create_container, engine_error};
use crate::container_config::{CreateOptions, RunOnlyOptions};
use crate::error::{CliError, Result};
use crate::terminal::{self, RawMode, DEFAULT_DETACH_KEYS};
use crate::Ctx;

/// `berth run [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateOptions,
    #[command(flatten)]
    pub run: RunOnlyOptions,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
    pub args: Vec<String>,
}

/// The exit status docker gives a failed start: 127 when the command is not found, 126 when it
/// cannot be invoked, else 125.
pub fn start_error_status(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied")
        || message.contains("is a directory")
        || message.contains("not invokable")
    {
        126
    } else {
        125
    }
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> Result {
    let o = &a.create;
    if a.run.detach && !o.attach.is_empty() {
        return Err(CliError::local(
            "conflicting options: cannot specify both --attach and --detach",
        ));
    }
    if o.rm && o.restart.as_deref().is_some_and(|r| r != "no") {
        return Err(engine_error(
            "run",
            CliError::local("Conflicting options: --restart and --rm"),
        ));
    }
    let detach_keys = o
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_string());
    let keys = terminal::parse_detach_keys(&detach_keys).map_err(|_| {
        engine_error(
            "run",
            CliError::local(format!("Invalid detach keys ({detach_keys}) provided")),
        )
    })?;
    let stdin_is_tty = terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdin()));
    if !a.run.detach && o.tty && o.interactive && !stdin_is_tty {
        return Err(CliError::local("the input device is not a TTY"));
    }

    let id = create_container(ctx, "run", o, &a.args[0], &a.args[1..], !a.run.detach)
        .await
        .map_err(|e| engine_error("run", e))?;

    if a.run.detach {
        ctx.client
            .container_start(&id, None)
            .await
            .map_err(start_failure)?;
        outln!("{id}");
        return Ok(0);
    }

    let attach_stdin = o.interactive || o.attach.iter().any(|s| s.eq_ignore_ascii_case("stdin"));
    let want = |s: &str| o.attach.is_empty() || o.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    let attach = AttachOptions {
        stdin: attach_stdin,
        stdout: want("stdout"),
        stderr: want("stderr"),
        logs: false,
        detach_keys: o.detach_keys.clone(),
    };
    let conn = ctx
        .client
        .container_attach(&id, &attach)
        .await
        .map_err(|e| engine_error("run", e.into()))?;
    // With --rm the container may be gone before we ask: wait for removal instead.
    let condition = if o.rm { "removed" } else { "next-exit" };
    let waiter = ctx
        .client
        .container_wait(&id, Some(condition))
        .await
        .map_err(|e| engine_error("run", e.into()))?;

    let raw = if o.tty && attach_stdin {
        RawMode::enable_stdin()
    } else {
        None
    };
    if let Err(e) = ctx.client.container_start(&id, None).await {
        drop(raw);
        return Err(start_failure(e));
    }
    let resize = o.tty.then(|| {
        attach_io::monitor_resize(ctx.client.clone(), ResizeTarget::Container(id.clone()))
    });
    let proxy = (!o.tty && a.run.sig_proxy)
        .then(|| attach_io::proxy_signals(Arc::clone(&ctx.client), id.clone()));

    let end = attach_io::stream(
        conn,
        StreamOptions {
            tty: o.tty,
            stdin: attach_stdin,
            detach_keys: keys,
        },
    )
    .await;
    drop(raw);
    if let Some(r) = resize {
        r.abort();
    }
    match end {
        Ok(StreamEnd::Detached) => {
            if let Some(p) = proxy {
                p.abort();
            }
            // Like the docker CLI, detaching prints nothing and leaves the container running.
            return Ok(0);
        }
        Ok(StreamEnd::Eof) => {}
        Err(e) => errln!("{}", e.render()),
    }
    let code = waiter.wait().await;
    if let Some(p) = proxy {
        p.abort();
    }
    match code {
        Ok(c) => Ok(c as i32),
        Err(e) => Err(engine_error("run", e.into())),
    }
}

fn start_failure(e: berth_client::Error) -> CliError {
    let status = start_error_status(&e.to_string());
    CliError::Status {
        code: status,
        message: Some(format!(
            "berth: {}\n\nRun 'berth run --help' for more information",
            CliError::from(e).render()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_statuses() {
        assert_eq!(
            start_error_status("exec: \"nosuchcmd\": executable file not found in $PATH: unknown"),
            127
        );
        assert_eq!(
            start_error_status("exec: \"/etc\": permission denied: unknown"),
            126
        );
        assert_eq!(start_error_status("something else"), 125);
    }
}
