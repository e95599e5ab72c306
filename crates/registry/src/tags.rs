//! `GET /v2/<name>/tags/list` with `n`/`last` pagination.

use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use crate::catalog::{page, Page};
use crate::error::{Error, Result};
use crate::server::{json_resp, Registry, Resp};

pub(crate) async fn list(reg: &Registry, name: &str, req: &Request<Incoming>) -> Result<Resp> {
    let tags = match reg.proxy.upstream_for(name) {
        // A mirror lists what its upstream has.
        Some(up) => up.tags(name, reg).await?,
        None => reg
            .repos
            .tags(name)
            .ok_or_else(|| Error::NameUnknown(name.to_string()))?,
    };
    let Page { items, next } = page(tags, req, usize::MAX)?;
    let mut r = json_resp(200, &json!({ "name": name, "tags": items }))?;
    if let Some(q) = next {
        let link = format!("</v2/{name}/tags/list?{q}>; rel=\"next\"");
        r.headers_mut().insert(
            "Link",
            link.parse()
                .map_err(|_| Error::Internal("link header".into()))?,
        );
    }
    Ok(r)
}
