//! `GET /images/search` and `GET /distribution/{name}/json`: a registry's catalog searched for
//! a term, and a reference's manifest descriptor with the platforms it offers.

use std::sync::Arc;

use berth_image::oci;
use berth_image::Reference;
use hyper::Method;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::manifest;
use crate::registry::{Client, Credentials};
use crate::transport;

/// Searches registry `domain` for repositories whose name contains `term`, through its
/// `/v2/_catalog` (the v2 API has no search; Docker Hub's v1 search is not offered).
pub async fn search(
    client: &Arc<Client>,
    domain: &str,
    term: &str,
    limit: usize,
    creds: Option<Credentials>,
) -> Result<Vec<Value>> {
    if domain == "docker.io" {
        return Err(Error::NotImplemented(
            "searching Docker Hub (its v1 search API) is not implemented in Berth; \
             search a registry that offers a catalog: berth search REGISTRY/TERM"
                .into(),
        ));
    }
    let ep = client.endpoint(domain).await?;
    let repo = client.repository_at(ep, "", creds, false).await?;
    let r = repo
        .send(Method::GET, "/v2/_catalog?n=10000", &[], None)
        .await?;
    if !r.status().is_success() {
        return Err(repo
            .fail(&format!("the catalog of {domain} (search)"), r)
            .await);
    }
    let body = transport::read_body(r.into_body(), 32 << 20).await?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| Error::Registry(format!("catalog: {e}")))?;
    let mut out = Vec::new();
    for name in v["repositories"].as_array().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        if !name.contains(term) {
            continue;
        }
        out.push(json!({
            "name": format!("{domain}/{name}"),
            "description": "",
            "star_count": 0,
            "is_official": false,
            "is_automated": false,
        }));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The descriptor `reference` resolves to and the platforms it offers, as dockerd's
/// `GET /distribution/{name}/json` answers.
pub async fn inspect(
    client: &Arc<Client>,
    reference: &Reference,
    creds: Option<Credentials>,
) -> Result<Value> {
    let repo = client
        .repository(&reference.domain, &reference.path, creds, false)
        .await?;
    let name = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let f = manifest::fetch(&repo, &name, &reference.to_string()).await?;
    let platforms: Vec<Value> = if oci::is_index(&f.media_type) {
        let index: oci::Index = serde_json::from_slice(&f.bytes)
            .map_err(|e| Error::InvalidManifest(format!("index {}: {e}", f.digest)))?;
        index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .map(|p| serde_json::to_value(p).unwrap_or_default())
            .collect()
    } else {
        let m = manifest::parse_manifest(&f)?;
        let r = repo
            .send(
                Method::GET,
                &repo.url(&format!("blobs/{}", m.config.digest)),
                &[],
                None,
            )
            .await?;
        if !r.status().is_success() {
            return Err(repo.fail("config", r).await);
        }
        let body = transport::read_body(r.into_body(), 16 << 20).await?;
        let c: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::InvalidManifest(format!("config: {e}")))?;
        let mut p = json!({
            "architecture": c["architecture"].as_str().unwrap_or(""),
            "os": c["os"].as_str().unwrap_or(""),
        });
        if let Some(v) = c["variant"].as_str() {
            p["variant"] = json!(v);
        }
        vec![p]
    };
    Ok(json!({
        "Descriptor": {
            "mediaType": f.media_type,
            "digest": f.digest.to_string(),
            "size": f.bytes.len(),
        },
        "Platforms": platforms,
    }))
}
