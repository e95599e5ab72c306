//! `berth container prune [-f --filter]`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::format::size::docker_size;
use crate::Ctx;

/// `berth container prune [OPTIONS]`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: PruneArgs) -> Result {
    if !a.force && !super::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let r = ctx.client.containers_prune(filters.as_deref()).await?;
    let deleted: Vec<&str> = r
        .get("ContainersDeleted")
        .and_then(|d| d.as_array())
        .map(|d| d.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        outln!("Deleted Containers:");
        for d in deleted {
            outln!("{d}");
        }
        outln!();
    }
    let space = r
        .get("SpaceReclaimed")
        .and_then(|s| s.as_i64())
        .unwrap_or(0);
    outln!("Total reclaimed space: {}", docker_size(space));
    Ok(0)
}
