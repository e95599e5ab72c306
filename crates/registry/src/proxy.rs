//! Pull-through cache ("accelerator"): repositories under a configured prefix mirror an upstream
//! registry. Several upstreams can be served at once, the longest matching prefix winning (the
//! reference registry has exactly one: distribution#3423).
//!
//! * A manifest asked for by tag is fetched from upstream, verified, stored and tagged locally;
//!   within the TTL the local copy is served without asking upstream, after it upstream is asked
//!   again. If upstream is unreachable a stale local copy is still served.
//! * A manifest asked for by digest, or a blob, is fetched once (concurrent requests for the same
//!   digest wait for the one fetch), verified against its digest, stored, and then always served
//!   locally.
//! * Tags are listed from upstream (locally if it cannot be reached).
//!
//! Upstream credentials, when configured, are used for basic auth or to obtain bearer tokens from
//! the upstream's token realm. Only `http://` upstreams are spoken to (TLS upstreams: not yet).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use berth_content::Digest;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::body;
use crate::config::{parse_duration, ProxyRemote};
use crate::error::{Error, Result};
use crate::manifests::{self, ACCEPT as MANIFEST_TYPES};
use crate::names::Reference;
use crate::server::Registry;

pub(crate) struct Proxies {
    upstreams: Vec<Upstream>,
}

impl Proxies {
    pub(crate) fn new(remotes: &[ProxyRemote]) -> Result<Proxies> {
        let upstreams = remotes
            .iter()
            .map(Upstream::new)
            .collect::<Result<Vec<_>>>()?;
        Ok(Proxies { upstreams })
    }

    /// The upstream that mirrors repository `name`, if any (longest prefix first).
    pub(crate) fn upstream_for(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| name.starts_with(&u.prefix))
    }
}

pub(crate) struct Upstream {
    prefix: String,
    authority: String,
    credentials: Option<(String, String)>,
    ttl: Duration,
    /// Bearer tokens by scope, with when they stop being usable.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// When each `repo:tag` was last confirmed with upstream.
    checked: Mutex<HashMap<String, Instant>>,
    /// One fetch per digest at a time.
    fetching: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

/// Upstream responses to a manifest request larger than this are refused.
const MAX_MANIFEST: usize = 4 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);

fn upstream_err(e: impl std::fmt::Display) -> Error {
    Error::Upstream(e.to_string())
}

impl Upstream {
    fn new(r: &ProxyRemote) -> Result<Upstream> {
        let uri: Uri = r
            .remoteurl
            .parse()
            .map_err(|e| Error::Internal(format!("proxy remoteurl {:?}: {e}", r.remoteurl)))?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::Internal(format!(
                "proxy remoteurl {:?}: only http:// upstreams are supported",
                r.remoteurl
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| Error::Internal("proxy remoteurl has no host".into()))?
            .to_string();
        let credentials = match (&r.username, &r.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        Ok(Upstream {
            prefix: r.prefix.clone(),
            authority,
            credentials,
            ttl: parse_duration(&r.ttl)?,
            tokens: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        })
    }

    fn remote_name<'a>(&self, name: &'a str) -> &'a str {
        &name[self.prefix.len()..]
    }

    /// One request on a fresh connection (upstream requests are few: once per blob).
    async fn raw(&self, authority: &str, req: Request<Empty<Bytes>>) -> Result<Response<Incoming>> {
        let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(authority))
            .await
            .map_err(|_| upstream_err("connect timed out"))?
            .map_err(upstream_err)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(upstream_err)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        tokio::time::timeout(TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| upstream_err("upstream timed out"))?
            .map_err(upstream_err)
    }

    fn build(&self, path: &str, auth: Option<&str>) -> Result<Request<Empty<Bytes>>> {
        let mut b = Request::get(path)
            .header(HOST, &self.authority)
            .header(ACCEPT, MANIFEST_TYPES);
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        b.body(Empty::new())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// GETs `path` upstream, answering an auth challenge once.
    async fn get(&self, path: &str, scope: &str) -> Result<Response<Incoming>> {
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(scope)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| format!("Bearer {t}"));
        let r = self
            .raw(&self.authority, self.build(path, cached.as_deref())?)
            .await?;
        if r.status() != 401 {
            return Ok(r);
        }
        let challenge = r
            .headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
            format!("Bearer {}", self.token(&challenge, scope).await?)
        } else {
            let (u, p) = self
                .credentials
                .as_ref()
                .ok_or_else(|| upstream_err("upstream wants credentials"))?;
            format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
        };
        self.raw(&self.authority, self.build(path, Some(&auth))?)
            .await
    }

    /// Obtains a bearer token from the realm of `challenge`.
    async fn token(&self, challenge: &str, scope: &str) -> Result<String> {
        let param = |key: &str| {
            let pat = format!("{key}=\"");
            let start = challenge.find(&pat)? + pat.len();
            let end = challenge[start..].find('"')? + start;
            Some(challenge[start..end].to_string())
        };
        let realm: Uri = param("realm")
            .ok_or_else(|| upstream_err("bearer challenge without realm"))?
            .parse()
            .map_err(upstream_err)?;
        if realm.scheme_str() != Some("http") {
            return Err(upstream_err("token realm is not http://"));
        }
        let authority = realm
            .authority()
            .ok_or_else(|| upstream_err("token realm without host"))?
            .to_string();
        let query = {
            let mut q = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = param("service") {
                q.append_pair("service", &s);
            }
            q.append_pair("scope", scope);
            q.finish()
        };
        let path = format!("{}?{query}", realm.path());
        let mut b = Request::get(path).header(HOST, &authority);
        if let Some((u, p)) = &self.credentials {
            b = b.header(
                AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
            );
        }
        let r = self
            .raw(
                &authority,
                b.body(Empty::new())
                    .map_err(|e| Error::Internal(e.to_string()))?,
            )
            .await?;
        if !r.status().is_success() {
            return Err(upstream_err(format!(
                "token endpoint answered {}",
                r.status()
            )));
        }
        let bytes = body::read_limited(r.into_body(), 1 << 20, TIMEOUT, || {
            upstream_err("token too large")
        })
        .await?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(upstream_err)?;
        let token = v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .ok_or_else(|| upstream_err("token response without token"))?
            .to_string();
        let life = v["expires_in"].as_u64().unwrap_or(60).max(10);
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                scope.to_string(),
                (
                    token.clone(),
                    Instant::now() + Duration::from_secs(life - 5),
                ),
            );
        Ok(token)
    }

    /// The manifest for `reference`, from the local copy or upstream; returns its digest and
    /// media type, stored locally.
    pub(crate) async fn manifest(
        &self,
        reg: &Registry,
        name: &str,
        reference: &Reference,
    ) -> Result<(Digest, String)> {
        let local = manifests::resolve(reg, name, reference);
        let key = format!("{name}:{reference:?}");
        match (reference, &local) {
            (Reference::Digest(_), Ok(found)) => return Ok(found.clone()),
            (Reference::Tag(_), Ok(found)) => {
                let fresh = self
                    .checked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                    .is_some_and(|t| t.elapsed() < self.ttl);
                if fresh {
                    return Ok(found.clone());
                }
            }
            _ => {}
        }
        let shown = match reference {
            Reference::Tag(t) => t.clone(),
            Reference::Digest(d) => d.to_string(),
        };
        let remote = self.remote_name(name);
        let path = format!("/v2/{remote}/manifests/{shown}");
        let scope = format!("repository:{remote}:pull");
        let fetched = async {
            let r = self.get(&path, &scope).await?;
            if r.status() == 404 {
                return Err(Error::ManifestUnknown(json!({ "reference": shown })));
            }
            if !r.status().is_success() {
                return Err(upstream_err(format!("upstream answered {}", r.status())));
            }
            let mt = r
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
                .unwrap_or_default();
            let bytes = body::read_limited(r.into_body(), MAX_MANIFEST, TIMEOUT, || {
                Error::ManifestTooLarge(MAX_MANIFEST)
            })
            .await?;
            Ok((mt, bytes))
        }
        .await;
        let (mt, bytes) = match fetched {
            Ok(x) => x,
            // Upstream down: a stale copy beats no copy.
            Err(Error::Upstream(why)) => {
                tracing::warn!(name, %shown, "upstream unavailable, serving the local copy: {why}");
                return local.map_err(|_| Error::Upstream(why));
            }
            Err(e) => return Err(e),
        };
        let digest = Digest::of(&bytes);
        if let Reference::Digest(d) = reference {
            if *d != digest {
                return Err(upstream_err(format!("upstream sent {digest} for {d}")));
            }
        }
        let mt = if mt.is_empty() || mt == "application/json" {
            serde_json::from_slice::<manifests::Manifest>(&bytes)
                .ok()
                .and_then(|m| m.media_type)
                .unwrap_or_else(|| manifests::OCI_MANIFEST.to_string())
        } else {
            mt
        };
        let _gate = reg.gc.hold().await;
        reg.store.write_blob(&bytes, Some(&digest))?;
        reg.repos.link_revision(name, &digest, &mt)?;
        if let Reference::Tag(t) = reference {
            reg.repos.set_tag(name, t, &digest)?;
        }
        reg.gc.touch(&digest);
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Instant::now());
        Ok((digest, mt))
    }

    /// Makes blob `digest` present locally in repository `name`, fetching it if needed.
    pub(crate) async fn fetch_blob(
        &self,
        reg: &Registry,
        name: &str,
        digest: &Digest,
    ) -> Result<()> {
        let lock = self
            .fetching
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.clone())
            .or_default()
            .clone();
        let _one = lock.lock().await;
        let result = self.fetch_blob_once(reg, name, digest).await;
        let mut map = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) <= 2 {
            map.remove(digest);
        }
        result
    }

    async fn fetch_blob_once(&self, reg: &Registry, name: &str, digest: &Digest) -> Result<()> {
        if reg.store.exists(digest) {
            let _gate = reg.gc.hold().await;
            if reg.store.exists(digest) {
                reg.repos.link_layer(name, digest)?;
                reg.gc.touch(digest);
                return Ok(());
            }
        }
        let remote = self.remote_name(name);
        let r = self
            .get(
                &format!("/v2/{remote}/blobs/{digest}"),
                &format!("repository:{remote}:pull"),
            )
            .await?;
        if r.status() == 404 {
            return Err(Error::BlobUnknown(json!({ "digest": digest })));
        }
        if !r.status().is_success() {
            return Err(upstream_err(format!("upstream answered {}", r.status())));
        }
        let mut writer = Some(
            reg.store
                .writer(&format!("proxy-{digest}-{:x}", rand::random::<u64>()))?,
        );
        body::write_to(r.into_body(), &mut writer, TIMEOUT)
            .await
            .map_err(|e| upstream_err(format!("blob from upstream: {e}")))?;
        let writer = writer.ok_or_else(|| Error::Internal("writer lost".into()))?;
        crate::uploads::commit(reg, name, writer, digest)
            .await
            .map_err(|e| upstream_err(format!("blob from upstream: {e}")))
    }

    /// The upstream's tags of the mirrored repository (the local ones if upstream fails).
    pub(crate) async fn tags(&self, name: &str, reg: &Registry) -> Result<Vec<String>> {
        let remote = self.remote_name(name);
        let fetched = async {
            let r = self
                .get(
                    &format!("/v2/{remote}/tags/list"),
                    &format!("repository:{remote}:pull"),
                )
                .await?;
            if r.status() == 404 {
                return Err(Error::NameUnknown(name.to_string()));
            }
            if !r.status().is_success() {
                return Err(upstream_err(format!("upstream answered {}", r.status())));
            }
            let bytes = body::read_limited(r.into_body(), 16 << 20, TIMEOUT, || {
                upstream_err("tag list too large")
            })
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(upstream_err)?;
            let mut tags: Vec<String> = v["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            tags.sort();
            Ok(tags)
        }
        .await;
        match fetched {
            Err(Error::Upstream(why)) => reg.repos.tags(name).ok_or(Error::Upstream(why)),
            other => other,
        }
    }
}
