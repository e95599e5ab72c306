//! `stats`: a container's resource usage in Docker's JSON shape (`GET /containers/{id}/stats`),
//! sampled from its cgroups (through [`berth_runtime::cgroups`]), `/proc/stat` and the
//! network namespace's `/proc/<pid>/net/dev`.
//!
//! The shape follows the host's cgroup version, as Docker's does: v1 hosts (and hybrid ones)
//! report `percpu_usage`, `max_usage`, `failcnt` and v1 `memory.stat` keys (`cache`,
//! `total_inactive_file`); v2 hosts report v2 keys (`anon`, `inactive_file`). Clients compute
//! CPU % from the difference to `precpu_stats`, so each document carries the previous sample.

use std::time::Duration;

use berth_api::backend::ByteStream;
use berth_runtime::cgroups::{self, Stats, Version};
use bytes::Bytes;
use serde_json::{json, Value};

use super::now_rfc3339;
use crate::error::{Error, Result};
use crate::Daemon;

/// Docker's sampling interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// `USER_HZ`: v1 `cpuacct.stat` counts ticks of 1/100 s.
const NANOS_PER_TICK: u64 = 10_000_000;

/// One sample, before it is rendered.
struct Sample {
    read: String,
    cpu: Value,
    doc: Value,
}

impl Daemon {
    pub async fn container_stats(
        &self,
        key: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<ByteStream> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let name = format!("/{}", c.name);
        if !c.state.status.is_running() || c.state.pid <= 0 {
            // Docker answers a stopped container with one empty document.
            let doc = empty_doc(&c.id, &name);
            return Ok(Box::pin(futures_util::stream::iter([line(&doc)])));
        }
        let cgroups_path = format!("{}/{}", super::limits::cgroup_parent(&c.host_config), c.id);
        let pid = c.state.pid;
        let id = c.id.clone();
        let sample = move || {
            let (path, id, name) = (cgroups_path.clone(), id.clone(), name.clone());
            async move {
                tokio::task::spawn_blocking(move || take_sample(&path, pid, &id, &name))
                    .await
                    .map_err(|e| Error::Internal(format!("stats task: {e}")))?
            }
        };
        let first = sample().await?;
        if !stream {
            let (pre, cur) = if one_shot {
                (None, first)
            } else {
                tokio::time::sleep(INTERVAL).await;
                (Some(first), sample().await?)
            };
            return Ok(Box::pin(futures_util::stream::iter([line(&render(
                cur,
                pre.as_ref(),
            ))])));
        }
        // State: the previous sample, and the next one if already taken.
        let s = futures_util::stream::unfold((None::<Sample>, Some(first)), move |(prev, next)| {
            let entry = entry.clone();
            let sample = sample.clone();
            async move {
                let cur = match next {
                    Some(s) => s,
                    None => {
                        tokio::time::sleep(INTERVAL).await;
                        if !entry.snapshot().state.status.is_running() {
                            return None;
                        }
                        // An error means the container went away between check and read.
                        sample().await.ok()?
                    }
                };
                let doc = render_ref(&cur, prev.as_ref());
                Some((line(&doc), (Some(cur), None)))
            }
        });
        Ok(Box::pin(s))
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn empty_doc(id: &str, name: &str) -> Value {
    json!({
        "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {}, "blkio_stats": {
            "io_service_bytes_recursive": null, "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                         "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {}, "name": name, "id": id,
    })
}

fn render(cur: Sample, prev: Option<&Sample>) -> Value {
    render_ref(&cur, prev)
}

fn render_ref(cur: &Sample, prev: Option<&Sample>) -> Value {
    let mut doc = cur.doc.clone();
    doc["read"] = json!(cur.read);
    match prev {
        Some(p) => {
            doc["preread"] = json!(p.read);
            doc["precpu_stats"] = p.cpu.clone();
        }
        None => {
            doc["preread"] = json!("0001-01-01T00:00:00Z");
            doc["precpu_stats"] = json!({
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
        }
    }
    doc["cpu_stats"] = cur.cpu.clone();
    doc
}

fn take_sample(cgroups_path: &str, pid: i64, id: &str, name: &str) -> Result<Sample> {
    let read = now_rfc3339();
    let version = cgroups::version();
    let st = cgroups::stats(cgroups_path)?;
    let cpu = cpu_stats(&st, version);
    let doc = json!({
        "name": name,
        "id": id,
        "pids_stats": pids_stats(&st),
        "blkio_stats": blkio_stats(&st, version),
        "num_procs": 0,
        "storage_stats": {},
        "memory_stats": memory_stats(&st, version),
        "networks": networks(pid),
    });
    Ok(Sample { read, cpu, doc })
}

fn cpu_stats(st: &Stats, version: Version) -> Value {
    let u = &st.cpu.usage;
    let t = &st.cpu.throttling;
    let mut usage = match version {
        Version::V1 => json!({
            "total_usage": u.usage_total,
            "percpu_usage": u.per_core_usage_total,
            "usage_in_kernelmode": u.usage_kernel * NANOS_PER_TICK,
            "usage_in_usermode": u.usage_user * NANOS_PER_TICK,
        }),
        Version::V2 => json!({
            "total_usage": u.usage_total * 1000,
            "usage_in_kernelmode": u.usage_kernel * 1000,
            "usage_in_usermode": u.usage_user * 1000,
        }),
    };
    if version == Version::V1 && u.per_core_usage_total.is_empty() {
        usage.as_object_mut().map(|o| o.remove("percpu_usage"));
    }
    let throttled_time = match version {
        Version::V1 => t.throttled_time,
        Version::V2 => t.throttled_time * 1000,
    };
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": system_cpu_usage(),
        "online_cpus": online_cpus(),
        "throttling_data": {
            "periods": t.periods,
            "throttled_periods": t.throttled_periods,
            "throttled_time": throttled_time,
        },
    })
}

/// The host's total CPU time in nanoseconds, from the `cpu` line of `/proc/stat` (user, nice,
/// system, idle, iowait, irq, softirq), as Docker computes it.
fn system_cpu_usage() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_system_cpu(&text)
}

fn parse_system_cpu(text: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * NANOS_PER_TICK
        })
        .unwrap_or(0)
}

/// Docker's `online_cpus`: `sysconf(_SC_NPROCESSORS_ONLN)` (not the affinity mask).
fn online_cpus() -> u64 {
    // SAFETY: sysconf reads a system value and has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as u64
    } else {
        1
    }
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn memory_stats(st: &Stats, version: Version) -> Value {
    let m = &st.memory;
    // No limit reads as a huge number (v1) or 0/max (v2): Docker reports the host's memory.
    let host = host_memory();
    let limit = if m.memory.limit == 0 || (host > 0 && m.memory.limit > host) {
        host
    } else {
        m.memory.limit
    };
    let stats: serde_json::Map<String, Value> =
        m.stats.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    match version {
        Version::V1 => json!({
            "usage": m.memory.usage,
            "max_usage": m.memory.max_usage,
            "stats": stats,
            "failcnt": m.memory.fail_count,
            "limit": limit,
        }),
        Version::V2 => json!({
            "usage": m.memory.usage,
            "stats": stats,
            "limit": limit,
        }),
    }
}

fn pids_stats(st: &Stats) -> Value {
    let mut v = json!({"current": st.pids.current});
    if st.pids.limit > 0 {
        v["limit"] = json!(st.pids.limit);
    }
    v
}

fn blkio_stats(st: &Stats, version: Version) -> Value {
    let entries = |list: &[cgroups::BlkioDeviceStat]| -> Value {
        if list.is_empty() {
            return Value::Null;
        }
        json!(list
            .iter()
            .map(|d| {
                let op = d.op_type.clone().unwrap_or_default();
                // v1 files say `Read`; Docker's v2 shape says `read`.
                let op = match version {
                    Version::V1 => op,
                    Version::V2 => op.to_ascii_lowercase(),
                };
                json!({"major": d.major, "minor": d.minor, "op": op, "value": d.value})
            })
            .collect::<Vec<_>>())
    };
    let b = &st.blkio;
    json!({
        "io_service_bytes_recursive": entries(&b.service_bytes),
        "io_serviced_recursive": entries(&b.serviced),
        "io_queue_recursive": entries(&b.queued),
        "io_service_time_recursive": entries(&b.service_time),
        "io_wait_time_recursive": entries(&b.wait_time),
        "io_merged_recursive": entries(&b.merged),
        "io_time_recursive": entries(&b.time),
        "sectors_recursive": entries(&b.sectors),
    })
}

/// Interface counters of the container's network namespace (`lo` left out, as Docker does).
fn networks(pid: i64) -> Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    parse_net_dev(&text)
}

fn parse_net_dev(text: &str) -> Value {
    let mut out = serde_json::Map::new();
    for l in text.lines().skip(2) {
        let Some((iface, rest)) = l.split_once(':') else {
            continue;
        };
        let iface = iface.trim();
        if iface == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            iface.to_owned(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v2 fixture of the runtime crate (files as a v2 kernel writes them), rendered as
    /// Docker renders a v2 host's stats.
    #[test]
    fn v2_cgroup_files_render_in_dockers_v2_shape() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../runtime/testdata/cgroup-v2/full");
        let st = berth_runtime::cgroups_v2::stats_at(&dir).unwrap();
        let cpu = cpu_stats(&st, Version::V2);
        // v2 counts microseconds; Docker's document nanoseconds.
        assert_eq!(cpu["cpu_usage"]["total_usage"], 2_500_000_000u64);
        assert_eq!(cpu["cpu_usage"]["usage_in_usermode"], 2_000_000_000u64);
        assert_eq!(cpu["cpu_usage"]["usage_in_kernelmode"], 500_000_000u64);
        assert!(cpu["cpu_usage"].get("percpu_usage").is_none());
        assert_eq!(cpu["throttling_data"]["periods"], 120);
        assert_eq!(cpu["throttling_data"]["throttled_periods"], 30);
        assert_eq!(cpu["throttling_data"]["throttled_time"], 1_500_000_000u64);

        let mem = memory_stats(&st, Version::V2);
        assert_eq!(mem["usage"], 52_428_800);
        assert!(mem.get("max_usage").is_none() && mem.get("failcnt").is_none());
        assert_eq!(mem["stats"]["inactive_file"], 6_291_456);
        let host = host_memory();
        let want = if host > 0 && 104_857_600 > host {
            host
        } else {
            104_857_600
        };
        assert_eq!(mem["limit"], want);

        assert_eq!(pids_stats(&st), json!({"current": 7, "limit": 100}));

        let io = blkio_stats(&st, Version::V2);
        assert_eq!(
            io["io_service_bytes_recursive"][0],
            json!({"major": 8, "minor": 0, "op": "read", "value": 1_048_576})
        );
        assert_eq!(
            io["io_serviced_recursive"][3],
            json!({"major": 253, "minor": 1, "op": "write", "value": 2})
        );
        assert!(io["io_time_recursive"].is_null());

        // No limit (`max`) reads as the host's memory, as Docker reports it.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cpu.stat"), "usage_usec 1\n").unwrap();
        std::fs::write(tmp.path().join("memory.current"), "1\n").unwrap();
        std::fs::write(tmp.path().join("memory.max"), "max\n").unwrap();
        let st = berth_runtime::cgroups_v2::stats_at(tmp.path()).unwrap();
        assert_eq!(memory_stats(&st, Version::V2)["limit"], host);
    }

    #[test]
    fn proc_stat_in_nanoseconds() {
        let text = "cpu  10 0 5 100 1 0 4 7 0 0\ncpu0 1 1 1 1 1 1 1\n";
        assert_eq!(parse_system_cpu(text), 120 * NANOS_PER_TICK);
    }

    #[test]
    fn net_dev_without_lo() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n";
        let v = parse_net_dev(text);
        assert!(v.get("lo").is_none());
        assert_eq!(v["eth0"]["rx_bytes"], 1000);
        assert_eq!(v["eth0"]["tx_bytes"], 2000);
        assert_eq!(v["eth0"]["tx_dropped"], 4);
    }
}
