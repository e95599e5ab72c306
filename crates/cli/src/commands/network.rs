//! `berth network create|ls|inspect|rm|prune|connect|disconnect`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::format;
use crate::Ctx;

/// `berth network …`.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 address assignment
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn dispatch(ctx: &Ctx, c: NetworkCommand) -> Result {
    match c {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Inspect(a) => {
            super::inspect::run_network(ctx, &a.names, a.format.as_deref()).await
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match ctx.client.network_remove(n).await {
                    Ok(()) => outln!("{n}"),
                    Err(e) if a.force && e.is_not_found() => {}
                    Err(e) => {
                        errln!("{}", CliError::from(e).render());
                        failed = true;
                    }
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Connect(a) => {
            let mut ep = serde_json::Map::new();
            if !a.alias.is_empty() {
                ep.insert("Aliases".into(), json!(a.alias));
            }
            if let Some(ip) = &a.ip {
                ep.insert("IPAMConfig".into(), json!({ "IPv4Address": ip }));
            }
            ctx.client
                .network_connect(
                    &a.network,
                    &json!({"Container": a.container, "EndpointConfig": ep}),
                )
                .await?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            ctx.client
                .network_disconnect(&a.network, &a.container, a.force)
                .await?;
            Ok(0)
        }
    }
}

fn key_values(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result {
    if a.subnet.len() > 1 || a.gateway.len() > 1 || a.ip_range.len() > 1 {
        return Err(CliError::local(
            "Error: only one --subnet, --gateway and --ip-range per network are supported",
        ));
    }
    if (!a.gateway.is_empty() || !a.ip_range.is_empty()) && a.subnet.is_empty() {
        return Err(CliError::local(
            "Error: every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let mut config = serde_json::Map::new();
    if let Some(s) = a.subnet.first() {
        config.insert("Subnet".into(), json!(s));
    }
    if let Some(g) = a.gateway.first() {
        config.insert("Gateway".into(), json!(g));
    }
    if let Some(r) = a.ip_range.first() {
        config.insert("IPRange".into(), json!(r));
    }
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "IPAM": {
            "Driver": "default",
            "Config": if config.is_empty() { json!([]) } else { json!([config]) },
        },
        "Options": key_values(&a.opt),
        "Labels": key_values(&a.label),
    });
    let r = ctx.client.network_create(&body).await?;
    outln!("{}", r["Id"].as_str().unwrap_or(""));
    Ok(0)
}

fn headers() -> Value {
    json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "IPv4": "IPV4", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    })
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

async fn ls(ctx: &Ctx, a: LsArgs) -> Result {
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let mut list = ctx.client.network_list(filters.as_deref()).await?;
    // docker sorts by name.
    list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if a.quiet => "{{.ID}}".to_string(),
        _ => DEFAULT_TABLE.to_string(),
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|n| {
            let id = n["Id"].as_str().unwrap_or("");
            let labels = n["Labels"]
                .as_object()
                .map(|m| {
                    let mut v: Vec<String> = m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    v.sort();
                    v.join(",")
                })
                .unwrap_or_default();
            json!({
                "ID": if a.no_trunc { id.to_string() } else { id.chars().take(12).collect() },
                "Name": n["Name"],
                "Driver": n["Driver"],
                "Scope": n["Scope"],
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "IPv4": n["EnableIPv4"].as_bool().unwrap_or(true).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels,
                "CreatedAt": n["Created"],
            })
        })
        .collect();
    let out = format::render_rows(&fmt, &headers(), &rows).map_err(CliError::local)?;
    out!("{out}");
    Ok(0)
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result {
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let r = ctx.client.networks_prune(filters.as_deref()).await?;
    let deleted: Vec<&str> = r["NetworksDeleted"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        outln!("Deleted Networks:");
        for d in deleted {
            outln!("{d}");
        }
    }
    Ok(0)
}
