//! `berth images` / `berth image ls`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::format::{self, duration, image};
use crate::Ctx;

/// `berth images [OPTIONS] [REPOSITORY[:TAG]]`
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &Ctx, a: ImagesArgs) -> Result {
    let mut filter = a.filter.clone();
    if let Some(r) = &a.reference {
        filter.push(format!("reference={r}"));
    }
    let filters = super::filters_json(&filter).map_err(CliError::local)?;
    let list = ctx
        .client
        .image_list(a.all, a.digests, filters.as_deref())
        .await?;
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if a.quiet => "{{.ID}}".to_string(),
        _ if a.digests => image::DIGESTS_TABLE.to_string(),
        _ => image::DEFAULT_TABLE.to_string(),
    };
    let now = duration::now_unix();
    let mut rows: Vec<_> = list
        .iter()
        .flat_map(|i| image::rows(i, !a.no_trunc, now))
        .collect();
    if a.quiet && a.format.is_none() {
        // `-q` lists each image once even when it has several tags.
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert(r["ID"].as_str().unwrap_or("").to_string()));
    }
    let out = format::render_rows(&fmt, &image::headers(), &rows).map_err(CliError::local)?;
    out!("{out}");
    Ok(0)
}
