//! `berth version`.

use clap::Args;
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::format::template::Format;
use crate::Ctx;

/// `berth version [OPTIONS]`
#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

pub async fn run(ctx: &Ctx, a: VersionArgs) -> Result {
    let negotiated = ctx
        .client
        .api_version()
        .await
        .map(str::to_string)
        .unwrap_or_else(|_| berth_types::API_VERSION.to_string());
    let api = if negotiated != berth_types::API_VERSION {
        format!(
            "{negotiated} (downgraded from {})",
            berth_types::API_VERSION
        )
    } else {
        negotiated
    };
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    });
    let server = ctx.client.version().await;
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let t = Format::parse(f).map_err(CliError::local)?;
        let data = json!({"Client": client, "Server": server.as_ref().ok()});
        outln!("{}", t.render(&data).map_err(CliError::local)?);
        return server.map(|_| 0).map_err(Into::into);
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    outln!("Client:");
    outln!(" Version:           {}", s(&client, "Version"));
    outln!(" API version:       {}", s(&client, "ApiVersion"));
    outln!(
        " OS/Arch:           {}/{}",
        s(&client, "Os"),
        s(&client, "Arch")
    );
    outln!(" Context:           default");
    let server = server?;
    outln!();
    outln!("Server:");
    let components = server
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let engine_name = components
        .first()
        .map(|c| s(c, "Name"))
        .unwrap_or_else(|| "Engine".into());
    outln!(" {engine_name}:");
    outln!("  Version:          {}", s(&server, "Version"));
    outln!(
        "  API version:      {} (minimum version {})",
        s(&server, "ApiVersion"),
        s(&server, "MinAPIVersion")
    );
    if !s(&server, "GitCommit").is_empty() {
        outln!("  Git commit:       {}", s(&server, "GitCommit"));
    }
    outln!(
        "  OS/Arch:          {}/{}",
        s(&server, "Os"),
        s(&server, "Arch")
    );
    outln!(
        "  Experimental:     {}",
        server
            .get("Experimental")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    );
    for c in components.iter().skip(1) {
        outln!(" {}:", s(c, "Name"));
        outln!("  Version:          {}", s(c, "Version"));
        if let Some(d) = c.get("Details").and_then(Value::as_object) {
            let mut keys: Vec<_> = d.keys().collect();
            keys.sort();
            for k in keys {
                if k != "ApiVersion" && k != "MinAPIVersion" {
                    outln!("  {:<18}{}", format!("{k}:"), d[k].as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(0)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
