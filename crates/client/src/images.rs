//! Image endpoints needed by the run flow and the image listing commands.

use hyper::Method;
use serde_json::Value;
use tokio::io::AsyncRead;

use crate::error::Result;
use crate::transport::encode_component;
use crate::{Client, JsonStream, RequestBody};

impl Client {
    /// `GET /images/json` as raw JSON objects.
    pub async fn image_list(
        &self,
        all: bool,
        digests: bool,
        filters: Option<&str>,
    ) -> Result<Vec<Value>> {
        let mut q = vec![("all", if all { "1" } else { "0" }.to_string())];
        if digests {
            q.push(("digests", "1".into()));
        }
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        self.get_json("/images/json", &q).await
    }

    /// `GET /images/{name}/json` as raw JSON.
    pub async fn image_inspect(&self, name: &str) -> Result<Value> {
        // Names keep their `/` and `:` so that `library/busybox:latest` reaches the route.
        self.get_json(&format!("/images/{}/json", encode_name(name)), &[])
            .await
    }

    /// `GET /images/{name}/json` as the daemon's raw bytes.
    pub async fn image_inspect_raw(&self, name: &str) -> Result<bytes::Bytes> {
        self.get_raw(&format!("/images/{}/json", encode_name(name)), &[])
            .await
    }

    /// `POST /images/load`: streams a `docker save` or OCI-layout tar; returns the progress stream.
    pub async fn image_load(
        &self,
        tar: Box<dyn AsyncRead + Send + Unpin>,
        quiet: bool,
    ) -> Result<JsonStream<Value>> {
        let q = [("quiet", if quiet { "1" } else { "0" }.to_string())];
        let body = RequestBody::Reader {
            reader: tar,
            content_type: "application/x-tar",
        };
        let resp = self.request(Method::POST, "/images/load", &q, body).await?;
        Ok(JsonStream::new(resp))
    }

    /// `POST /images/create?fromSrc=-`: imports a rootfs tar as a one-layer image.
    pub async fn image_import(
        &self,
        tar: Box<dyn AsyncRead + Send + Unpin>,
        repo: Option<&str>,
        tag: Option<&str>,
        changes: &[String],
        message: Option<&str>,
        platform: Option<&str>,
    ) -> Result<JsonStream<Value>> {
        let mut q = vec![("fromSrc", "-".to_string())];
        if let Some(r) = repo {
            q.push(("repo", r.to_string()));
        }
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
        for c in changes {
            q.push(("changes", c.clone()));
        }
        if let Some(m) = message {
            q.push(("message", m.to_string()));
        }
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        let body = RequestBody::Reader {
            reader: tar,
            content_type: "application/x-tar",
        };
        let resp = self
            .request(Method::POST, "/images/create", &q, body)
            .await?;
        Ok(JsonStream::new(resp))
    }

    /// `POST /images/create?fromImage=`: pulls an image; returns the progress stream.
    pub async fn image_pull(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
    ) -> Result<JsonStream<Value>> {
        let mut q = vec![("fromImage", image.to_string())];
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        let resp = self
            .request(Method::POST, "/images/create", &q, RequestBody::Empty)
            .await?;
        Ok(JsonStream::new(resp))
    }
}

/// Encodes a reference for a path segment, keeping `/` and `:` readable as Docker's clients do.
pub(crate) fn encode_name(name: &str) -> String {
    encode_component(name)
        .replace("%2F", "/")
        .replace("%3A", ":")
}
