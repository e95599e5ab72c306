//! `berth logs`.

use std::io::Write;

use berth_client::{Demuxer, LogsOptions, StreamType};
use clap::Args;

use crate::commands::events::get_timestamp;
use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth logs [OPTIONS] CONTAINER`
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &Ctx, a: LogsArgs) -> Result {
    let info = ctx.client.container_inspect(&a.container, false).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let now = std::time::SystemTime::now();
    let ts = |s: &Option<String>| -> Result<Option<String>> {
        s.as_deref()
            .map(|v| get_timestamp(v, now).map_err(CliError::local))
            .transpose()
    };
    let opts = LogsOptions {
        follow: a.follow,
        timestamps: a.timestamps,
        details: a.details,
        tail: Some(a.tail.clone()),
        since: ts(&a.since)?,
        until: ts(&a.until)?,
    };
    let mut stream = ctx.client.container_logs(&a.container, &opts).await?;
    let mut demux = Demuxer::new();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    while let Some(chunk) = stream.chunk().await? {
        if tty {
            let _ = stdout.lock().write_all(&chunk);
            let _ = stdout.lock().flush();
            continue;
        }
        demux.push(&chunk);
        while let Some((kind, data)) = demux.next_frame()? {
            if matches!(kind, StreamType::Stderr | StreamType::Systemerr) {
                let _ = stderr.lock().write_all(&data);
            } else {
                let mut o = stdout.lock();
                let _ = o.write_all(&data);
                let _ = o.flush();
            }
        }
    }
    Ok(0)
}
