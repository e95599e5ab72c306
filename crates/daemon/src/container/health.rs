//! Healthchecks: the image's `HEALTHCHECK` or `--health-*`, probed as exec processes in the
//! container, with Docker's rules.
//!
//! Lifecycle: every start of a container with a healthcheck sets its health to `starting`
//! (failing streak 0, the log kept) and starts a monitor task. The monitor sleeps an interval
//! (`StartInterval` while still `starting` within `StartPeriod`, else `Interval`), then runs the
//! probe through the container's shim: the container's own process spec with the test as its
//! command, stdout and stderr gathered (4096 bytes at most, then `...`), killed once it exceeds
//! `Timeout` (exit code -1, "Health check exceeded timeout (…)"). Exit 0 is `healthy`; any other
//! result adds to the failing streak — except while `starting` within the start period — and
//! `Retries` consecutive failures make it `unhealthy`. The last five results are kept for
//! inspect. A change of status is persisted and announced as a `health_status: …` event; other
//! results stay in memory (50 containers probed every second must not mean 50 database writes
//! a second). The monitor ends when the init exits and resumes when the daemon restarts.

use std::sync::Arc;
use std::time::Duration;

use berth_types::api::{ExecConfig, HealthConfig};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{now_rfc3339, parse_rfc3339, Container, Entry};
use crate::error::{Error, Result};
use crate::Daemon;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps this many results.
const MAX_LOG_ENTRIES: usize = 5;
/// Docker keeps this much of a probe's output.
const MAX_OUTPUT: usize = 4096;
/// The smallest non-zero duration Docker accepts in a healthcheck.
const MIN_DURATION_NS: i64 = 1_000_000;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `.State.Health` in inspect, and in the container's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// A healthcheck resolved against Docker's defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn nanos_or(v: Option<i64>, default: Duration) -> Duration {
    match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The probe of container `c`, or `None` when it has no (enabled) healthcheck.
pub(crate) fn probe_of(c: &Container) -> Option<Probe> {
    let hc = c.config.healthcheck.as_ref()?;
    let test = hc.test.as_deref().unwrap_or(&[]);
    let argv = match test.first().map(String::as_str) {
        Some("CMD") if test.len() > 1 => test[1..].to_vec(),
        Some("CMD-SHELL") if test.len() > 1 => {
            let mut argv = c
                .config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            argv.push(test[1..].join(" "));
            argv
        }
        // "NONE", an empty test (inherit, but nothing to inherit) or an unknown type.
        _ => return None,
    };
    Some(Probe {
        argv,
        interval: nanos_or(hc.interval, DEFAULT_INTERVAL),
        timeout: nanos_or(hc.timeout, DEFAULT_TIMEOUT),
        start_period: nanos_or(hc.start_period, Duration::ZERO),
        start_interval: nanos_or(hc.start_interval, DEFAULT_START_INTERVAL),
        retries: match hc.retries {
            Some(r) if r > 0 => r,
            _ => DEFAULT_RETRIES,
        },
    })
}

/// The request's healthcheck over the image's, as Docker merges them: an empty test and zero
/// settings are taken from the image.
pub(crate) fn merge(
    user: Option<HealthConfig>,
    image: Option<HealthConfig>,
) -> Option<HealthConfig> {
    let Some(mut u) = user else { return image };
    let Some(i) = image else { return Some(u) };
    if u.test.as_ref().is_none_or(|t| t.is_empty()) {
        u.test = i.test;
    }
    for (mine, theirs) in [
        (&mut u.interval, i.interval),
        (&mut u.timeout, i.timeout),
        (&mut u.start_period, i.start_period),
        (&mut u.start_interval, i.start_interval),
        (&mut u.retries, i.retries),
    ] {
        if mine.is_none_or(|v| v == 0) {
            *mine = theirs;
        }
    }
    Some(u)
}

/// Docker's create-time checks of a healthcheck.
pub(crate) fn validate(hc: Option<&HealthConfig>) -> Result<()> {
    let Some(hc) = hc else { return Ok(()) };
    for (name, v) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if let Some(v) = v {
            if v != 0 && v < MIN_DURATION_NS {
                return Err(Error::InvalidArgument(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
    }
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(Error::InvalidArgument(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    Ok(())
}

/// A duration as Go prints it (`500ms`, `1.5s`, `1m30s`): Docker's timeout message uses it.
pub(crate) fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let frac = |value: u128, unit: u128, suffix: &str| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return format!("{whole}{suffix}");
        }
        let digits = unit.to_string().len() - 1;
        let f = format!("{rest:0digits$}");
        format!("{whole}.{}{suffix}", f.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return frac(ns, 1_000, "µs");
    }
    if ns < 1_000_000_000 {
        return frac(ns, 1_000_000, "ms");
    }
    let secs = ns / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = frac(ns % 60_000_000_000, 1_000_000_000, "s");
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

/// Docker's rules for one result: the new state, from the old one.
pub(crate) fn apply_result(
    h: &mut HealthState,
    result: HealthResult,
    probe: &Probe,
    started_at: Option<time::OffsetDateTime>,
) {
    let probe_start = parse_rfc3339(&result.start);
    let healthy = result.exit_code == 0;
    if h.log.len() >= MAX_LOG_ENTRIES {
        h.log.drain(..h.log.len() + 1 - MAX_LOG_ENTRIES);
    }
    h.log.push(result);
    if healthy {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
        return;
    }
    if h.status == STARTING {
        if let (Some(s), Some(p)) = (started_at, probe_start) {
            if p - s < probe.start_period {
                // Failures within the start period do not count while still starting.
                return;
            }
        }
    }
    h.failing_streak += 1;
    if h.failing_streak >= probe.retries {
        h.status = UNHEALTHY.into();
    }
}

/// Collects a probe's stdcopy-framed output, keeping at most [`MAX_OUTPUT`] bytes of payload.
async fn collect_output(
    stream: &mut tokio::net::UnixStream,
    out: &mut Vec<u8>,
    truncated: &mut bool,
) {
    let mut header = [0u8; 8];
    let mut chunk = vec![0u8; 8192];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while left > 0 {
            let want = left.min(chunk.len());
            let n = match stream.read(&mut chunk[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            left -= n;
            let keep = n.min(MAX_OUTPUT.saturating_sub(out.len()));
            out.extend_from_slice(&chunk[..keep]);
            if keep < n {
                *truncated = true;
            }
        }
    }
}

fn output_text(out: &[u8], truncated: bool) -> String {
    let mut s = String::from_utf8_lossy(out).into_owned();
    if truncated {
        s.push_str("...");
    }
    s
}

impl Daemon {
    /// Starts (or, after a daemon restart, resumes) the healthcheck monitor of a running
    /// container. `fresh`: the container has just started, so its health starts over.
    pub(crate) fn start_health_monitor(&self, entry: &Arc<Entry>, fresh: bool) {
        self.stop_health_monitor(entry);
        let c = entry.snapshot();
        let Some(probe) = probe_of(&c) else { return };
        let Some(daemon) = self.me.upgrade() else {
            return;
        };
        if fresh || c.health.is_none() {
            let res = self.update(entry, |c| {
                let h = c.health.get_or_insert_with(HealthState::default);
                h.status = STARTING.into();
                h.failing_streak = 0;
            });
            if let Err(e) = res {
                tracing::warn!("recording the health of {}: {e}", c.id);
            }
        }
        let e = entry.clone();
        let task = tokio::spawn(async move { daemon.health_monitor(e, probe).await });
        entry
            .supervision
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .health = Some(task.abort_handle());
    }

    pub(crate) fn stop_health_monitor(&self, entry: &Entry) {
        let task = entry
            .supervision
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .health
            .take();
        if let Some(t) = task {
            t.abort();
        }
    }

    async fn health_monitor(self: Arc<Self>, entry: Arc<Entry>, probe: Probe) {
        let c = entry.snapshot();
        let started_at = parse_rfc3339(&c.state.started_at);
        let shim = berth_shim::client::ShimClient::new(self.state_dir(&c.id));
        let exec = ExecConfig {
            cmd: Some(probe.argv.clone()),
            ..Default::default()
        };
        // The process spec is built once: probing must stay cheap.
        let process = self
            .exec_process(&self.state_dir(&c.id), &c, &exec)
            .and_then(|v| {
                serde_json::from_value::<oci_spec::runtime::Process>(v)
                    .map_err(|e| Error::Internal(format!("healthcheck process spec: {e}")))
            });
        loop {
            let starting = entry
                .record
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .health
                .as_ref()
                .is_some_and(|h| h.status == STARTING);
            let in_start_period = started_at
                .is_some_and(|s| time::OffsetDateTime::now_utc() - s < probe.start_period);
            let interval = if starting && in_start_period {
                probe.start_interval
            } else {
                probe.interval
            };
            tokio::time::sleep(interval).await;
            let start = now_rfc3339();
            let (exit_code, output) = match &process {
                Ok(p) => run_probe(&shim, p, probe.timeout).await,
                Err(e) => (-1, e.to_string()),
            };
            let result = HealthResult {
                start,
                end: now_rfc3339(),
                exit_code,
                output,
            };
            self.record_health(&entry, result, &probe, started_at);
        }
    }

    fn record_health(
        &self,
        entry: &Entry,
        result: HealthResult,
        probe: &Probe,
        started_at: Option<time::OffsetDateTime>,
    ) {
        // Only a change of status is worth a copy of the record and a database write.
        let changed = {
            let mut rec = entry.record.lock().unwrap_or_else(|p| p.into_inner());
            if !rec.state.status.is_running() {
                return;
            }
            let h = rec.health.get_or_insert_with(HealthState::default);
            let before = h.status.clone();
            apply_result(h, result, probe, started_at);
            (before != h.status).then(|| rec.clone())
        };
        if let Some(copy) = changed {
            if let Err(e) = self.persist(&copy) {
                tracing::warn!("recording the health of {}: {e}", copy.id);
            }
            let status = copy
                .health
                .as_ref()
                .map(|h| h.status.clone())
                .unwrap_or_default();
            self.container_event(&copy, &format!("health_status: {status}"), &[]);
        }
    }
}

/// Runs one probe; returns its exit code and output as Docker records them.
async fn run_probe(
    shim: &berth_shim::client::ShimClient,
    process: &oci_spec::runtime::Process,
    timeout: Duration,
) -> (i64, String) {
    let id = berth_types::id::generate_id();
    let launched = match shim.exec_create(&id, process).await {
        Ok(()) => shim.exec_start(&id, false, false).await,
        Err(e) => Err(e),
    };
    let mut stream = match launched {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = shim.exec_delete(&id).await;
            return (-1, "healthcheck exec gave no stream".into());
        }
        Err(e) => {
            let _ = shim.exec_delete(&id).await;
            let msg = match e.shim_error() {
                Some(se) => format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: {}: unknown",
                    se.message
                ),
                None => e.to_string(),
            };
            return (-1, msg);
        }
    };
    let mut out = Vec::new();
    let mut truncated = false;
    let finished = tokio::time::timeout(
        timeout,
        collect_output(&mut stream, &mut out, &mut truncated),
    )
    .await
    .is_ok();
    if !finished {
        // Killed, as Docker kills a probe that overran.
        let _ = shim.exec_delete(&id).await;
        let text = output_text(&out, truncated);
        let msg = if text.is_empty() {
            format!("Health check exceeded timeout ({})", go_duration(timeout))
        } else {
            format!(
                "Health check exceeded timeout ({}): {text}",
                go_duration(timeout)
            )
        };
        return (-1, msg);
    }
    // The output ends a moment before the process is reaped.
    let mut code = None;
    for _ in 0..1000 {
        match shim.exec_state(&id).await {
            Ok(s) if s.running => tokio::time::sleep(Duration::from_millis(2)).await,
            Ok(s) => {
                code = s.exit_code;
                break;
            }
            Err(_) => break,
        }
    }
    let _ = shim.exec_delete(&id).await;
    match code {
        Some(c) => (c as i64, output_text(&out, truncated)),
        None => (-1, "the healthcheck's exit code is unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(retries: i64, start_period: Duration) -> Probe {
        Probe {
            argv: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period,
            start_interval: DEFAULT_START_INTERVAL,
            retries,
        }
    }

    fn result(at: &str, code: i64) -> HealthResult {
        HealthResult {
            start: at.into(),
            end: at.into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn retries_failures_make_unhealthy_and_success_heals() {
        let p = probe(2, Duration::ZERO);
        let mut h = HealthState {
            status: STARTING.into(),
            ..Default::default()
        };
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z");
        apply_result(&mut h, result("2026-01-01T00:00:01Z", 1), &p, t0);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        apply_result(&mut h, result("2026-01-01T00:00:02Z", -1), &p, t0);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        apply_result(&mut h, result("2026-01-01T00:00:03Z", 0), &p, t0);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        for i in 0..7 {
            apply_result(
                &mut h,
                result(&format!("2026-01-01T00:01:0{i}Z"), 1),
                &p,
                t0,
            );
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(h.log[4].start, "2026-01-01T00:01:06Z");
    }

    #[test]
    fn start_period_failures_do_not_count_while_starting() {
        let p = probe(1, Duration::from_secs(10));
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z");
        let mut h = HealthState {
            status: STARTING.into(),
            ..Default::default()
        };
        apply_result(&mut h, result("2026-01-01T00:00:05Z", 1), &p, t0);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        apply_result(&mut h, result("2026-01-01T00:00:11Z", 1), &p, t0);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 1));
    }

    #[test]
    fn validation_matches_docker() {
        let hc = HealthConfig {
            interval: Some(500),
            ..Default::default()
        };
        assert!(validate(Some(&hc))
            .unwrap_err()
            .to_string()
            .contains("Interval in Healthcheck cannot be less than 1ms"));
        let hc = HealthConfig {
            retries: Some(-1),
            ..Default::default()
        };
        assert!(validate(Some(&hc)).is_err());
        assert!(validate(Some(&HealthConfig::default())).is_ok());
    }

    #[test]
    fn output_is_capped_like_docker() {
        let big = vec![b'x'; MAX_OUTPUT];
        assert_eq!(output_text(&big, true).len(), MAX_OUTPUT + 3);
    }
}
