//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::Ctx;

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

pub async fn run(ctx: &Ctx, a: PortArgs) -> Result {
    let c = ctx.client.container_inspect(&a.container, false).await?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // docker sorts by port number, then protocol.
    let mut keys: Vec<(u16, String, String)> = ports
        .keys()
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((p.parse().ok()?, proto.to_owned(), k.clone()))
        })
        .collect();
    keys.sort();
    let mut lines = Vec::new();
    match &a.port {
        Some(want) => {
            let (p, proto) = want.split_once('/').unwrap_or((want, "tcp"));
            let key = format!("{p}/{proto}");
            let found = ports.get(&key).and_then(|v| v.as_array());
            match found {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        lines.push(binding(b));
                    }
                }
                _ => {
                    return Err(CliError::local(format!(
                        "Error: No public port '{key}' published for {}",
                        a.container
                    )))
                }
            }
        }
        None => {
            for (_, _, k) in keys {
                for b in ports[&k].as_array().into_iter().flatten() {
                    lines.push(format!("{k} -> {}", binding(b)));
                }
            }
        }
    }
    for l in lines {
        outln!("{l}");
    }
    Ok(0)
}

fn binding(b: &serde_json::Value) -> String {
    let ip = b["HostIp"].as_str().unwrap_or("");
    let port = b["HostPort"].as_str().unwrap_or("");
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}
