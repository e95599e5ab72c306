//! Manifests and indexes as a registry serves them: fetched with every media type Berth
//! understands in `Accept`, verified against the digest asked for (or the one the registry
//! states), parsed strictly, and an index resolved to one platform.

use berth_content::Digest;
use berth_image::oci::{self, Descriptor, Index, Manifest};
use berth_image::platform::Platform;
use bytes::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::Method;

use crate::error::{Error, Result};
use crate::registry::Repository;
use crate::transport;

/// Every manifest type a pull accepts, most preferred first.
pub const ACCEPT_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";

/// Largest manifest accepted (distribution's own limit).
pub const MAX_MANIFEST: usize = 4 << 20;

/// Docker's legacy config media type.
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const MEDIA_DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// A fetched, verified manifest document.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Bytes,
}

/// Fetches the manifest `reference` (a tag or `sha256:` digest) of `repo`.
pub async fn fetch(repo: &Repository, reference: &str, what: &str) -> Result<Fetched> {
    let r = repo
        .send(
            Method::GET,
            &repo.url(&format!("manifests/{reference}")),
            &[(ACCEPT.as_str(), ACCEPT_TYPES.to_string())],
            None,
        )
        .await?;
    if !r.status().is_success() {
        return Err(repo.fail(&format!("manifest for {what}"), r).await);
    }
    let header_type = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let stated = r
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = transport::read_body(r.into_body(), MAX_MANIFEST).await?;
    let digest = Digest::of(&bytes);
    let expected = if reference.starts_with("sha256:") {
        Some(reference.to_string())
    } else {
        stated.filter(|s| s.starts_with("sha256:"))
    };
    if let Some(exp) = expected {
        if exp != digest.as_str() {
            return Err(Error::DigestMismatch {
                expected: exp,
                actual: digest.to_string(),
            });
        }
    }
    let media_type = media_type_of(&bytes, &header_type)?;
    Ok(Fetched {
        digest,
        media_type,
        bytes,
    })
}

/// The document's media type: its own `mediaType` field, else the response's content type
/// (OCI documents may omit the field).
fn media_type_of(bytes: &[u8], header: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidManifest(format!("manifest is not JSON: {e}")))?;
    let own = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    let mt = if own.is_empty() { header } else { own };
    let mt = if mt.is_empty() || mt == "application/json" {
        // An OCI document without a media type: tell index from manifest by shape.
        if v.get("manifests").is_some() {
            oci::MEDIA_OCI_INDEX
        } else {
            oci::MEDIA_OCI_MANIFEST
        }
    } else {
        mt
    };
    match mt {
        oci::MEDIA_DOCKER_MANIFEST
        | oci::MEDIA_OCI_MANIFEST
        | oci::MEDIA_DOCKER_LIST
        | oci::MEDIA_OCI_INDEX => Ok(mt.to_string()),
        other => Err(Error::UnsupportedMediaType(format!(
            "{other:?} (schema 1 manifests and other types are not supported)"
        ))),
    }
}

/// Parses an image manifest and checks what a pull relies on.
pub fn parse_manifest(f: &Fetched) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(&f.bytes)
        .map_err(|e| Error::InvalidManifest(format!("manifest {}: {e}", f.digest)))?;
    if m.schema_version != 2 {
        return Err(Error::InvalidManifest(format!(
            "manifest {}: schemaVersion {}, expected 2",
            f.digest, m.schema_version
        )));
    }
    check_descriptor(&m.config)?;
    match m.config.media_type.as_str() {
        MEDIA_DOCKER_CONFIG | oci::MEDIA_OCI_CONFIG | "" => {}
        other => {
            return Err(Error::UnsupportedMediaType(format!(
                "{other:?} for a config"
            )))
        }
    }
    for l in &m.layers {
        check_descriptor(l)?;
        match l.media_type.as_str() {
            MEDIA_DOCKER_LAYER
            | oci::MEDIA_OCI_LAYER
            | oci::MEDIA_OCI_LAYER_GZIP
            | oci::MEDIA_OCI_LAYER_ZSTD
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | MEDIA_DOCKER_FOREIGN => {}
            other => {
                return Err(Error::UnsupportedMediaType(format!(
                    "{other:?} for a layer"
                )));
            }
        }
        if l.media_type == MEDIA_DOCKER_FOREIGN {
            return Err(Error::NotImplemented(
                "foreign (non-distributable) layers are not supported".into(),
            ));
        }
    }
    Ok(m)
}

fn check_descriptor(d: &Descriptor) -> Result<()> {
    Digest::parse(&d.digest)
        .map_err(|_| Error::InvalidManifest(format!("invalid digest {:?}", d.digest)))?;
    if d.size < 0 {
        return Err(Error::InvalidManifest(format!(
            "negative size for {}",
            d.digest
        )));
    }
    Ok(())
}

/// Picks the manifest for `want` from an index: same OS and architecture, the variant asked
/// for (or the host's usual one), attestations skipped.
pub fn choose(f: &Fetched, want: &Platform) -> Result<Descriptor> {
    let index: Index = serde_json::from_slice(&f.bytes)
        .map_err(|e| Error::InvalidManifest(format!("index {}: {e}", f.digest)))?;
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            !d.annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
        })
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .collect();
    let default_variant = match want.architecture.as_str() {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    };
    let variant_of = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
    let chosen = match &want.variant {
        Some(v) => candidates
            .iter()
            .find(|d| variant_of(d).as_deref() == Some(v.as_str()))
            .or_else(|| {
                // arm64 images usually leave out their (only) variant v8.
                (v == "v8")
                    .then(|| candidates.iter().find(|d| variant_of(d).is_none()))
                    .flatten()
            }),
        None => candidates
            .iter()
            .find(|d| variant_of(d).is_none() || variant_of(d).as_deref() == default_variant)
            .or_else(|| candidates.first()),
    };
    let chosen = chosen.ok_or_else(|| {
        let mut p = format!("{}/{}", want.os, want.architecture);
        if let Some(v) = &want.variant {
            p.push('/');
            p.push_str(v);
        }
        Error::NoMatchingPlatform(format!(
            "no matching manifest for {p} in the manifest list entries"
        ))
    })?;
    check_descriptor(chosen)?;
    Ok((*chosen).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, Option<&str>, &str)]) -> Fetched {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(arch, variant, hex)| {
                let mut p = serde_json::json!({"os": "linux", "architecture": arch});
                if let Some(v) = variant {
                    p["variant"] = serde_json::json!(v);
                }
                serde_json::json!({
                    "mediaType": oci::MEDIA_OCI_MANIFEST,
                    "digest": format!("sha256:{}", hex.repeat(64)),
                    "size": 10,
                    "platform": p,
                })
            })
            .collect();
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": oci::MEDIA_OCI_INDEX, "manifests": manifests
        }))
        .unwrap();
        Fetched {
            digest: Digest::of(&bytes),
            media_type: oci::MEDIA_OCI_INDEX.into(),
            bytes: bytes.into(),
        }
    }

    #[test]
    fn platforms_and_variants_resolve() {
        let f = index(&[
            ("amd64", None, "a"),
            ("arm", Some("v6"), "b"),
            ("arm", Some("v7"), "c"),
            ("arm64", Some("v8"), "d"),
        ]);
        let pick = |s: &str| choose(&f, &Platform::parse(s).unwrap()).unwrap().digest;
        assert!(pick("linux/amd64").ends_with("aaaa"));
        assert!(pick("linux/arm/v6").ends_with("bbbb"));
        assert!(pick("linux/arm").ends_with("cccc"));
        assert!(pick("linux/arm64").ends_with("dddd"));
        let e = choose(&f, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert!(e
            .to_string()
            .contains("no matching manifest for linux/s390x"));
    }

    #[test]
    fn unknown_media_types_are_refused() {
        assert!(media_type_of(br#"{"mediaType":"text/plain"}"#, "").is_err());
        assert!(media_type_of(
            br#"{"schemaVersion":1}"#,
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        )
        .is_err());
        assert_eq!(
            media_type_of(br#"{"manifests":[]}"#, "").unwrap(),
            oci::MEDIA_OCI_INDEX
        );
    }
}
