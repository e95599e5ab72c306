//! Exec endpoints.

use hyper::Method;
use serde_json::Value;

use crate::api::{ExecConfig, IdResponse};
use crate::error::Result;
use crate::transport::encode_component;
use crate::{Client, HijackedStream, RequestBody};

impl Client {
    /// `POST /containers/{id}/exec`: creates an exec instance, returns its ID.
    pub async fn exec_create(&self, container: &str, config: &ExecConfig) -> Result<String> {
        let path = format!("/containers/{}/exec", encode_component(container));
        let r: IdResponse = self
            .post_json(&path, &[], RequestBody::json(config)?)
            .await?;
        Ok(r.id)
    }

    /// `POST /exec/{id}/start` attached: the hijacked stream of the process.
    pub async fn exec_start(&self, exec_id: &str, tty: bool) -> Result<HijackedStream> {
        let body = RequestBody::json(&serde_json::json!({"Detach": false, "Tty": tty}))?;
        self.hijack(
            &format!("/exec/{}/start", encode_component(exec_id)),
            &[],
            body,
        )
        .await
    }

    /// `POST /exec/{id}/start` detached: returns once the process has started.
    pub async fn exec_start_detached(&self, exec_id: &str, tty: bool) -> Result<()> {
        let body = RequestBody::json(&serde_json::json!({"Detach": true, "Tty": tty}))?;
        let path = format!("/exec/{}/start", encode_component(exec_id));
        let resp = self.request(Method::POST, &path, &[], body).await?;
        crate::transport::collect(resp.into_body()).await?;
        Ok(())
    }

    /// `GET /exec/{id}/json`.
    pub async fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        self.get_json(&format!("/exec/{}/json", encode_component(exec_id)), &[])
            .await
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let q = [("h", height.to_string()), ("w", width.to_string())];
        self.call(
            Method::POST,
            &format!("/exec/{}/resize", encode_component(exec_id)),
            &q,
        )
        .await
    }
}
