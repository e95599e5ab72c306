//! `berth ps` / `berth container ls`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::format::{self, container, duration};
use crate::Ctx;

/// `berth ps [OPTIONS]`
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(
        short = 'n',
        long = "last",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub last: Option<i64>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

pub async fn run(ctx: &Ctx, a: PsArgs) -> Result {
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let mut limit = a.last.filter(|n| *n > 0);
    if a.latest && limit.is_none() {
        limit = Some(1);
    }
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if a.quiet => "{{.ID}}".to_string(),
        _ if a.size => format!("{}\t{{{{.Size}}}}", container::DEFAULT_TABLE),
        _ => container::DEFAULT_TABLE.to_string(),
    };
    // Sizes cost the daemon a walk of each container's layer: ask only when shown.
    let want_size = a.size || fmt.contains(".Size") || fmt.replace(' ', "").contains("{{json.}}");
    let list = ctx
        .client
        .container_list(a.all, limit, want_size, filters.as_deref())
        .await?;
    let now = duration::now_unix();
    let rows: Vec<_> = list
        .iter()
        .map(|c| container::context(c, !a.no_trunc, now))
        .collect();
    let out = format::render_rows(&fmt, &container::headers(), &rows).map_err(CliError::local)?;
    out!("{out}");
    Ok(0)
}
