//! `berth builder …`: `build` (the same as `berth build`) and `prune`.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::container_config::ram_in_bytes;
use crate::error::{CliError, Result};
use crate::format::size::human_size;
use crate::Ctx;

/// `berth builder …`.
#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(Box<super::build::BuildArgs>),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `berth builder prune [OPTIONS]`
#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", alias = "reserved-space", value_name = "bytes")]
    pub keep_storage: Option<String>,
}

pub async fn dispatch(ctx: &Ctx, c: BuilderCommand) -> Result {
    match c {
        BuilderCommand::Build(a) => super::build::run(ctx, *a).await,
        BuilderCommand::Prune(a) => prune(ctx, a).await,
    }
}

/// Prints docker's "Deleted build cache objects:" block; returns the space reclaimed.
pub fn print_cache_report(r: &Value) -> i64 {
    let ids: Vec<&str> = r["CachesDeleted"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !ids.is_empty() {
        outln!("Deleted build cache objects:");
        for id in ids {
            outln!("{id}");
        }
        outln!();
    }
    r["SpaceReclaimed"].as_i64().unwrap_or(0)
}

async fn prune(ctx: &Ctx, a: BuilderPruneArgs) -> Result {
    let keep = match &a.keep_storage {
        None => None,
        Some(s) => Some(ram_in_bytes(s).filter(|n| *n >= 0).ok_or_else(|| {
            CliError::invalid_flag(
                "builder prune",
                format!("invalid argument {s:?} for \"--keep-storage\" flag"),
            )
        })? as u64),
    };
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all build cache. Are you sure you want to continue?"
        } else {
            "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
        };
        out!("{warning} [y/N] ");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let r = ctx
        .client
        .build_prune(a.all, keep, filters.as_deref())
        .await?;
    let space = print_cache_report(&r);
    outln!("Total reclaimed space: {}", human_size(space as f64));
    Ok(0)
}
