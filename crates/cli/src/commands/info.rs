//! `berth info`.

use clap::Args;
use serde_json::Value as Json;

use crate::error::{CliError, Result};
use crate::format::size::human_size;
use crate::format::template::{Format, Value};
use crate::Ctx;

/// `berth info [OPTIONS]`
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

pub async fn run(ctx: &Ctx, a: InfoArgs) -> Result {
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let t = Format::parse(f).map_err(CliError::local)?;
        // From the raw bytes, so that `{{json .}}` keeps the daemon's field order.
        let raw = ctx.client.get_raw("/info", &[]).await?;
        let v = Value::from_json_bytes(&raw).map_err(|e| CliError::local(e.to_string()))?;
        outln!("{}", t.render_value(&v).map_err(CliError::local)?);
        return Ok(0);
    }
    let info = ctx.client.info().await?;
    let s = |k: &str| match info.get(k) {
        Some(Json::String(v)) => v.clone(),
        Some(Json::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    outln!("Client:");
    outln!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    outln!(" Context:    default");
    outln!(" Debug Mode: false");
    outln!();
    outln!("Server:");
    outln!(" Containers: {}", s("Containers"));
    outln!("  Running: {}", s("ContainersRunning"));
    outln!("  Paused: {}", s("ContainersPaused"));
    outln!("  Stopped: {}", s("ContainersStopped"));
    outln!(" Images: {}", s("Images"));
    outln!(" Server Version: {}", s("ServerVersion"));
    outln!(" Storage Driver: {}", s("Driver"));
    outln!(" Logging Driver: {}", s("LoggingDriver"));
    outln!(" Cgroup Driver: {}", s("CgroupDriver"));
    outln!(" Cgroup Version: {}", s("CgroupVersion"));
    if let Some(rt) = info.get("Runtimes").and_then(Json::as_object) {
        let mut names: Vec<_> = rt.keys().cloned().collect();
        names.sort();
        outln!(" Runtimes: {}", names.join(" "));
    }
    outln!(" Default Runtime: {}", s("DefaultRuntime"));
    outln!(" Kernel Version: {}", s("KernelVersion"));
    outln!(" Operating System: {}", s("OperatingSystem"));
    outln!(" OSType: {}", s("OSType"));
    outln!(" Architecture: {}", s("Architecture"));
    outln!(" CPUs: {}", s("NCPU"));
    let mem = info.get("MemTotal").and_then(Json::as_f64).unwrap_or(0.0);
    outln!(" Total Memory: {}", binary_size(mem));
    outln!(" Name: {}", s("Name"));
    outln!(" ID: {}", s("ID"));
    outln!(" Docker Root Dir: {}", s("DockerRootDir"));
    outln!(" Debug Mode: {}", s("Debug"));
    outln!(" Experimental: {}", s("ExperimentalBuild"));
    outln!(" Live Restore Enabled: {}", s("LiveRestoreEnabled"));
    let _ = human_size;
    Ok(0)
}

/// go-units' `BytesSize`: binary units with 4 significant digits, e.g. `7.748GiB`.
fn binary_size(v: f64) -> String {
    const U: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", crate::format::size::go_g(v, 4), U[i])
}
