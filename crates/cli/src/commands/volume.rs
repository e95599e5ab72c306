//! `berth volume create|ls|inspect|rm|prune`.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::error::{CliError, Result};
use crate::format::{self, size::docker_size};
use crate::Ctx;

/// `berth volume …`.
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `berth volume create [OPTIONS] [VOLUME]`
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub volume: Option<String>,
}

/// `berth volume ls [OPTIONS]`
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth volume inspect [OPTIONS] VOLUME [VOLUME...]`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `berth volume rm [OPTIONS] VOLUME [VOLUME...]`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `berth volume prune [OPTIONS]`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, cmd: VolumeCommand) -> Result {
    match cmd {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => ls(ctx, a).await,
        VolumeCommand::Inspect(a) => {
            super::inspect::run_volume(ctx, &a.names, a.format.as_deref()).await
        }
        VolumeCommand::Rm(a) => {
            let force = a.force;
            super::for_each(&a.names, |n| async move {
                ctx.client.volume_remove(&n, force).await
            })
            .await
        }
        VolumeCommand::Prune(a) => prune(ctx, a).await,
    }
}

fn key_values(list: &[String], what: &str) -> std::result::Result<Map<String, Value>, CliError> {
    let mut m = Map::new();
    for kv in list {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if k.is_empty() {
            return Err(CliError::local(format!(
                "invalid argument \"{kv}\" for \"{what}\" flag"
            )));
        }
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result {
    let name =
        match (&a.name, &a.volume) {
            (Some(n), Some(v)) if n != v => return Err(CliError::local(
                "conflicting options: either specify --name or provide positional arg, not both",
            )),
            (Some(n), _) | (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        };
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": key_values(&a.opt, "--opt")?,
        "Labels": key_values(&a.label, "--label")?,
    });
    let v = ctx.client.volume_create(&body).await?;
    outln!("{}", v["Name"].as_str().unwrap_or(""));
    Ok(0)
}

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

fn headers() -> Value {
    json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT",
    })
}

/// The fields `volume ls --format` offers (docker's `volumeContext`).
fn row(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut labels: Vec<String> = v
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let usage = v.get("UsageData");
    let size = usage
        .and_then(|u| u.get("Size"))
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .map(docker_size)
        .unwrap_or_else(|| "N/A".into());
    let links = usage
        .and_then(|u| u.get("RefCount"))
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "N/A".into());
    let mut row = json!({
        "Name": s("Name"), "Driver": s("Driver"), "Scope": s("Scope"),
        "Mountpoint": s("Mountpoint"), "Labels": labels.join(","), "Links": links,
        "Size": size, "CreatedAt": s("CreatedAt"),
    });
    // For `{{.Label "k"}}` (hidden from printing and `{{json .}}`).
    row["\0Label"] = v
        .get("Labels")
        .filter(|l| l.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    row
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result {
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let list = ctx.client.volume_list(filters.as_deref()).await?;
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if a.quiet => "{{.Name}}".to_string(),
        _ => DEFAULT_TABLE.to_string(),
    };
    let mut vols: Vec<&Value> = list
        .get("Volumes")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    vols.sort_by_key(|v| v.get("Name").and_then(Value::as_str).unwrap_or(""));
    let rows: Vec<Value> = vols.into_iter().map(row).collect();
    let out = format::render_rows(&fmt, &headers(), &rows).map_err(CliError::local)?;
    out!("{out}");
    Ok(0)
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !super::confirm(warning) {
        return Ok(0);
    }
    let mut filter = a.filter.clone();
    if a.all {
        filter.push("all=true".into());
    }
    let filters = super::filters_json(&filter).map_err(CliError::local)?;
    let r = ctx.client.volumes_prune(filters.as_deref()).await?;
    let deleted: Vec<&str> = r
        .get("VolumesDeleted")
        .and_then(|d| d.as_array())
        .map(|d| d.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        outln!("Deleted Volumes:");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_offer_dockers_fields_and_label_method() {
        let v = json!({"Name": "data", "Driver": "local", "Scope": "local",
            "Labels": {"b": "2", "a": "1"}, "Mountpoint": "/v/data/_data"});
        let rows = vec![row(&v)];
        let out = format::render_rows(
            r#"{{.Name}} {{.Labels}} {{.Label "b"}} {{.Size}} {{.Links}}"#,
            &headers(),
            &rows,
        )
        .unwrap();
        assert_eq!(out, "data a=1,b=2 2 N/A N/A\n");
        let out = format::render_rows(DEFAULT_TABLE, &headers(), &rows).unwrap();
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     data\n");
    }
}
