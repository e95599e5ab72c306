//! `berth stats`: live resource usage, computed from the daemon's stats documents exactly as
//! the docker CLI computes it (CPU % from the deltas to `precpu_stats`, memory without the
//! inactive page cache, summed network and block I/O).

use clap::Args;
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::format::{self, size::human_size_with_precision};
use crate::Ctx;

/// `berth stats [OPTIONS] [CONTAINER...]`
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Docker's default `stats` table.
pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

pub async fn run(ctx: &Ctx, a: StatsArgs) -> Result {
    let fmt = match a.format.as_deref() {
        Some("json") => "{{json .}}".to_string(),
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => DEFAULT_TABLE.to_string(),
    };
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        ctx.client
            .container_list(a.all, None, false, None)
            .await?
            .iter()
            .map(|c| {
                // Listed, not named: docker shows the short ID as the container.
                let id = c["Id"].as_str().unwrap_or("").to_string();
                (short(&id, !a.no_trunc), id)
            })
            .collect()
    } else {
        let mut v = Vec::new();
        for name in &a.containers {
            // Each named container must exist: docker fails up front.
            let info = ctx.client.container_inspect(name, false).await?;
            v.push((name.clone(), info["Id"].as_str().unwrap_or("").to_string()));
        }
        v
    };
    let mut streams = Vec::new();
    for (arg, id) in &targets {
        streams.push((
            arg.clone(),
            ctx.client.container_stats(id, !a.no_stream).await?,
        ));
    }
    let mut latest: Vec<Value> = targets
        .iter()
        .map(|(arg, id)| empty_row(arg, id, !a.no_trunc))
        .collect();
    loop {
        let mut any = false;
        for (i, (arg, s)) in streams.iter_mut().enumerate() {
            if let Some(doc) = s.next().await? {
                latest[i] = row(arg, &doc, !a.no_trunc);
                any = true;
            }
        }
        let out = format::render_rows(&fmt, &headers(), &latest).map_err(CliError::local)?;
        if a.no_stream {
            out!("{out}");
            return Ok(0);
        }
        // Redraw in place, as docker does on a terminal.
        out!("\x1b[2J\x1b[H{out}");
        if !any {
            return Ok(0);
        }
    }
}

fn short(id: &str, trunc: bool) -> String {
    if trunc {
        id.chars().take(12).collect()
    } else {
        id.to_string()
    }
}

fn empty_row(arg: &str, id: &str, trunc: bool) -> Value {
    // docker marshals its context as a Go map: sorted keys in `{{json .}}`.
    format::sorted_object(serde_json::Map::from_iter([
        ("ID".to_string(), json!(short(id, trunc))),
        ("Container".to_string(), json!(arg)),
        ("Name".to_string(), json!("--")),
        ("CPUPerc".to_string(), json!("--")),
        ("MemUsage".to_string(), json!("-- / --")),
        ("MemPerc".to_string(), json!("--")),
        ("NetIO".to_string(), json!("--")),
        ("BlockIO".to_string(), json!("--")),
        ("PIDs".to_string(), json!("--")),
    ]))
}

/// The docker CLI's row for one stats document.
pub fn row(arg: &str, s: &Value, trunc: bool) -> Value {
    let id = s["id"].as_str().unwrap_or("");
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    let u = |v: &Value| v.as_u64().unwrap_or(0) as f64;
    let cpu = cpu_percent(s);
    let (mem, limit) = (
        mem_usage_no_cache(&s["memory_stats"]),
        u(&s["memory_stats"]["limit"]),
    );
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += u(&n["rx_bytes"]);
        tx += u(&n["tx_bytes"]);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(|o| o.to_ascii_lowercase()).as_deref() {
            Some("read") => read += u(&e["value"]),
            Some("write") => write += u(&e["value"]),
            _ => {}
        }
    }
    let h = |v: f64| human_size_with_precision(v, 3);
    let row = json!({
        "ID": short(id, trunc),
        "Container": arg,
        "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", h(rx), h(tx)),
        "BlockIO": format!("{} / {}", h(read), h(write)),
        "PIDs": format!("{}", s["pids_stats"]["current"].as_u64().unwrap_or(0)),
    });
    match row {
        Value::Object(m) => format::sorted_object(m),
        other => other,
    }
}

/// The docker CLI's `calculateCPUPercentUnix`.
pub fn cpu_percent(s: &Value) -> f64 {
    let f = |p: &str| s.pointer(p).and_then(Value::as_u64).unwrap_or(0) as f64;
    let cpu_delta =
        f("/cpu_stats/cpu_usage/total_usage") - f("/precpu_stats/cpu_usage/total_usage");
    let system_delta = f("/cpu_stats/system_cpu_usage") - f("/precpu_stats/system_cpu_usage");
    let mut online = f("/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// Memory usage without the inactive page cache (`total_inactive_file` on v1,
/// `inactive_file` on v2), as the docker CLI shows it.
pub fn mem_usage_no_cache(m: &Value) -> f64 {
    let usage = m["usage"].as_u64().unwrap_or(0);
    let inactive = m["stats"]["total_inactive_file"]
        .as_u64()
        .or_else(|| m["stats"]["inactive_file"].as_u64());
    match inactive {
        Some(i) if i < usage => (usage - i) as f64,
        _ => usage as f64,
    }
}

/// go-units `BytesSize`: binary units with four significant digits (`1.5MiB`, `7.629GiB`).
pub fn bytes_size(v: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (mut v, mut i) = (v, 0);
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", format::size::go_g(v, 4), UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_arithmetic() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3 << 20, "limit": 8 << 20, "stats": {"total_inactive_file": 1 << 20}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"op": "Read", "value": 4096}, {"op": "Write", "value": 8192}]},
            "pids_stats": {"current": 3},
        });
        let r = row("web", &s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 8.19kB");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(bytes_size(8_000_000_000.0), "7.451GiB");
    }
}
