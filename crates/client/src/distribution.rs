//! Registry endpoints: pull and push with `X-Registry-Auth`, `POST /auth`,
//! `GET /distribution/{name}/json`, `GET /images/search`.

use hyper::body::Incoming;
use hyper::{Method, Response};
use serde_json::Value;

use crate::error::Result;
use crate::transport::{self, encode_component};
use crate::{Client, JsonStream, RequestBody};

const AUTH_HEADER: &str = "X-Registry-Auth";

impl Client {
    /// A request to a versioned path carrying `X-Registry-Auth` when `auth` is given.
    async fn request_auth(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: RequestBody,
        auth: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let v = self.api_version().await?;
        let uri = transport::with_query(&format!("/v{v}{path}"), query);
        let headers: Vec<(&str, String)> = auth
            .map(|a| vec![(AUTH_HEADER, a.to_string())])
            .unwrap_or_default();
        let resp =
            transport::send_with_headers(self.host(), method, &uri, body, false, &headers).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(transport::api_error(resp).await);
        }
        Ok(resp)
    }

    /// `POST /images/create?fromImage=&tag=&platform=` with credentials; `tag` `None` pulls
    /// every tag.
    pub async fn image_pull_auth(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        auth: Option<&str>,
    ) -> Result<JsonStream<Value>> {
        let mut q = vec![("fromImage", image.to_string())];
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        let resp = self
            .request_auth(Method::POST, "/images/create", &q, RequestBody::Empty, auth)
            .await?;
        Ok(JsonStream::new(resp))
    }

    /// `POST /images/{name}/push?tag=`.
    pub async fn image_push(
        &self,
        name: &str,
        tag: Option<&str>,
        auth: Option<&str>,
    ) -> Result<JsonStream<Value>> {
        let q: Vec<(&str, String)> = tag
            .map(|t| vec![("tag", t.to_string())])
            .unwrap_or_default();
        let path = format!("/images/{}/push", encode_name(name));
        let resp = self
            .request_auth(Method::POST, &path, &q, RequestBody::Empty, auth)
            .await?;
        Ok(JsonStream::new(resp))
    }

    /// `POST /auth`.
    pub async fn registry_login(&self, auth: &Value) -> Result<Value> {
        self.post_json("/auth", &[], RequestBody::json(auth)?).await
    }

    /// `GET /distribution/{name}/json`.
    pub async fn distribution_inspect(&self, name: &str, auth: Option<&str>) -> Result<Value> {
        let path = format!("/distribution/{}/json", encode_name(name));
        let resp = self
            .request_auth(Method::GET, &path, &[], RequestBody::Empty, auth)
            .await?;
        let body = transport::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// `GET /images/search?term=&limit=&filters=`.
    pub async fn image_search(
        &self,
        term: &str,
        limit: Option<usize>,
        filters: Option<&str>,
        auth: Option<&str>,
    ) -> Result<Value> {
        let mut q = vec![("term", term.to_string())];
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        let resp = self
            .request_auth(Method::GET, "/images/search", &q, RequestBody::Empty, auth)
            .await?;
        let body = transport::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Encodes a reference for a path segment, keeping `/` and `:` readable as Docker's clients do.
fn encode_name(name: &str) -> String {
    encode_component(name)
        .replace("%2F", "/")
        .replace("%3A", ":")
        .replace("%40", "@")
}
