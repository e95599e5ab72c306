//! `/metrics` in the Prometheus text format: requests by method and status, bytes in and out,
//! a latency histogram, uploads in progress and garbage collection totals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};

use crate::error::Result;
use crate::gc::GcReport;
use crate::server::{full, http_err, resp, Registry, Resp};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    gc_runs: AtomicU64,
    gc_deleted: AtomicU64,
    gc_freed: AtomicU64,
}

impl Metrics {
    pub(crate) fn observe(
        &self,
        method: &str,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
        t: Duration,
    ) {
        // Methods outside the standard set are folded so a client cannot grow the map.
        let method = match method {
            "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE" => method,
            _ => "OTHER",
        };
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_string(), status))
            .or_default() += 1;
        self.bytes_in.fetch_add(bytes_in, Relaxed);
        self.bytes_out.fetch_add(bytes_out, Relaxed);
        let secs = t.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency[i].fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(t.as_micros() as u64, Relaxed);
    }

    pub(crate) fn gc_done(&self, r: &GcReport) {
        self.gc_runs.fetch_add(1, Relaxed);
        if !r.dry_run {
            self.gc_deleted.fetch_add(r.deleted.len() as u64, Relaxed);
            self.gc_freed.fetch_add(r.freed_bytes(), Relaxed);
        }
    }

    pub(crate) fn render(&self, reg: &Registry) -> Result<Resp> {
        let mut s = String::new();
        s.push_str("# HELP berth_registry_http_requests_total HTTP requests by method and status.\n# TYPE berth_registry_http_requests_total counter\n");
        for ((m, c), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "berth_registry_http_requests_total{{method=\"{m}\",code=\"{c}\"}} {n}"
            );
        }
        let _ = writeln!(s, "# HELP berth_registry_http_request_bytes_total Request body bytes (by Content-Length).\n# TYPE berth_registry_http_request_bytes_total counter\nberth_registry_http_request_bytes_total {}", self.bytes_in.load(Relaxed));
        let _ = writeln!(s, "# HELP berth_registry_http_response_bytes_total Response body bytes.\n# TYPE berth_registry_http_response_bytes_total counter\nberth_registry_http_response_bytes_total {}", self.bytes_out.load(Relaxed));
        s.push_str("# HELP berth_registry_http_request_duration_seconds Time to the response head (bodies stream after).\n# TYPE berth_registry_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "berth_registry_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency[i].load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "berth_registry_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "berth_registry_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            s,
            "berth_registry_http_request_duration_seconds_count {count}"
        );
        let _ = writeln!(s, "# HELP berth_registry_uploads_in_progress Blob uploads open.\n# TYPE berth_registry_uploads_in_progress gauge\nberth_registry_uploads_in_progress {}", reg.uploads.len());
        let _ = writeln!(s, "# HELP berth_registry_gc_runs_total Garbage collections run.\n# TYPE berth_registry_gc_runs_total counter\nberth_registry_gc_runs_total {}", self.gc_runs.load(Relaxed));
        let _ = writeln!(s, "# HELP berth_registry_gc_deleted_blobs_total Blobs deleted by garbage collection.\n# TYPE berth_registry_gc_deleted_blobs_total counter\nberth_registry_gc_deleted_blobs_total {}", self.gc_deleted.load(Relaxed));
        let _ = writeln!(s, "# HELP berth_registry_gc_freed_bytes_total Bytes freed by garbage collection.\n# TYPE berth_registry_gc_freed_bytes_total counter\nberth_registry_gc_freed_bytes_total {}", self.gc_freed.load(Relaxed));
        resp(200)
            .header(CONTENT_TYPE, "text/plain; version=0.0.4")
            .header(CONTENT_LENGTH, s.len())
            .body(full(s))
            .map_err(http_err)
    }
}
