//! Registry verbs of the API: pull (`POST /images/create?fromImage=`), login (`POST /auth`),
//! and the registries' configuration from daemon.json.

use std::collections::{BTreeMap, HashMap};

use berth_api::backend::{ByteStream, PullOptions};
use berth_distribution::{Credentials, Error as DistError, RegistryConfig};
use berth_image::platform::Platform;
use berth_image::Reference;
use berth_types::api::EventMessageTypeEnum;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::Daemon;

/// Berth's daemon.json key for mirrors of any registry (Docker's `registry-mirrors` only
/// mirrors Docker Hub): `{"registry.example:5000": ["http://mirror:5000"]}`.
pub const MIRRORS_KEY: &str = "berth-registry-mirrors";

/// Takes the registry keys out of daemon.json's other keys and checks them.
pub(crate) fn registry_config(other: &mut BTreeMap<String, Value>) -> Result<RegistryConfig> {
    let strings = |key: &str, v: Value| -> Result<Vec<String>> {
        serde_json::from_value::<Vec<String>>(v)
            .map_err(|_| Error::Config(format!("{key} must be a list of strings")))
    };
    let mut cfg = RegistryConfig::default();
    if let Some(v) = other.remove("insecure-registries") {
        cfg.insecure = strings("insecure-registries", v)?;
    }
    if let Some(v) = other.remove("registry-mirrors") {
        let list = strings("registry-mirrors", v)?;
        for m in &list {
            check_mirror(m)?;
        }
        cfg.mirrors.insert("docker.io".into(), list);
    }
    if let Some(v) = other.remove(MIRRORS_KEY) {
        let map: BTreeMap<String, Vec<String>> = serde_json::from_value(v).map_err(|_| {
            Error::Config(format!(
                "{MIRRORS_KEY} must map registry hosts to lists of mirror URLs"
            ))
        })?;
        for (registry, list) in map {
            for m in &list {
                check_mirror(m)?;
            }
            let registry = if registry == "index.docker.io" {
                "docker.io".to_string()
            } else {
                registry
            };
            cfg.mirrors.entry(registry).or_default().extend(list);
        }
    }
    Ok(cfg)
}

fn check_mirror(m: &str) -> Result<()> {
    berth_distribution::Endpoint::from_url(m)
        .map(|_| ())
        .map_err(|_| Error::Config(format!("invalid mirror: {m:?} is not an http(s) URL")))
}

fn json_line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn error_line(msg: &str) -> Value {
    json!({ "errorDetail": { "message": msg }, "error": msg })
}

/// The reference a pull asks for: `fromImage` with `tag` (a tag or a digest) applied; `None`
/// as tag means every tag (`--all-tags`).
fn pull_reference(from_image: &str, tag: Option<&str>) -> Result<(Reference, bool)> {
    let invalid = |e: berth_image::Error| Error::InvalidArgument(e.to_string());
    let base = Reference::parse_bare(from_image).map_err(invalid)?;
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if base.tag.is_none() && base.digest.is_none() => {
            let s = if t.starts_with("sha256:") {
                format!("{from_image}@{t}")
            } else {
                format!("{from_image}:{t}")
            };
            Ok((Reference::parse_bare(&s).map_err(invalid)?, false))
        }
        _ if base.tag.is_some() || base.digest.is_some() => Ok((base, false)),
        _ => Ok((base, true)),
    }
}

impl Daemon {
    /// `POST /images/create?fromImage=`: errors found before the first progress line (bad
    /// reference, unknown manifest, unreachable registry) are returned; later ones travel in the
    /// stream as Docker's `errorDetail` messages.
    pub async fn pull_image(&self, opts: PullOptions) -> Result<ByteStream> {
        let (reference, all_tags) = pull_reference(&opts.from_image, opts.tag.as_deref())?;
        let platform = match opts.platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(Platform::parse(p)?),
            None => None,
        };
        let creds = match opts.auth.as_deref() {
            Some(h) => Credentials::from_header(h)?,
            None => None,
        };
        let tags = if all_tags {
            let mut tags = self.puller.tags(&reference, creds.clone()).await?;
            tags.sort();
            tags
        } else {
            Vec::new()
        };
        let references: Vec<Reference> = if all_tags {
            tags.iter()
                .map(|t| Reference {
                    tag: Some(t.clone()),
                    ..reference.clone()
                })
                .collect()
        } else {
            vec![reference.clone()]
        };
        let Some(first) = references.first() else {
            return Err(Error::Distribution(DistError::NotFound(format!(
                "repository {} has no tags",
                reference.familiar_repository()
            ))));
        };
        let plan = self
            .puller
            .resolve(first, platform.as_ref(), creds.clone())
            .await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let puller = self.puller.clone();
        let daemon = self
            .me
            .upgrade()
            .ok_or_else(|| Error::Internal("the daemon is shutting down".into()))?;
        tokio::spawn(async move {
            let mut plan = Some(plan);
            let mut newer = false;
            for r in &references {
                let p = match plan.take() {
                    Some(p) => Ok(p),
                    None => puller.resolve(r, platform.as_ref(), creds.clone()).await,
                };
                let result = match p {
                    Ok(p) => puller.run(p, &tx, !all_tags).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(pulled) => {
                        newer |= pulled.newer;
                        let name = r.familiar();
                        daemon.events.publish(
                            EventMessageTypeEnum::IMAGE,
                            "pull",
                            &name,
                            HashMap::from([("name".into(), name.clone())]),
                        );
                    }
                    Err(e) => {
                        let _ = tx.send(error_line(&e.to_string()));
                        return;
                    }
                }
            }
            if all_tags {
                let what = if newer {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                let _ = tx.send(json!({ "status": format!(
                    "Status: {what} {}",
                    reference.familiar_repository()
                )}));
            }
        });
        Ok(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|v| json_line(&v))
            .boxed())
    }

    /// `POST /images/{name}/push?tag=`: every tag of the repository when `tag` is `None`.
    /// A missing image is an error before the stream; registry errors travel in it.
    pub async fn push_image(
        &self,
        name: &str,
        tag: Option<String>,
        auth: Option<String>,
    ) -> Result<ByteStream> {
        let invalid = |e: berth_image::Error| Error::InvalidArgument(e.to_string());
        let base = Reference::parse_bare(name).map_err(invalid)?;
        let repository = base.repository();
        let tags: Vec<String> = match tag.or(base.tag.clone()) {
            Some(t) => vec![t],
            None => {
                let prefix = format!("{repository}:");
                let mut t: Vec<String> = self
                    .db
                    .list_tags()?
                    .into_iter()
                    .filter_map(|r| r.name.strip_prefix(&prefix).map(str::to_string))
                    .collect();
                t.sort();
                t
            }
        };
        if tags.is_empty() {
            return Err(DistError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                base.familiar_repository()
            ))
            .into());
        }
        let creds = match auth.as_deref() {
            Some(h) => Credentials::from_header(h)?,
            None => None,
        };
        // Resolve every tag first: a missing one is the caller's error, answered with a status.
        let cache = self.config.data_root.join("distribution").join("gzip");
        let mut jobs = Vec::new();
        for t in &tags {
            let r = Reference {
                tag: Some(t.clone()),
                digest: None,
                ..base.clone()
            };
            let rec = self.images.resolve(&r.to_string()).map_err(|_| {
                Error::from(DistError::NotFound(format!(
                    "An image does not exist locally with the tag: {}",
                    base.familiar_repository()
                )))
            })?;
            let manifest = rec
                .row
                .manifest
                .clone()
                .and_then(|m| berth_content::Digest::parse(&m).ok())
                .ok_or_else(|| {
                    Error::NotImplemented(format!(
                        "pushing image {} (it has no manifest in the store)",
                        rec.id
                    ))
                })?;
            let store = self.images.content().clone();
            let dir = cache.clone();
            let mut source = tokio::task::spawn_blocking(move || {
                berth_distribution::push::prepare(&store, &manifest, &dir)
            })
            .await
            .map_err(|e| Error::Internal(format!("push task: {e}")))??;
            source.mount_from = rec
                .repo_digests
                .iter()
                .filter_map(|n| Reference::parse_bare(n).ok())
                .filter(|n| n.domain == base.domain)
                .map(|n| n.path)
                .collect();
            jobs.push((t.clone(), rec.id.clone(), source));
        }
        let daemon = self
            .me
            .upgrade()
            .ok_or_else(|| Error::Internal("the daemon is shutting down".into()))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let shown = base.familiar_repository();
        tokio::spawn(async move {
            let _ = tx.send(json!({
                "status": format!("The push refers to repository [{}]", base.repository())
            }));
            let repo = match daemon
                .puller
                .client()
                .repository(&base.domain, &base.path, creds, true)
                .await
            {
                Ok(r) => std::sync::Arc::new(r),
                Err(e) => {
                    let _ = tx.send(error_line(&e.to_string()));
                    return;
                }
            };
            for (tag, id, source) in jobs {
                let content = daemon.images.content().clone();
                match berth_distribution::push(repo.clone(), &content, &tag, source, &tx).await {
                    Ok((digest, _)) => {
                        let _ = daemon.images.add_repo_digest(&repository, &digest, &id);
                        let name = format!("{shown}:{tag}");
                        daemon.events.publish(
                            EventMessageTypeEnum::IMAGE,
                            "push",
                            &name,
                            HashMap::from([("name".into(), name.clone())]),
                        );
                    }
                    Err(e) => {
                        let _ = tx.send(error_line(&e.to_string()));
                        return;
                    }
                }
            }
        });
        Ok(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|v| json_line(&v))
            .boxed())
    }

    /// `GET /distribution/{name}/json`.
    pub async fn inspect_distribution(&self, name: &str, auth: Option<String>) -> Result<Value> {
        let (reference, _) = pull_reference(name, None)?;
        let reference = if reference.tag.is_none() && reference.digest.is_none() {
            Reference {
                tag: Some("latest".into()),
                ..reference
            }
        } else {
            reference
        };
        let creds = match auth.as_deref() {
            Some(h) => Credentials::from_header(h)?,
            None => None,
        };
        Ok(berth_distribution::search::inspect(self.puller.client(), &reference, creds).await?)
    }

    /// `GET /images/search?term=`: `REGISTRY/TERM` searches that registry's catalog.
    pub async fn search_images(
        &self,
        term: &str,
        limit: Option<usize>,
        filters: berth_api::backend::Filters,
        auth: Option<String>,
    ) -> Result<Value> {
        let (domain, what) = match term.split_once('/') {
            Some((d, rest)) if d.contains(['.', ':']) || d == "localhost" => (d.to_string(), rest),
            _ => ("docker.io".to_string(), term),
        };
        let creds = match auth.as_deref() {
            Some(h) => Credentials::from_header(h)?,
            None => None,
        };
        let limit = limit.filter(|l| *l > 0).unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit {limit} is outside the range of [1, 100]"
            )));
        }
        let mut found =
            berth_distribution::search::search(self.puller.client(), &domain, what, limit, creds)
                .await?;
        // Catalog entries have no stars and are never official or automated.
        for (k, vals) in &filters {
            for v in vals {
                let keep = match k.as_str() {
                    "stars" => v.parse::<i64>().map(|n| n <= 0).unwrap_or(false),
                    "is-official" | "is-automated" => v == "false",
                    _ => return Err(Error::InvalidArgument(format!("invalid filter '{k}'"))),
                };
                if !keep {
                    found.clear();
                }
            }
        }
        Ok(Value::Array(found))
    }

    /// `POST /auth`: checks the credentials against the registry.
    pub async fn registry_login(&self, body: Value) -> Result<Value> {
        let s = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let server = s("serveraddress");
        let domain = registry_domain(&server);
        let creds = Credentials {
            username: s("username"),
            password: s("password"),
            identity_token: Some(s("identitytoken")).filter(|t| !t.is_empty()),
            registry_token: None,
        };
        self.puller.client().login(&domain, creds).await?;
        Ok(json!({ "Status": "Login Succeeded", "IdentityToken": "" }))
    }
}

/// The registry domain of a `serveraddress` (`https://index.docker.io/v1/` → `docker.io`).
pub(crate) fn registry_domain(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_follow_docker() {
        let (r, all) = pull_reference("busybox", Some("1.36")).unwrap();
        assert_eq!(
            (r.to_string().as_str(), all),
            ("docker.io/library/busybox:1.36", false)
        );
        let (r, all) = pull_reference("localhost:5000/a/b", None).unwrap();
        assert!(all);
        assert_eq!(r.tag, None);
        let d = format!("sha256:{}", "a".repeat(64));
        let (r, _) = pull_reference("x/y", Some(&d)).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(pull_reference("UPPER", Some("latest")).is_err());
    }

    #[test]
    fn registry_keys_are_taken_from_daemon_json() {
        let mut other: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"registry-mirrors":["http://m:5000"],"insecure-registries":["r:1"],
                "berth-registry-mirrors":{"r:1":["https://m2"]},"ip":"1.2.3.4"}"#,
        )
        .unwrap();
        let c = registry_config(&mut other).unwrap();
        assert_eq!(other.keys().collect::<Vec<_>>(), vec!["ip"]);
        assert_eq!(c.mirrors["docker.io"], vec!["http://m:5000"]);
        assert_eq!(c.mirrors["r:1"], vec!["https://m2"]);
        assert_eq!(c.insecure, vec!["r:1"]);
        let mut bad: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"registry-mirrors":["ftp://x"]}"#).unwrap();
        assert!(registry_config(&mut bad).is_err());
        assert_eq!(registry_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_domain("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
