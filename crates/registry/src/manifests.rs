//! Manifests (Docker schema 2 manifests and lists, OCI manifests and indexes): `GET`/`HEAD` by
//! tag or digest, `PUT` with validation, `DELETE` of a tag or a whole revision, and the OCI
//! referrers API (manifests whose `subject` is a given digest).

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_content::Digest;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::Request;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body;
use crate::error::{Error, Result};
use crate::names::{self, Reference};
use crate::server::{empty, full, http_err, query, query_get, resp, Registry, Resp};

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Every manifest media type Berth stores; clients may ask for any of them.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The fields of a manifest or index that the registry looks at. Everything else is kept as
/// the client sent it (the stored bytes are the pushed bytes).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub schema_version: Option<i64>,
    pub media_type: Option<String>,
    pub artifact_type: Option<String>,
    pub config: Option<Descriptor>,
    pub layers: Option<Vec<Descriptor>>,
    pub manifests: Option<Vec<Descriptor>>,
    pub subject: Option<Descriptor>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: Option<String>,
    pub digest: String,
    pub size: i64,
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Manifest {
    /// Blobs that must be present for the manifest to be accepted, and child manifests.
    pub(crate) fn references(&self) -> Result<(Vec<Digest>, Vec<Digest>)> {
        let parse = |d: &Descriptor| {
            if d.size < 0 {
                return Err(Error::ManifestInvalid(format!(
                    "negative size for {}",
                    d.digest
                )));
            }
            Digest::parse(&d.digest)
                .map_err(|_| Error::ManifestInvalid(format!("invalid digest {:?}", d.digest)))
        };
        let mut blobs = Vec::new();
        if let Some(c) = &self.config {
            blobs.push(parse(c)?);
        }
        for l in self.layers.iter().flatten() {
            let d = parse(l)?;
            // Foreign (non-distributable) layers live elsewhere, named by `urls`.
            let foreign = !l.urls.is_empty()
                || l.media_type
                    .as_deref()
                    .is_some_and(|m| m.contains("foreign") || m.contains("nondistributable"));
            if !foreign {
                blobs.push(d);
            }
        }
        let mut children = Vec::new();
        for m in self.manifests.iter().flatten() {
            children.push(parse(m)?);
        }
        Ok((blobs, children))
    }
}

/// Media type without parameters, lowercased.
fn base_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decides a pushed manifest's media type from its `Content-Type` and body, and checks its shape.
fn classify(content_type: Option<&str>, m: &Manifest) -> Result<String> {
    let ct = content_type.map(base_type).filter(|c| !c.is_empty());
    let body_type = m.media_type.as_deref();
    let mt = match (ct.as_deref(), body_type) {
        (Some(ct), Some(bt)) if ct != "application/json" && ct != bt => {
            return Err(Error::ManifestInvalid(format!(
                "Content-Type {ct} does not match mediaType {bt}"
            )))
        }
        (Some(ct), _) if ct != "application/json" => ct.to_string(),
        (_, Some(bt)) => bt.to_string(),
        // An OCI document may omit mediaType; tell manifest from index by shape.
        _ if m.manifests.is_some() => OCI_INDEX.to_string(),
        _ if m.config.is_some() => OCI_MANIFEST.to_string(),
        _ => return Err(Error::ManifestInvalid("no media type".into())),
    };
    if mt.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(Error::ManifestInvalid(
            "schema 1 manifests are not supported".into(),
        ));
    }
    if m.schema_version != Some(2) {
        return Err(Error::ManifestInvalid("schemaVersion must be 2".into()));
    }
    match mt.as_str() {
        DOCKER_MANIFEST | OCI_MANIFEST => {
            if m.config.is_none() || m.manifests.is_some() {
                return Err(Error::ManifestInvalid(
                    "a manifest needs config and layers".into(),
                ));
            }
            if mt == DOCKER_MANIFEST && m.layers.is_none() {
                return Err(Error::ManifestInvalid("layers missing".into()));
            }
        }
        DOCKER_LIST | OCI_INDEX => {
            if m.manifests.is_none() || m.config.is_some() {
                return Err(Error::ManifestInvalid("an index needs manifests".into()));
            }
        }
        other => {
            return Err(Error::ManifestInvalid(format!(
                "unsupported manifest media type {other}"
            )))
        }
    }
    Ok(mt)
}

fn unknown(reference: &str) -> Error {
    Error::ManifestUnknown(json!({ "reference": reference }))
}

/// Finds a manifest of the repository: its digest and media type.
pub(crate) fn resolve(
    reg: &Registry,
    name: &str,
    reference: &Reference,
) -> Result<(Digest, String)> {
    let (digest, shown) = match reference {
        Reference::Tag(t) => {
            if !reg.repos.exists(name) {
                return Err(Error::NameUnknown(name.to_string()));
            }
            (reg.repos.tag(name, t).ok_or_else(|| unknown(t))?, t.clone())
        }
        Reference::Digest(d) => (d.clone(), d.to_string()),
    };
    let mt = reg
        .repos
        .revision_type(name, &digest)
        .ok_or_else(|| unknown(&shown))?;
    if !reg.store.exists(&digest) {
        return Err(unknown(&shown));
    }
    Ok((digest, mt))
}

/// The media types a request's `Accept` headers name (parameters dropped).
fn accepted(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(base_type)
        .filter(|t| !t.is_empty())
        .collect()
}

/// For a client that accepts single-image manifests but not this index (old Docker clients),
/// distribution 2.8 answers with the index's linux/amd64 image instead; so does Berth.
fn platform_fallback(
    reg: &Registry,
    name: &str,
    mt: &str,
    bytes: &[u8],
    accept: &[String],
) -> Option<(Digest, String, Vec<u8>)> {
    let is_index = mt == DOCKER_LIST || mt == OCI_INDEX;
    let single = accept
        .iter()
        .any(|a| a == DOCKER_MANIFEST || a == OCI_MANIFEST);
    if !is_index || !single || accept.iter().any(|a| a == mt || a == "*/*") {
        return None;
    }
    let index: Value = serde_json::from_slice(bytes).ok()?;
    let child = index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64" && m["platform"]["os"] == "linux")?;
    let d = Digest::parse(child["digest"].as_str()?).ok()?;
    let (d, cmt) = resolve(reg, name, &Reference::Digest(d)).ok()?;
    let b = reg.store.read_blob(&d, reg.max_manifest as u64).ok()?;
    Some((d, cmt, b))
}

pub(crate) async fn get(
    reg: &Arc<Registry>,
    name: &str,
    reference: &str,
    req: &Request<Incoming>,
    with_body: bool,
) -> Result<Resp> {
    let reference = Reference::parse(reference)?;
    let (digest, mt) = match reg.proxy.upstream_for(name) {
        Some(up) => up.manifest(reg, name, &reference).await?,
        None => resolve(reg, name, &reference)?,
    };
    let bytes = reg
        .store
        .read_blob(&digest, reg.max_manifest as u64)
        .map_err(|_| unknown(digest.as_str()))?;
    let (digest, mt, bytes) = match platform_fallback(reg, name, &mt, &bytes, &accepted(req)) {
        Some(x) => x,
        None => (digest, mt, bytes),
    };
    let b = resp(200)
        .header(CONTENT_TYPE, mt)
        .header(CONTENT_LENGTH, bytes.len())
        .header("Docker-Content-Digest", digest.as_str())
        .header("ETag", format!("\"{digest}\""));
    let body = if with_body { full(bytes) } else { empty() };
    b.body(body).map_err(http_err)
}

pub(crate) async fn put(
    reg: &Registry,
    name: &str,
    reference: &str,
    req: Request<Incoming>,
) -> Result<Resp> {
    let reference = Reference::parse(reference)?;
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = reg.max_manifest;
    let bytes = body::read_limited(req.into_body(), limit, reg.idle, || {
        Error::ManifestTooLarge(limit)
    })
    .await?;
    let digest = Digest::of(&bytes);
    if let Reference::Digest(d) = &reference {
        if *d != digest {
            return Err(Error::DigestInvalid(format!(
                "manifest digest is {digest}, not {d}"
            )));
        }
    }
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::ManifestInvalid(format!("malformed JSON: {e}")))?;
    let mt = classify(ct.as_deref(), &m)?;
    let (blobs, children) = m.references()?;
    let subject = match &m.subject {
        Some(s) => Some(names::parse_digest(&s.digest).map_err(|_| {
            Error::ManifestInvalid(format!("invalid subject digest {:?}", s.digest))
        })?),
        None => None,
    };

    // From the existence checks to the links, a sweep must not run: it could remove a blob
    // just found present.
    let _gate = reg.gc.hold().await;
    for b in &blobs {
        if !(reg.repos.has_layer(name, b) && reg.store.exists(b)) {
            return Err(Error::ManifestBlobUnknown(json!({ "digest": b })));
        }
    }
    for c in &children {
        if reg.repos.revision_type(name, c).is_none() || !reg.store.exists(c) {
            return Err(Error::ManifestBlobUnknown(json!({ "digest": c })));
        }
    }
    let (store, repos) = (reg.store.clone(), reg.repos.clone());
    let (n, d, t, mt2) = (
        name.to_string(),
        digest.clone(),
        reference.clone(),
        mt.clone(),
    );
    tokio::task::spawn_blocking(move || -> Result<()> {
        store.write_blob(&bytes, Some(&d))?;
        repos.link_revision(&n, &d, &mt2)?;
        if let Reference::Tag(t) = &t {
            repos.set_tag(&n, t, &d)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::Internal(format!("manifest task: {e}")))??;
    reg.gc.touch(&digest);
    for d in blobs.iter().chain(&children) {
        reg.gc.touch(d);
    }
    let mut b = resp(201)
        .header("Location", format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", digest.as_str())
        .header(CONTENT_LENGTH, 0);
    if let Some(s) = subject {
        b = b.header("OCI-Subject", s.as_str());
    }
    b.body(empty()).map_err(http_err)
}

pub(crate) async fn delete(reg: &Registry, name: &str, reference: &str) -> Result<Resp> {
    let reference = Reference::parse(reference)?;
    if !reg.config.storage.delete.enabled {
        return Err(Error::Unsupported("deletion is disabled".into()));
    }
    match &reference {
        Reference::Tag(t) => {
            if !reg.repos.remove_tag(name, t)? {
                return Err(unknown(t));
            }
        }
        Reference::Digest(d) => {
            if reg.repos.revision_type(name, d).is_none() {
                return Err(unknown(d.as_str()));
            }
            // Tags first, so that no tag ever names a revision that is gone.
            for t in reg.repos.tags(name).unwrap_or_default() {
                if reg.repos.tag(name, &t).as_ref() == Some(d) {
                    reg.repos.remove_tag(name, &t)?;
                }
            }
            reg.repos.unlink_revision(name, d)?;
        }
    }
    resp(202)
        .header(CONTENT_LENGTH, 0)
        .body(empty())
        .map_err(http_err)
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an OCI index of the repository's
/// manifests whose `subject` is `digest` (an empty index if there are none).
pub(crate) async fn referrers(
    reg: &Registry,
    name: &str,
    digest: &str,
    req: &Request<Incoming>,
) -> Result<Resp> {
    let subject = names::parse_digest(digest)?;
    let q = query(req);
    let filter = query_get(&q, "artifactType").map(str::to_string);
    let (store, repos, n, limit) = (
        reg.store.clone(),
        reg.repos.clone(),
        name.to_string(),
        reg.max_manifest as u64,
    );
    let mut found = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for d in repos.revisions(&n) {
            let Some(mt) = repos.revision_type(&n, &d) else {
                continue;
            };
            let Ok(bytes) = store.read_blob(&d, limit) else {
                continue;
            };
            let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
                continue;
            };
            if m.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject.as_str()) {
                continue;
            }
            let artifact_type = m
                .artifact_type
                .clone()
                .or_else(|| m.config.as_ref().and_then(|c| c.media_type.clone()));
            let mut desc = json!({ "mediaType": mt, "digest": d, "size": bytes.len() });
            if let Some(a) = &artifact_type {
                desc["artifactType"] = Value::String(a.clone());
            }
            if let Some(a) = &m.annotations {
                desc["annotations"] = json!(a);
            }
            out.push((artifact_type, desc));
        }
        out
    })
    .await
    .map_err(|e| Error::Internal(format!("referrers task: {e}")))?;
    if let Some(f) = &filter {
        found.retain(|(a, _)| a.as_deref() == Some(f.as_str()));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": found.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec(&index).map_err(|e| Error::Internal(e.to_string()))?;
    let mut b = resp(200)
        .header(CONTENT_TYPE, OCI_INDEX)
        .header(CONTENT_LENGTH, body.len());
    if filter.is_some() {
        b = b.header("OCI-Filters-Applied", "artifactType");
    }
    b.body(full(body)).map_err(http_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Manifest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn classification() {
        let d = Digest::of(b"x");
        let man = m(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "a", "digest": d, "size": 1}, "layers": []}));
        assert_eq!(classify(Some(OCI_MANIFEST), &man).unwrap(), OCI_MANIFEST);
        assert_eq!(classify(None, &man).unwrap(), OCI_MANIFEST);
        assert!(classify(Some(DOCKER_MANIFEST), &man).is_err());
        assert!(classify(
            Some("text/plain"),
            &m(json!({"schemaVersion": 2, "config": {"digest": d, "size": 1}}))
        )
        .is_err());
        let idx = m(json!({"schemaVersion": 2, "manifests": []}));
        assert_eq!(classify(None, &idx).unwrap(), OCI_INDEX);
        assert!(classify(Some(OCI_MANIFEST), &idx).is_err());
        let v1 = m(json!({"schemaVersion": 1}));
        assert!(classify(
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            &v1
        )
        .is_err());
        let bad = m(json!({"schemaVersion": 2, "config": {"digest": "sha256:zz", "size": 1}}));
        assert!(bad.references().is_err());
    }
}
