//! `berth load [-i FILE] [-q]`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::terminal;
use crate::Ctx;

/// `berth load [OPTIONS]`
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Prints a progress stream (`{"stream"}`, `{"status"}`, `{"error"}`) as docker's jsonmessage
/// display does without a terminal; an `error` message fails the command.
pub async fn print_progress(
    stream: &mut berth_client::JsonStream<serde_json::Value>,
) -> Result<()> {
    while let Some(m) = stream.next().await? {
        if let Some(e) = m.get("error").and_then(|e| e.as_str()) {
            return Err(CliError::local(e.to_string()));
        }
        if let Some(s) = m.get("stream").and_then(|s| s.as_str()) {
            out!("{s}");
        } else if let Some(s) = m.get("status").and_then(|s| s.as_str()) {
            match m.get("id").and_then(|i| i.as_str()) {
                Some(id) => outln!("{id}: {s}"),
                None => outln!("{s}"),
            }
        }
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, a: LoadArgs) -> Result {
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &a.input {
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| CliError::local(format!("open {path}: {e}")))?,
        ),
        None => {
            if terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdin())) {
                return Err(CliError::local(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(tokio::io::stdin())
        }
    };
    // Like docker, progress is only worth showing on a terminal.
    let quiet = a.quiet || !terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdout()));
    let mut stream = ctx.client.image_load(reader, quiet).await?;
    print_progress(&mut stream).await?;
    Ok(0)
}
