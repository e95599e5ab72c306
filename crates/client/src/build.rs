//! `POST /build` and `POST /build/prune`.

use std::collections::BTreeMap;

use serde_json::Value;
use tokio::io::AsyncRead;

use crate::transport::RequestBody;
use crate::{Client, JsonStream, Method, Result};

/// The query of `POST /build` (Docker's `ImageBuildOptions` for the legacy builder).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: Option<String>,
    /// A git or http(s) context the daemon fetches; the body is then empty.
    pub remote: Option<String>,
    pub quiet: bool,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub pull: bool,
    /// `rm` (Docker's default is true).
    pub remove: bool,
    pub force_remove: bool,
    /// `None` values are sent as JSON `null`.
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub network_mode: Option<String>,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
}

impl BuildOptions {
    fn query(&self) -> Result<Vec<(&'static str, String)>> {
        let mut q: Vec<(&'static str, String)> = Vec::new();
        for t in &self.tags {
            q.push(("t", t.clone()));
        }
        let b = |v: bool| if v { "1" } else { "0" }.to_string();
        q.push(("version", "1".into()));
        q.push(("rm", b(self.remove)));
        if self.force_remove {
            q.push(("forcerm", "1".into()));
        }
        if self.quiet {
            q.push(("q", "1".into()));
        }
        if self.no_cache {
            q.push(("nocache", "1".into()));
        }
        if self.pull {
            q.push(("pull", "1".into()));
        }
        for f in &self.no_cache_filter {
            q.push(("nocachefilter", f.clone()));
        }
        for h in &self.extra_hosts {
            q.push(("extrahosts", h.clone()));
        }
        let opt = |q: &mut Vec<(&'static str, String)>, k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        };
        opt(&mut q, "dockerfile", &self.dockerfile);
        opt(&mut q, "remote", &self.remote);
        opt(&mut q, "target", &self.target);
        opt(&mut q, "platform", &self.platform);
        opt(&mut q, "networkmode", &self.network_mode);
        opt(&mut q, "cpusetcpus", &self.cpuset_cpus);
        for (k, v) in [
            ("shmsize", self.shm_size),
            ("memory", self.memory),
            ("memswap", self.memory_swap),
            ("cpushares", self.cpu_shares),
            ("cpuperiod", self.cpu_period),
            ("cpuquota", self.cpu_quota),
        ] {
            if let Some(v) = v {
                q.push((k, v.to_string()));
            }
        }
        if !self.build_args.is_empty() {
            q.push(("buildargs", serde_json::to_string(&self.build_args)?));
        }
        if !self.labels.is_empty() {
            q.push(("labels", serde_json::to_string(&self.labels)?));
        }
        Ok(q)
    }
}

impl Client {
    /// `POST /build`: sends the context tar (or nothing for a remote context) and returns the
    /// legacy builder's JSON message stream.
    pub async fn build(
        &self,
        opts: &BuildOptions,
        context: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<JsonStream<Value>> {
        let body = match context {
            Some(reader) => RequestBody::Reader {
                reader,
                content_type: "application/x-tar",
            },
            None => RequestBody::Empty,
        };
        let resp = self
            .request(Method::POST, "/build", &opts.query()?, body)
            .await?;
        Ok(JsonStream::new(resp))
    }

    /// `POST /build/prune`: `{"CachesDeleted":[...],"SpaceReclaimed":n}`.
    pub async fn build_prune(
        &self,
        all: bool,
        keep_storage: Option<u64>,
        filters: Option<&str>,
    ) -> Result<Value> {
        let mut q = Vec::new();
        if all {
            q.push(("all", "1".to_string()));
        }
        if let Some(k) = keep_storage {
            q.push(("keep-storage", k.to_string()));
        }
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        self.post_json("/build/prune", &q, RequestBody::Empty).await
    }
}
