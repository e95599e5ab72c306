//! `/volumes…`.

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;

use crate::error::Result;
use crate::{Client, RequestBody};

fn volume_path(name: &str) -> String {
    format!("/volumes/{}", crate::transport::encode_component(name))
}

fn filters_query(filters: Option<&str>) -> Vec<(&'static str, String)> {
    filters
        .map(|f| vec![("filters", f.to_string())])
        .unwrap_or_default()
}

impl Client {
    /// `GET /volumes`: `{"Volumes": [...], "Warnings": ...}`.
    pub async fn volume_list(&self, filters: Option<&str>) -> Result<Value> {
        self.get_json("/volumes", &filters_query(filters)).await
    }

    /// `POST /volumes/create` with a `VolumeCreateRequest` body.
    pub async fn volume_create(&self, body: &Value) -> Result<Value> {
        self.post_json("/volumes/create", &[], RequestBody::json(body)?)
            .await
    }

    /// `GET /volumes/{name}` as the daemon's bytes (key order kept for `inspect`).
    pub async fn volume_inspect_raw(&self, name: &str) -> Result<Bytes> {
        self.get_raw(&volume_path(name), &[]).await
    }

    /// `DELETE /volumes/{name}`.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let q = [("force", if force { "1" } else { "0" }.to_string())];
        self.call(Method::DELETE, &volume_path(name), &q).await
    }

    /// `POST /volumes/prune`.
    pub async fn volumes_prune(&self, filters: Option<&str>) -> Result<Value> {
        self.post_json(
            "/volumes/prune",
            &filters_query(filters),
            RequestBody::Empty,
        )
        .await
    }
}
