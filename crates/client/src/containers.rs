//! Container endpoints.

use hyper::Method;
use serde_json::Value;

use crate::api::{ContainerCreateBody, ContainerCreateResponse};
use crate::error::Result;
use crate::{Client, HijackedStream, RequestBody, ResponseStream, Waiter};

/// Which streams an attach carries.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log before streaming (`logs=1`).
    pub logs: bool,
    pub detach_keys: Option<String>,
}

/// Query of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub timestamps: bool,
    pub details: bool,
    pub tail: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

fn container_path(id: &str, rest: &str) -> String {
    format!(
        "/containers/{}{rest}",
        crate::transport::encode_component(id)
    )
}

impl Client {
    /// `POST /containers/create`.
    pub async fn container_create(
        &self,
        name: Option<&str>,
        platform: Option<&str>,
        body: &ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let mut q = Vec::new();
        if let Some(n) = name {
            q.push(("name", n.to_string()));
        }
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        self.post_json("/containers/create", &q, RequestBody::json(body)?)
            .await
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(&self, id: &str, detach_keys: Option<&str>) -> Result<()> {
        let q: Vec<(&str, String)> = detach_keys
            .map(|k| vec![("detachKeys", k.to_string())])
            .unwrap_or_default();
        self.call(Method::POST, &container_path(id, "/start"), &q)
            .await
    }

    /// `POST /containers/{id}/stop` with optional signal and timeout (seconds).
    pub async fn container_stop(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.call(
            Method::POST,
            &container_path(id, "/stop"),
            &stop_query(signal, timeout),
        )
        .await
    }

    /// `POST /containers/{id}/restart`.
    pub async fn container_restart(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.call(
            Method::POST,
            &container_path(id, "/restart"),
            &stop_query(signal, timeout),
        )
        .await
    }

    /// `POST /containers/{id}/kill`.
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q: Vec<(&str, String)> = signal
            .map(|s| vec![("signal", s.to_string())])
            .unwrap_or_default();
        self.call(Method::POST, &container_path(id, "/kill"), &q)
            .await
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, id: &str) -> Result<()> {
        self.call(Method::POST, &container_path(id, "/pause"), &[])
            .await
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(&self, id: &str) -> Result<()> {
        self.call(Method::POST, &container_path(id, "/unpause"), &[])
            .await
    }

    /// `DELETE /containers/{id}`.
    pub async fn container_remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let q = [("force", flag(force)), ("v", flag(volumes))];
        self.call(Method::DELETE, &container_path(id, ""), &q).await
    }

    /// `GET /containers/{id}/stats`: a stream of Docker stats documents (one when `stream` is
    /// false).
    pub async fn container_stats(
        &self,
        id: &str,
        stream: bool,
    ) -> Result<crate::JsonStream<Value>> {
        let q = [("stream", flag(stream))];
        let resp = self
            .request(
                Method::GET,
                &container_path(id, "/stats"),
                &q,
                RequestBody::Empty,
            )
            .await?;
        Ok(crate::JsonStream::new(resp))
    }

    /// `POST /containers/{id}/update`.
    pub async fn container_update(
        &self,
        id: &str,
        body: &crate::api::ContainerUpdateBody,
    ) -> Result<Value> {
        self.post_json(
            &container_path(id, "/update"),
            &[],
            RequestBody::json(body)?,
        )
        .await
    }

    /// `POST /containers/{id}/rename`.
    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.call(
            Method::POST,
            &container_path(id, "/rename"),
            &[("name", new_name.to_string())],
        )
        .await
    }

    /// `POST /containers/{id}/resize`.
    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let q = [("h", height.to_string()), ("w", width.to_string())];
        self.call(Method::POST, &container_path(id, "/resize"), &q)
            .await
    }

    /// `POST /containers/prune`; returns `{ContainersDeleted, SpaceReclaimed}`.
    pub async fn containers_prune(&self, filters: Option<&str>) -> Result<Value> {
        let q: Vec<(&str, String)> = filters
            .map(|f| vec![("filters", f.to_string())])
            .unwrap_or_default();
        self.post_json("/containers/prune", &q, RequestBody::Empty)
            .await
    }

    /// `GET /containers/json` as raw JSON objects (fields are rendered by the CLI's formatter).
    pub async fn container_list(
        &self,
        all: bool,
        limit: Option<i64>,
        size: bool,
        filters: Option<&str>,
    ) -> Result<Vec<Value>> {
        let mut q = vec![("all", flag(all))];
        if let Some(n) = limit {
            q.push(("limit", n.to_string()));
        }
        if size {
            q.push(("size", "1".to_string()));
        }
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        self.get_json("/containers/json", &q).await
    }

    /// `GET /containers/{id}/json` as raw JSON, the shape `inspect --format` templates address.
    pub async fn container_inspect(&self, id: &str, size: bool) -> Result<Value> {
        let q: Vec<(&str, String)> = if size {
            vec![("size", "1".into())]
        } else {
            vec![]
        };
        self.get_json(&container_path(id, "/json"), &q).await
    }

    /// `GET /containers/{id}/json` as the daemon's raw bytes (key order kept, for `inspect`).
    pub async fn container_inspect_raw(&self, id: &str, size: bool) -> Result<bytes::Bytes> {
        let q: Vec<(&str, String)> = if size {
            vec![("size", "1".into())]
        } else {
            vec![]
        };
        self.get_raw(&container_path(id, "/json"), &q).await
    }

    /// `GET /containers/{id}/json` decoded into the Engine API model.
    pub async fn container_inspect_typed(
        &self,
        id: &str,
    ) -> Result<crate::api::ContainerInspectResponse> {
        self.get_json(&container_path(id, "/json"), &[]).await
    }

    /// `GET /containers/{id}/top`; returns `{Titles, Processes}`.
    pub async fn container_top(&self, id: &str, ps_args: Option<&str>) -> Result<Value> {
        let q: Vec<(&str, String)> = ps_args
            .map(|a| vec![("ps_args", a.to_string())])
            .unwrap_or_default();
        self.get_json(&container_path(id, "/top"), &q).await
    }

    /// `POST /containers/{id}/wait`: returns once the waiter is registered; [`Waiter::wait`]
    /// yields the exit code. `condition` is `not-running`, `next-exit` or `removed`.
    pub async fn container_wait(&self, id: &str, condition: Option<&str>) -> Result<Waiter> {
        let q: Vec<(&str, String)> = condition
            .map(|c| vec![("condition", c.to_string())])
            .unwrap_or_default();
        let resp = self
            .request(
                Method::POST,
                &container_path(id, "/wait"),
                &q,
                RequestBody::Empty,
            )
            .await?;
        Ok(Waiter {
            body: resp.into_body(),
        })
    }

    /// `POST /containers/{id}/attach` (hijacked).
    pub async fn container_attach(&self, id: &str, opts: &AttachOptions) -> Result<HijackedStream> {
        let mut q = vec![
            ("stream", "1".to_string()),
            ("stdin", flag(opts.stdin)),
            ("stdout", flag(opts.stdout)),
            ("stderr", flag(opts.stderr)),
        ];
        if opts.logs {
            q.push(("logs", "1".into()));
        }
        if let Some(k) = &opts.detach_keys {
            q.push(("detachKeys", k.clone()));
        }
        self.hijack(&container_path(id, "/attach"), &q, RequestBody::Empty)
            .await
    }

    /// `GET /containers/{id}/logs` (stdout and stderr; framed unless the container has a TTY).
    pub async fn container_logs(&self, id: &str, opts: &LogsOptions) -> Result<ResponseStream> {
        let mut q = vec![
            ("stdout", "1".to_string()),
            ("stderr", "1".to_string()),
            ("follow", flag(opts.follow)),
            ("timestamps", flag(opts.timestamps)),
        ];
        if opts.details {
            q.push(("details", "1".into()));
        }
        if let Some(t) = &opts.tail {
            q.push(("tail", t.clone()));
        }
        if let Some(s) = &opts.since {
            q.push(("since", s.clone()));
        }
        if let Some(u) = &opts.until {
            q.push(("until", u.clone()));
        }
        let resp = self
            .request(
                Method::GET,
                &container_path(id, "/logs"),
                &q,
                RequestBody::Empty,
            )
            .await?;
        Ok(ResponseStream::new(resp))
    }
}

fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(s) = signal {
        q.push(("signal", s.to_string()));
    }
    if let Some(t) = timeout {
        q.push(("t", t.to_string()));
    }
    q
}
