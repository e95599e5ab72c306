//! `/networks/...`.

use hyper::Method;
use serde_json::Value;

use crate::transport::{encode_component, RequestBody};
use crate::{Client, Result};

fn network_path(id: &str, rest: &str) -> String {
    format!("/networks/{}{rest}", encode_component(id))
}

impl Client {
    /// `GET /networks`.
    pub async fn network_list(&self, filters: Option<&str>) -> Result<Vec<Value>> {
        let q: Vec<(&str, String)> = filters
            .map(|f| vec![("filters", f.to_string())])
            .unwrap_or_default();
        self.get_json("/networks", &q).await
    }

    /// `GET /networks/{id}`.
    pub async fn network_inspect(&self, id: &str) -> Result<Value> {
        self.get_json(&network_path(id, ""), &[]).await
    }

    /// `GET /networks/{id}` as raw bytes (inspect output keeps the daemon's key order).
    pub async fn network_inspect_raw(&self, id: &str) -> Result<bytes::Bytes> {
        self.get_raw(&network_path(id, ""), &[]).await
    }

    /// `POST /networks/create`; returns `{Id, Warning}`.
    pub async fn network_create(&self, body: &Value) -> Result<Value> {
        self.post_json("/networks/create", &[], RequestBody::json(body)?)
            .await
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id: &str) -> Result<()> {
        self.call(Method::DELETE, &network_path(id, ""), &[]).await
    }

    /// `POST /networks/prune`; returns `{NetworksDeleted}`.
    pub async fn networks_prune(&self, filters: Option<&str>) -> Result<Value> {
        let q: Vec<(&str, String)> = filters
            .map(|f| vec![("filters", f.to_string())])
            .unwrap_or_default();
        self.post_json("/networks/prune", &q, RequestBody::Empty)
            .await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(&self, id: &str, body: &Value) -> Result<()> {
        let resp = self
            .request(
                Method::POST,
                &network_path(id, "/connect"),
                &[],
                RequestBody::json(body)?,
            )
            .await?;
        crate::transport::collect(resp.into_body()).await?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, id: &str, container: &str, force: bool) -> Result<()> {
        let body = serde_json::json!({"Container": container, "Force": force});
        let resp = self
            .request(
                Method::POST,
                &network_path(id, "/disconnect"),
                &[],
                RequestBody::json(&body)?,
            )
            .await?;
        crate::transport::collect(resp.into_body()).await?;
        Ok(())
    }
}
