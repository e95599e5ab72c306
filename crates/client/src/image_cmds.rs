//! The image command set's endpoints: rmi, tag, history, prune, save, commit, diff, export,
//! system df and Berth's system check.

use hyper::Method;
use serde_json::Value;

use crate::error::Result;
use crate::images::encode_name;
use crate::transport::encode_component;
use crate::{Client, RequestBody, ResponseStream};

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub changes: Vec<String>,
    pub pause: bool,
}

impl Client {
    /// `DELETE /images/{name}`: the untagged/deleted items.
    pub async fn image_remove(&self, name: &str, force: bool, noprune: bool) -> Result<Value> {
        let q = [
            ("force", if force { "1" } else { "0" }.to_string()),
            ("noprune", if noprune { "1" } else { "0" }.to_string()),
        ];
        let resp = self
            .request(
                Method::DELETE,
                &format!("/images/{}", encode_name(name)),
                &q,
                RequestBody::Empty,
            )
            .await?;
        let body = crate::transport::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// `POST /images/{name}/tag`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let mut q = vec![("repo", repo.to_string())];
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
        self.call(
            Method::POST,
            &format!("/images/{}/tag", encode_name(name)),
            &q,
        )
        .await
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<Value>> {
        self.get_json(&format!("/images/{}/history", encode_name(name)), &[])
            .await
    }

    /// `POST /images/prune`.
    pub async fn image_prune(&self, filters: Option<&str>) -> Result<Value> {
        let mut q = Vec::new();
        if let Some(f) = filters {
            q.push(("filters", f.to_string()));
        }
        self.post_json("/images/prune", &q, RequestBody::Empty)
            .await
    }

    /// `GET /images/get?names=…`: the archive as a stream.
    pub async fn image_save(&self, names: &[String]) -> Result<ResponseStream> {
        let q: Vec<(&str, String)> = names.iter().map(|n| ("names", n.clone())).collect();
        let resp = self
            .request(Method::GET, "/images/get", &q, RequestBody::Empty)
            .await?;
        Ok(ResponseStream::new(resp))
    }

    /// `POST /commit`: returns the new image ID.
    pub async fn container_commit(&self, container: &str, o: &CommitOptions) -> Result<String> {
        let mut q = vec![
            ("container", container.to_string()),
            ("pause", if o.pause { "1" } else { "0" }.to_string()),
        ];
        for (k, v) in [
            ("repo", &o.repo),
            ("tag", &o.tag),
            ("author", &o.author),
            ("comment", &o.comment),
        ] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        for c in &o.changes {
            q.push(("changes", c.clone()));
        }
        let v: Value = self
            .post_json("/commit", &q, RequestBody::Json(b"{}".to_vec()))
            .await?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// `GET /containers/{id}/changes`.
    pub async fn container_changes(&self, id: &str) -> Result<Vec<Value>> {
        let v: Value = self
            .get_json(
                &format!("/containers/{}/changes", encode_component(id)),
                &[],
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// `GET /containers/{id}/export`: the root filesystem tar as a stream.
    pub async fn container_export(&self, id: &str) -> Result<ResponseStream> {
        let resp = self
            .request(
                Method::GET,
                &format!("/containers/{}/export", encode_component(id)),
                &[],
                RequestBody::Empty,
            )
            .await?;
        Ok(ResponseStream::new(resp))
    }

    /// `GET /system/df`.
    pub async fn system_df(&self) -> Result<Value> {
        self.get_json("/system/df", &[]).await
    }

    /// `POST /system/check` (Berth only).
    pub async fn system_check(&self, repair: bool) -> Result<Value> {
        let q = [("repair", if repair { "1" } else { "0" }.to_string())];
        self.post_json("/system/check", &q, RequestBody::Empty)
            .await
    }
}

/// Decodes `X-Docker-Container-Path-Stat`.
fn path_stat(resp: &hyper::Response<hyper::body::Incoming>) -> Value {
    use base64::Engine as _;
    resp.headers()
        .get("x-docker-container-path-stat")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

impl Client {
    /// `HEAD /containers/{id}/archive`: the path's stat.
    pub async fn archive_stat(&self, id: &str, path: &str) -> Result<Value> {
        let q = [("path", path.to_string())];
        let resp = self
            .request(
                Method::HEAD,
                &format!("/containers/{}/archive", encode_component(id)),
                &q,
                RequestBody::Empty,
            )
            .await?;
        Ok(path_stat(&resp))
    }

    /// `GET /containers/{id}/archive`: the path's stat and its tar.
    pub async fn archive_get(&self, id: &str, path: &str) -> Result<(Value, ResponseStream)> {
        let q = [("path", path.to_string())];
        let resp = self
            .request(
                Method::GET,
                &format!("/containers/{}/archive", encode_component(id)),
                &q,
                RequestBody::Empty,
            )
            .await?;
        Ok((path_stat(&resp), ResponseStream::new(resp)))
    }

    /// `PUT /containers/{id}/archive`: extracts `tar` into directory `path`.
    pub async fn archive_put(
        &self,
        id: &str,
        path: &str,
        tar: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let q = [
            ("path", path.to_string()),
            ("noOverwriteDirNonDir", "true".to_string()),
            ("copyUIDGID", copy_uid_gid.to_string()),
        ];
        let resp = self
            .request(
                Method::PUT,
                &format!("/containers/{}/archive", encode_component(id)),
                &q,
                RequestBody::Reader {
                    reader: tar,
                    content_type: "application/x-tar",
                },
            )
            .await?;
        crate::transport::collect(resp.into_body()).await?;
        Ok(())
    }
}

impl Client {
    /// `POST /images/create?fromSrc=<url>`: the daemon downloads and imports the tar.
    pub async fn image_import_url(
        &self,
        url: &str,
        repo: Option<&str>,
        tag: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<crate::JsonStream<Value>> {
        let mut q = vec![("fromSrc", url.to_string())];
        for (k, v) in [("repo", repo), ("tag", tag), ("message", message)] {
            if let Some(v) = v {
                q.push((k, v.to_string()));
            }
        }
        for c in changes {
            q.push(("changes", c.clone()));
        }
        let resp = self
            .request(Method::POST, "/images/create", &q, RequestBody::Empty)
            .await?;
        Ok(crate::JsonStream::new(resp))
    }
}
