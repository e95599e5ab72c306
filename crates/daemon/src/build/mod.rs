//! `POST /build` and `POST /build/prune`: the daemon's side of the build engine
//! ([`berth_build`]). One file per concern: the received context, the [`worker::DaemonWorker`]
//! that runs steps through the daemon's own container and image paths, and pruning.

mod context;
mod prune;
pub(crate) mod worker;

use std::sync::Arc;

use berth_api::backend::{BuildOptions, ByteStream};
use berth_build::{BuildRequest, Message, Output};
use berth_types::Kinded;
use futures_util::StreamExt;
use serde_json::json;

use crate::error::{Error, Result};
use crate::images::json_line;
use crate::Daemon;

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Start-up: what a killed daemon left of builds — received contexts and layer files in the
/// scratch directory, and the read-only image mounts with their snapshots — goes.
pub(crate) fn recover(
    data_root: &std::path::Path,
    exec_root: &std::path::Path,
    images: &berth_image::ImageStore,
) -> Result<()> {
    berth_buildcontext::clean_scratch(&data_root.join("build").join("tmp"))
        .map_err(|e| Error::Internal(format!("cleaning the build scratch directory: {e}")))?;
    let mounts = exec_root.join("build-mounts");
    if let Ok(rd) = std::fs::read_dir(&mounts) {
        for e in rd.flatten() {
            let _ = crate::rootfs::unmount(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
    for info in images.snapshotter().list()? {
        if info.key.starts_with(worker::MOUNT_PREFIX) {
            images.snapshotter().remove(&info.key)?;
        }
    }
    Ok(())
}

impl Daemon {
    /// Runs a build; the stream carries the legacy builder's messages and ends with the
    /// error (as `error` + `errorDetail`) if the build fails.
    pub async fn build_image(
        self: &Arc<Self>,
        opts: BuildOptions,
        context: ByteStream,
    ) -> Result<ByteStream> {
        if let Some(p) = opts.platform.as_deref().filter(|p| !p.is_empty()) {
            let host = berth_image::platform::Platform::host();
            let want = berth_image::platform::Platform::parse(p)?;
            if want.os != host.os || want.architecture != host.architecture {
                return Err(Error::NotImplemented(format!(
                    "building for platform {p} (only the host's)"
                )));
            }
        }
        let scratch = self.config.data_root.join("build").join("tmp");
        let dockerfile = opts
            .dockerfile
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "Dockerfile".into());
        let s2 = scratch.clone();
        let remote = opts.remote.clone().filter(|r| !r.is_empty());
        let received = crate::images::blocking(move || match remote {
            Some(url) => context::fetch_remote(&url, &dockerfile, &s2),
            None => {
                let reader = crate::images::body_reader(context);
                context::receive(reader, &dockerfile, &s2)
            }
        })
        .await?;
        let text = String::from_utf8_lossy(&received.dockerfile).into_owned();
        let df = berth_build::parse(&text).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let req = BuildRequest {
            dockerfile: df,
            context_dir: received.root.path().to_path_buf(),
            secrets: received.secrets.clone(),
            tags: opts.tags.clone(),
            target: opts.target.clone(),
            build_args: opts.build_args.clone(),
            labels: opts.labels.clone(),
            no_cache: opts.no_cache,
            no_cache_filter: opts.no_cache_filter.clone(),
            pull: opts.pull,
            network_mode: opts.network_mode.clone(),
            extra_hosts: opts.extra_hosts.clone(),
            quiet: opts.quiet,
            remove: opts.remove || opts.force_remove,
            force_remove: opts.force_remove,
        };
        for t in &req.tags {
            berth_image::Reference::parse(t)?;
        }
        let worker = Arc::new(worker::DaemonWorker {
            daemon: Arc::downgrade(self),
            registry_auth: None,
            limits: berth_types::api::HostConfig {
                memory: opts.memory,
                memory_swap: opts.memory_swap,
                cpu_shares: opts.cpu_shares,
                cpuset_cpus: opts.cpuset_cpus.clone(),
                cpu_period: opts.cpu_period,
                cpu_quota: opts.cpu_quota,
                shm_size: opts.shm_size,
                ..Default::default()
            },
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Output::new(tx, opts.quiet);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let r = berth_build::build(worker, req, out).await;
            // The context directory lives until the build is over.
            drop(received);
            let _ = done_tx.send(r);
        });
        let stream = async_stream(move |emit| async move {
            while let Some(m) = rx.recv().await {
                let line = match m {
                    Message::Stream(s) => json!({ "stream": s }),
                    Message::Raw(v) => v,
                    Message::Aux(v) => json!({ "aux": v }),
                };
                emit(json_line(line));
            }
            match done_rx.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    let mut detail = json!({ "message": e.to_string() });
                    if let Some(code) = e.exit_code() {
                        detail["code"] = json!(code);
                    }
                    let _ = e.kind();
                    emit(json_line(
                        json!({ "errorDetail": detail, "error": e.to_string() }),
                    ));
                }
                Err(_) => emit(json_line(json!({
                    "errorDetail": { "message": "the build was interrupted" },
                    "error": "the build was interrupted",
                }))),
            }
        });
        Ok(stream)
    }
}

/// A byte stream fed by an async producer.
fn async_stream<F, Fut>(f: F) -> ByteStream
where
    F: FnOnce(Box<dyn Fn(bytes::Bytes) + Send + Sync>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    tokio::spawn(f(Box::new(move |b| {
        let _ = tx.send(b);
    })));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
        .boxed()
}
