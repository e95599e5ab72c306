//! `/_ping`, `/version`, `/info`, `/events`.

use hyper::Method;
use serde_json::Value;

use crate::error::Result;
use crate::{transport, Client, JsonStream, RequestBody};

/// What `/_ping` tells about the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    pub api_version: Option<String>,
    pub os_type: Option<String>,
}

impl Client {
    /// `GET /_ping` (unversioned): checks that a daemon answers and learns its API version.
    pub async fn ping(&self) -> Result<Ping> {
        let resp =
            transport::send(&self.host, Method::GET, "/_ping", RequestBody::Empty, false).await?;
        if !resp.status().is_success() {
            return Err(transport::api_error(resp).await);
        }
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let ping = Ping {
            api_version: header("api-version"),
            os_type: header("ostype"),
        };
        transport::collect(resp.into_body()).await?;
        Ok(ping)
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Value> {
        self.get_json("/version", &[]).await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Value> {
        self.get_json("/info", &[]).await
    }

    /// `GET /events`: a stream of event messages until `until` (or forever), decoded as `T`
    /// (e.g. `serde_json::Value`, or `berth_types::api::EventMessage`).
    pub async fn events<T: serde::de::DeserializeOwned>(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        filters: Option<&str>,
    ) -> Result<JsonStream<T>> {
        let mut q = Vec::new();
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        if let Some(u) = until {
            q.push(("until", u.to_string()));
        }
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        let resp = self
            .request(Method::GET, "/events", &q, RequestBody::Empty)
            .await?;
        Ok(JsonStream::new(resp))
    }
}
