//! `berth update`: change the resource limits of one or more containers.

use berth_client::api::{ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use clap::Args;

use crate::container_config::ram_in_bytes;
use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth update [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn bytes(flag: &str, v: &Option<String>) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(v) if v == "-1" => Ok(Some(-1)),
        Some(v) => ram_in_bytes(v).map(Some).ok_or_else(|| {
            CliError::invalid_flag(
                "update",
                format!("invalid argument \"{v}\" for \"{flag}\" flag: invalid size: '{v}'"),
            )
        }),
    }
}

/// The request body for `a`.
pub fn body(a: &UpdateArgs) -> Result<ContainerUpdateBody> {
    let nano_cpus = match &a.cpus {
        Some(c) => Some(
            (c.parse::<f64>().map_err(|_| {
                CliError::invalid_flag(
                    "update",
                    format!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse as a rational number"),
                )
            })? * 1e9)
                .round() as i64,
        ),
        None => None,
    };
    let restart_policy = match &a.restart {
        None => None,
        Some(r) => {
            let (name, count) = r.split_once(':').unwrap_or((r, "0"));
            let name = match name {
                "no" | "" => RestartPolicyNameEnum::NO,
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => {
                    return Err(CliError::invalid_flag(
                        "update",
                        format!("invalid restart policy {name:?}"),
                    ))
                }
            };
            Some(RestartPolicy {
                name: Some(name),
                maximum_retry_count: count.parse().ok(),
            })
        }
    };
    Ok(ContainerUpdateBody {
        blkio_weight: a.blkio_weight,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpu_realtime_period: a.cpu_rt_period,
        cpu_realtime_runtime: a.cpu_rt_runtime,
        cpu_shares: a.cpu_shares,
        nano_cpus,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        memory: bytes("--memory", &a.memory)?,
        memory_reservation: bytes("--memory-reservation", &a.memory_reservation)?,
        memory_swap: bytes("--memory-swap", &a.memory_swap)?,
        pids_limit: a.pids_limit,
        restart_policy,
        ..Default::default()
    })
}

pub async fn run(ctx: &Ctx, a: UpdateArgs) -> Result {
    let body = body(&a)?;
    let mut failed = Vec::new();
    for c in &a.containers {
        match ctx.client.container_update(c, &body).await {
            Ok(_) => out!("{c}\n"),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Status {
            code: 1,
            message: Some(
                failed
                    .iter()
                    .map(|e| format!("Error response from daemon: {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        })
    }
}
