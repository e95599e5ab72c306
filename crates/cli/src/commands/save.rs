//! `berth save` / `berth image save` and `berth export` / `berth container export`: an archive
//! from the daemon, to a file (`-o`, written under a temporary name and renamed when complete,
//! so a failed save never leaves a truncated archive under the name asked for) or to stdout.

use std::io::Write;
use std::path::Path;

use clap::Args;

use crate::error::{CliError, Result};
use crate::terminal;
use crate::Ctx;

/// `berth save [OPTIONS] IMAGE [IMAGE...]`
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `berth export [OPTIONS] CONTAINER`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn save(ctx: &Ctx, a: SaveArgs) -> Result {
    check_output(a.output.as_deref(), "save")?;
    let stream = ctx.client.image_save(&a.images).await?;
    write_stream(stream, a.output.as_deref()).await
}

pub async fn export(ctx: &Ctx, a: ExportArgs) -> Result {
    check_output(a.output.as_deref(), "export")?;
    let stream = ctx.client.container_export(&a.container).await?;
    write_stream(stream, a.output.as_deref()).await
}

fn check_output(output: Option<&str>, verb: &str) -> Result<()> {
    if output.is_none() && terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdout())) {
        let what = if verb == "save" { "save" } else { "export" };
        return Err(CliError::local(format!(
            "cowardly refusing to {what} to a terminal. Use the -o flag or redirect"
        )));
    }
    Ok(())
}

async fn write_stream(mut stream: berth_client::ResponseStream, output: Option<&str>) -> Result {
    let err = |what: &str, e: std::io::Error| CliError::local(format!("{what}: {e}"));
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = stream.chunk().await? {
                out.write_all(&chunk).map_err(|e| err("writing", e))?;
            }
            out.flush().map_err(|e| err("writing", e))?;
        }
        Some(path) => {
            let p = Path::new(path);
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)
                .map_err(|e| err(&format!("failed to save to {path}"), e))?;
            while let Some(chunk) = stream.chunk().await? {
                tmp.write_all(&chunk).map_err(|e| err("writing", e))?;
            }
            tmp.as_file().sync_all().map_err(|e| err("writing", e))?;
            tmp.persist(p)
                .map_err(|e| err(&format!("failed to save to {path}"), e.error))?;
        }
    }
    Ok(0)
}
