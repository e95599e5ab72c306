//! `berth system df`, `berth system prune`, `berth system check` and `berth image prune`.

use clap::Args;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::format::{self, duration, image, size};
use crate::Ctx;

/// `berth system df [OPTIONS]`
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

/// `berth image prune [OPTIONS]`
#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

/// `berth system prune [OPTIONS]`
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

/// `berth system check [--repair]`
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Remove what is broken or unreferenced
    #[arg(long)]
    pub repair: bool,
}

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn pct(part: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            size::human_size(part as f64),
            part * 100 / total
        )
    } else {
        size::human_size(part as f64)
    }
}

/// Docker's build cache row: shared records count in neither size nor reclaimable space.
fn build_cache_row(bc: &[Value]) -> Value {
    let flag = |v: &Value, k: &str| v[k].as_bool().unwrap_or(false);
    let size: i64 = bc
        .iter()
        .filter(|b| !flag(b, "Shared"))
        .map(|b| i(b, "Size"))
        .sum();
    let reclaim: i64 = bc
        .iter()
        .filter(|b| !flag(b, "Shared") && !flag(b, "InUse"))
        .map(|b| i(b, "Size"))
        .sum();
    row(
        "Build Cache",
        bc.len(),
        bc.iter().filter(|b| flag(b, "InUse")).count(),
        size::human_size(size as f64),
        size::human_size(reclaim as f64),
    )
}

pub async fn df(ctx: &Ctx, a: DfArgs) -> Result {
    let du = ctx.client.system_df().await?;
    let images = du["Images"].as_array().cloned().unwrap_or_default();
    let containers = du["Containers"].as_array().cloned().unwrap_or_default();
    let volumes = du["Volumes"].as_array().cloned().unwrap_or_default();
    let layers = i(&du, "LayersSize");
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0);
    let used: i64 = active_images
        .clone()
        .filter(|im| i(im, "Size") >= 0 && i(im, "SharedSize") >= 0)
        .map(|im| i(im, "Size") - i(im, "SharedSize"))
        .sum();
    let running = |c: &&Value| c["State"].as_str() == Some("running");
    let c_size: i64 = containers.iter().map(|c| i(c, "SizeRw")).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| i(c, "SizeRw"))
        .sum();
    let v_size: i64 = volumes
        .iter()
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let v_active = volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0))
        .sum();
    let rows = vec![
        row(
            "Images",
            images.len(),
            active_images.count(),
            size::human_size(layers as f64),
            pct(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(running).count(),
            size::human_size(c_size as f64),
            pct(c_reclaim, c_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            v_active,
            size::human_size(v_size as f64),
            pct(v_reclaim, v_size),
        ),
        build_cache_row(
            du["BuildCache"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        ),
    ];
    if a.verbose && a.format.is_none() {
        return df_verbose(&images, &containers, &volumes);
    }
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into(),
    };
    let headers = serde_json::json!({
        "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    });
    out!(
        "{}",
        format::render_rows(&fmt, &headers, &rows).map_err(CliError::local)?
    );
    Ok(0)
}

fn row(t: &str, total: usize, active: usize, size: String, reclaim: String) -> Value {
    serde_json::json!({
        "Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
        "Size": size, "Reclaimable": reclaim,
    })
}

fn df_verbose(images: &[Value], containers: &[Value], volumes: &[Value]) -> Result {
    let now = duration::now_unix();
    outln!("Images space usage:\n");
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|im| image::rows(im, true, now))
        .collect();
    out!(
        "{}",
        format::render_rows(
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
            &image::headers(),
            &rows
        )
        .map_err(CliError::local)?
    );
    outln!("\nContainers space usage:\n");
    let crow: Vec<Value> = containers
        .iter()
        .map(|c| {
            let id = c["Id"].as_str().unwrap_or("");
            let names = c["Names"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(Value::as_str)
                        .map(|s| s.trim_start_matches('/'))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            serde_json::json!({
                "ID": berth_types::id::short_id(id),
                "Image": c["Image"].as_str().unwrap_or(""),
                "Command": format::go_quote(&format::ellipsis(c["Command"].as_str().unwrap_or(""), 20)),
                "LocalVolumes": c["Mounts"].as_array().map_or(0, |m| m.iter().filter(|m| m["Type"] == "volume").count()).to_string(),
                "Size": size::human_size(i(c, "SizeRw") as f64),
                "RunningFor": duration::ago(i(c, "Created"), now),
                "Status": c["Status"].as_str().unwrap_or(""),
                "Names": names,
            })
        })
        .collect();
    let ch = serde_json::json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
        "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
        "Status": "STATUS", "Names": "NAMES",
    });
    out!(
        "{}",
        format::render_rows(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
            &ch,
            &crow
        )
        .map_err(CliError::local)?
    );
    outln!("\nLocal Volumes space usage:\n");
    let vrow: Vec<Value> = volumes
        .iter()
        .map(|v| {
            serde_json::json!({
                "Name": v["Name"].as_str().unwrap_or(""),
                "Links": v["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string(),
                "Size": size::human_size(v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0) as f64),
            })
        })
        .collect();
    let vh = serde_json::json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"});
    out!(
        "{}",
        format::render_rows("table {{.Name}}\t{{.Links}}\t{{.Size}}", &vh, &vrow)
            .map_err(CliError::local)?
    );
    outln!("\nBuild cache usage: 0B\n");
    outln!("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED");
    Ok(0)
}

/// Prints an image prune answer as docker does; returns the space reclaimed.
fn print_deleted_images(r: &Value) -> i64 {
    let items = r["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        outln!("Deleted Images:");
        for it in &items {
            if let Some(u) = it["Untagged"].as_str() {
                outln!("untagged: {u}");
            }
            if let Some(d) = it["Deleted"].as_str() {
                outln!("deleted: {d}");
            }
        }
        outln!();
    }
    i(r, "SpaceReclaimed")
}

fn image_filters(all: bool, filter: &[String]) -> Result<Option<String>> {
    let mut f = filter.to_vec();
    f.push(format!("dangling={}", !all));
    super::filters_json(&f).map_err(CliError::local)
}

pub async fn image_prune(ctx: &Ctx, a: ImagePruneArgs) -> Result {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !super::confirm(warning) {
        return Ok(0);
    }
    let r = ctx
        .client
        .image_prune(image_filters(a.all, &a.filter)?.as_deref())
        .await?;
    let space = print_deleted_images(&r);
    outln!("Total reclaimed space: {}", size::human_size(space as f64));
    Ok(0)
}

/// Whether an error means the daemon has no such resource type yet (networks, volumes, build
/// cache before their engineers land them): prune skips it rather than failing.
fn absent(e: &berth_client::Error) -> bool {
    matches!(e.status(), Some(404 | 501))
}

pub async fn system_prune(ctx: &Ctx, a: SystemPruneArgs) -> Result {
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        w.push_str("  - unused build cache\n");
        if !super::confirm(&w) {
            return Ok(0);
        }
    }
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let mut space = 0i64;
    let r = ctx.client.containers_prune(filters.as_deref()).await?;
    let deleted: Vec<&str> = r["ContainersDeleted"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        outln!("Deleted Containers:");
        for d in deleted {
            outln!("{d}");
        }
        outln!();
    }
    space += i(&r, "SpaceReclaimed");
    let empty = berth_client::RequestBody::Empty;
    let q: Vec<(&str, String)> = filters.iter().map(|f| ("filters", f.clone())).collect();
    match ctx
        .client
        .post_json::<Value>("/networks/prune", &q, empty)
        .await
    {
        Ok(r) => {
            let nets: Vec<&str> = r["NetworksDeleted"]
                .as_array()
                .map(|d| d.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !nets.is_empty() {
                outln!("Deleted Networks:");
                for n in nets {
                    outln!("{n}");
                }
                outln!();
            }
        }
        Err(e) if absent(&e) => {}
        Err(e) => return Err(e.into()),
    }
    if a.volumes {
        match ctx
            .client
            .post_json::<Value>("/volumes/prune", &q, berth_client::RequestBody::Empty)
            .await
        {
            Ok(r) => {
                let vols: Vec<&str> = r["VolumesDeleted"]
                    .as_array()
                    .map(|d| d.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !vols.is_empty() {
                    outln!("Deleted Volumes:");
                    for v in vols {
                        outln!("{v}");
                    }
                    outln!();
                }
                space += i(&r, "SpaceReclaimed");
            }
            Err(e) if absent(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let r = ctx
        .client
        .image_prune(image_filters(a.all, &a.filter)?.as_deref())
        .await?;
    space += print_deleted_images(&r);
    match ctx
        .client
        .build_prune(a.all, None, filters.as_deref())
        .await
    {
        Ok(r) => space += super::builder::print_cache_report(&r),
        Err(e) if absent(&e) => {}
        Err(e) => return Err(e.into()),
    }
    outln!("Total reclaimed space: {}", size::human_size(space as f64));
    Ok(0)
}

pub async fn check(ctx: &Ctx, a: CheckArgs) -> Result {
    let r = ctx.client.system_check(a.repair).await?;
    outln!(
        "Checked {} blobs, {} layers, {} images.",
        i(&r, "BlobsChecked"),
        i(&r, "LayersChecked"),
        i(&r, "ImagesChecked")
    );
    let problems = r["Problems"].as_array().cloned().unwrap_or_default();
    for p in &problems {
        outln!("problem: {}", p.as_str().unwrap_or(""));
    }
    for p in r["Repaired"].as_array().into_iter().flatten() {
        outln!("repaired: {}", p.as_str().unwrap_or(""));
    }
    if problems.is_empty() {
        outln!("The image store is consistent.");
        return Ok(0);
    }
    // Problems found but not repaired: a non-zero status, so scripts notice.
    Ok(if a.repair { 0 } else { 1 })
}
