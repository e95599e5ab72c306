//! `berth import [--change -m] file|- [REPOSITORY[:TAG]]`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result {
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = if a.source == "-" || is_url {
        Box::new(tokio::io::stdin())
    } else {
        Box::new(
            tokio::fs::File::open(&a.source)
                .await
                .map_err(|e| CliError::local(format!("open {}: {e}", a.source)))?,
        )
    };
    let (repo, tag) = match a.reference.as_deref() {
        Some(r) => {
            let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
            match r[slash..].rfind(':') {
                Some(i) => (Some(&r[..slash + i]), Some(&r[slash + i + 1..])),
                None => (Some(r), None),
            }
        }
        None => (None, None),
    };
    if is_url {
        let mut stream = ctx
            .client
            .image_import_url(&a.source, repo, tag, &a.change, a.message.as_deref())
            .await?;
        super::load::print_progress(&mut stream).await?;
        return Ok(0);
    }
    let mut stream = ctx
        .client
        .image_import(
            reader,
            repo,
            tag,
            &a.change,
            a.message.as_deref(),
            a.platform.as_deref(),
        )
        .await?;
    super::load::print_progress(&mut stream).await?;
    Ok(0)
}
