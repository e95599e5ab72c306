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
//! the upstream's token realm. Upstreams and realms may be `http://` or `https://` (verified against
//! the configured CA file, else the system bundle).

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
    /// Whether the upstream is spoken to over TLS.
    tls: bool,
    /// For TLS upstreams and token realms: trusts the configured CA, else the system's.
    connector: Option<tokio_rustls::TlsConnector>,
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
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Error::Internal(format!(
                    "proxy remoteurl {:?}: http:// or https:// expected",
                    r.remoteurl
                )))
            }
        };
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
            tls,
            connector: connector(r.ca.as_deref())?,
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
    async fn raw(
        &self,
        tls: bool,
        authority: &str,
        req: Request<Empty<Bytes>>,
    ) -> Result<Response<Incoming>> {
        // The authority may omit the port; its host (without IPv6 brackets) names the server
        // for TLS.
        let auth: hyper::http::uri::Authority = authority.parse().map_err(upstream_err)?;
        let port = auth.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let stream = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| upstream_err("connect timed out"))?
        .map_err(upstream_err)?;
        if !tls {
            return send(TokioIo::new(stream), req).await;
        }
        let connector = self
            .connector
            .as_ref()
            .ok_or_else(|| upstream_err("no CA certificates to verify the upstream with"))?;
        let name = rustls::pki_types::ServerName::try_from(host).map_err(upstream_err)?;
        let stream = tokio::time::timeout(TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| upstream_err("TLS handshake timed out"))?
            .map_err(upstream_err)?;
        send(TokioIo::new(stream), req).await
    }

    fn build(
        &self,
        method: &hyper::Method,
        path: &str,
        auth: Option<&str>,
    ) -> Result<Request<Empty<Bytes>>> {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
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
        self.request(&hyper::Method::GET, path, scope).await
    }

    /// Sends `method path` upstream, answering an auth challenge once.
    async fn request(
        &self,
        method: &hyper::Method,
        path: &str,
        scope: &str,
    ) -> Result<Response<Incoming>> {
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(scope)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| format!("Bearer {t}"));
        let r = self
            .raw(
                self.tls,
                &self.authority,
                self.build(method, path, cached.as_deref())?,
            )
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
        self.raw(
            self.tls,
            &self.authority,
            self.build(method, path, Some(&auth))?,
        )
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
        let realm_tls = match realm.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(upstream_err("token realm is not an http(s) URL")),
        };
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
                realm_tls,
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
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        // One token per scope; upstreams may grant scopes for any name asked, so expired ones
        // are dropped as the map grows.
        if tokens.len() >= 1024 {
            let now = Instant::now();
            tokens.retain(|_, (_, until)| *until > now);
        }
        tokens.insert(
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
        let lock = self.fetch_lock(digest);
        let one = lock.lock().await;
        let result = self.fetch_blob_once(reg, name, digest).await;
        drop(one);
        self.fetch_done(digest, &lock);
        result
    }

    fn fetch_lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        // Entries normally leave through `fetch_done`; a request dropped mid-way (client gone,
        // upstream error) may leave one behind, so unused entries are swept as the map grows.
        if map.len() >= 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(digest.clone()).or_default().clone()
    }

    fn fetch_done(&self, digest: &Digest, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(lock) <= 2 {
            map.remove(digest);
        }
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

    /// The size of blob `digest` upstream, asked with `HEAD` (nothing is downloaded: a client
    /// checking for a blob should not make the mirror fetch it).
    pub(crate) async fn blob_size(&self, name: &str, digest: &Digest) -> Result<u64> {
        let remote = self.remote_name(name);
        let r = self
            .request(
                &hyper::Method::HEAD,
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
        r.headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| upstream_err("upstream HEAD without Content-Length"))
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

async fn send<I>(io: I, req: Request<Empty<Bytes>>) -> Result<Response<Incoming>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
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

/// Debian's (and most distributions') bundle of trusted CAs.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A TLS client trusting `ca` (PEM) if given, else the system bundle; `None` if neither exists.
fn connector(ca: Option<&std::path::Path>) -> Result<Option<tokio_rustls::TlsConnector>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let path = match ca {
        Some(p) => p.to_path_buf(),
        None if std::path::Path::new(SYSTEM_CAS).is_file() => SYSTEM_CAS.into(),
        None => return Ok(None),
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| Error::Internal(format!("CA file {}: {e}", path.display())))?;
    for c in certs.flatten() {
        // One unusable certificate in a system bundle must not disable the rest.
        let _ = roots.add(c);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        cfg,
    ))))
}

/// Serves a blob missing locally by streaming it from upstream to this client while storing it,
/// so the first pull of a large layer starts at once. The stored copy is committed (digest
/// verified) before the last bytes are released to the client: a corrupt upstream blob ends
/// the response in an error instead of completing. `None` when another request is already
/// fetching the digest: the caller then waits for that fetch and serves the stored copy.
pub(crate) async fn stream_blob(
    reg: &Arc<Registry>,
    name: &str,
    digest: &Digest,
) -> Result<Option<crate::server::Resp>> {
    use hyper::header::CONTENT_LENGTH;
    let Some(up) = reg.proxy.upstream_for(name) else {
        return Ok(None);
    };
    let lock = up.fetch_lock(digest);
    let Ok(guard) = lock.clone().try_lock_owned() else {
        return Ok(None);
    };
    let remote = up.remote_name(name);
    let r = up
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
    let len = r
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let writer = reg
        .store
        .writer(&format!("proxy-{digest}-{:x}", rand::random::<u64>()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (reg2, name2, digest2) = (reg.clone(), name.to_string(), digest.clone());
    tokio::spawn(async move {
        let outcome = tee(&reg2, &name2, &digest2, r.into_body(), writer, &tx).await;
        if let Err(e) = outcome {
            tracing::warn!(name = %name2, digest = %digest2, "pull-through fetch: {e}");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
        drop(guard);
        if let Some(up) = reg2.proxy.upstream_for(&name2) {
            up.fetch_done(&digest2, &lock);
        }
    });
    let mut b = crate::server::resp(200)
        .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
        .header("Docker-Content-Digest", digest.as_str());
    if let Some(n) = len {
        b = b.header(CONTENT_LENGTH, n);
    }
    let body = body::ChannelBody { rx, remaining: len };
    b.body(http_body_util::BodyExt::boxed(body))
        .map(Some)
        .map_err(crate::server::http_err)
}

/// Copies the upstream body into the store and to the client (while it listens).
async fn tee(
    reg: &Registry,
    name: &str,
    digest: &Digest,
    mut upstream: Incoming,
    writer: berth_content::Writer,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<()> {
    use http_body_util::BodyExt;
    let mut writer = Some(writer);
    let mut buf = Vec::with_capacity(2 * body::SLICE);
    let mut held: Option<Bytes> = None;
    let mut listening = true;
    loop {
        let frame = match tokio::time::timeout(TIMEOUT, upstream.frame()).await {
            Err(_) => return Err(upstream_err("upstream stalled")),
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(upstream_err)?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        if buf.len() >= body::SLICE {
            body::flush(&mut writer, &mut buf).await?;
        }
        // One frame is held back until the blob is verified.
        if let Some(prev) = held.replace(data) {
            if listening && tx.send(Ok(prev)).await.is_err() {
                // The client left; finish storing for the next one.
                listening = false;
            }
        }
    }
    body::flush(&mut writer, &mut buf).await?;
    let writer = writer.ok_or_else(|| Error::Internal("writer lost".into()))?;
    crate::uploads::commit(reg, name, writer, digest).await?;
    if let (Some(last), true) = (held, listening) {
        let _ = tx.send(Ok(last)).await;
    }
    Ok(())
}
