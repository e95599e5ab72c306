//! The HTTP server: listener (plain or TLS), per-connection limits, routing of `/v2/` paths to the
//! resource modules, the common response headers, access logs and metrics.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use berth_content::Store;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::auth::{Access, Auth};
use crate::config::{parse_duration, Config};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::storage::Repos;
use crate::uploads::Uploads;
use crate::{blobs, catalog, gc, manifests, names, proxy, tags, uploads};

pub(crate) type Body = BoxBody<Bytes, io::Error>;
pub(crate) type Resp = Response<Body>;

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response builder with a status; every response also gets the API version header later.
pub(crate) fn resp(status: u16) -> hyper::http::response::Builder {
    Response::builder().status(status)
}

pub(crate) fn json_resp(status: u16, value: &serde_json::Value) -> Result<Resp> {
    let body = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
    resp(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .body(full(body))
        .map_err(http_err)
}

pub(crate) fn http_err(e: hyper::http::Error) -> Error {
    Error::Internal(e.to_string())
}

/// The decoded query string.
pub(crate) fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub(crate) fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A blob (or a range of one) streamed from disk in bounded chunks: each chunk is read with one
/// `pread` on the blocking pool straight into the buffer that is sent, and the next read starts
/// as soon as a chunk is handed to the connection, so disk and socket work overlap.
pub(crate) struct FileBody {
    file: Arc<std::fs::File>,
    offset: u64,
    remaining: u64,
    /// Bytes already asked of the disk beyond `offset` (by the read in flight).
    pending: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    pub(crate) fn new(file: std::fs::File, start: u64, len: u64) -> FileBody {
        FileBody {
            file: Arc::new(file),
            offset: start,
            remaining: len,
            pending: None,
        }
    }

    fn start_read(&mut self) {
        let want = self.remaining.min(CHUNK) as usize;
        let (file, offset) = (self.file.clone(), self.offset);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match file.read_at(&mut buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            Ok(Bytes::from(buf))
        }));
    }
}

const CHUNK: u64 = 256 * 1024;

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if self.pending.is_none() {
            self.start_read();
        }
        let Some(pending) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let data = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => Err(io::Error::other(e)),
            Poll::Ready(Ok(r)) => r,
        };
        self.pending = None;
        let data = match data {
            Ok(d) => d,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        if data.is_empty() {
            // The file shrank under us: end the body short rather than spin.
            self.remaining = 0;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob ended early",
            ))));
        }
        self.offset += data.len() as u64;
        self.remaining -= data.len() as u64;
        if self.remaining > 0 {
            // Read ahead while this chunk goes out.
            self.start_read();
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

impl Drop for FileBody {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.abort();
        }
    }
}

/// The registry's state, shared by every connection.
pub struct Registry {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) repos: Repos,
    pub(crate) uploads: Uploads,
    pub(crate) gc: gc::Gate,
    pub(crate) metrics: Metrics,
    pub(crate) auth: Option<Auth>,
    pub(crate) auth_failures: crate::ratelimit::FailureLimiter,
    pub(crate) proxy: proxy::Proxies,
    /// How long a connection may stall while sending headers or a body.
    pub(crate) idle: Duration,
    pub(crate) max_manifest: usize,
}

impl Registry {
    /// Opens the storage and loads credentials. Unfinished uploads of a previous run stay on disk
    /// until their clients come back or the purge age passes.
    pub fn open(config: Config) -> Result<Registry> {
        let root = config.root();
        std::fs::create_dir_all(&root).map_err(Error::io("create storage root"))?;
        let store = Store::open(&root)?;
        let repos = Repos::open(&root)?;
        let auth = Auth::load(&config.auth)?;
        let purge = &config.storage.maintenance.uploadpurging;
        let uploads = Uploads::new(parse_duration(&purge.age)?, purge.maxuploads);
        let proxy = proxy::Proxies::new(&config.upstreams())?;
        let gc = gc::Gate::new(parse_duration(&config.gc.grace)?);
        Ok(Registry {
            idle: parse_duration(&config.limits.idletimeout)?,
            max_manifest: config.limits.maxmanifestbytes,
            config,
            store,
            repos,
            uploads,
            gc,
            metrics: Metrics::default(),
            auth,
            auth_failures: Default::default(),
            proxy,
        })
    }

    /// Runs garbage collection now, while serving; with `dry_run` only reports; with
    /// `untagged` also removes manifests nothing tags or refers to.
    pub async fn collect_garbage(&self, dry_run: bool, untagged: bool) -> Result<gc::GcReport> {
        gc::collect(self, dry_run, untagged).await
    }

    pub(crate) fn read_only(&self) -> bool {
        self.config.storage.maintenance.readonly.enabled
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds the configured address and starts serving in the background of the current
    /// runtime (which must be multi-threaded: blob I/O runs on its blocking pool).
    pub async fn start(config: Config) -> Result<Server> {
        let tls = match &config.http.tls {
            Some(t) => Some(tls_acceptor(&t.certificate, &t.key)?),
            None => None,
        };
        let max_conns = config.limits.maxconnections.max(1);
        let gc_interval = match config.gc.interval.as_deref() {
            Some(s) => Some(parse_duration(s)?).filter(|d| !d.is_zero()),
            None => None,
        };
        let listener = TcpListener::bind(config.addr())
            .await
            .map_err(|e| Error::Internal(format!("bind {}: {e}", config.addr())))?;
        let addr = listener.local_addr().map_err(Error::io("local addr"))?;
        let registry = Arc::new(Registry::open(config)?);
        let (stop, stopped) = watch::channel(false);
        uploads::spawn_purger(registry.clone(), stopped.clone());
        if let Some(every) = gc_interval {
            gc::spawn_schedule(registry.clone(), every, stopped.clone());
        }
        let task = tokio::spawn(accept_loop(
            listener,
            registry.clone(),
            tls,
            Arc::new(Semaphore::new(max_conns)),
            stopped,
        ));
        tracing::info!(%addr, "registry listening");
        Ok(Server {
            addr,
            registry,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Stops accepting; connections in flight finish on their own.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect())
        .map_err(|e| Error::Internal(format!("TLS certificate {}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Internal(format!("TLS key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

async fn accept_loop(
    listener: TcpListener,
    registry: Arc<Registry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conns: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = conns.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stopped.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let registry = registry.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    // A client that never finishes the handshake is dropped after the idle time.
                    match tokio::time::timeout(registry.idle, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_conn(TokioIo::new(s), registry, peer, true).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_conn(TokioIo::new(stream), registry, peer, false).await,
            }
        });
    }
}

async fn serve_conn<I>(io: I, registry: Arc<Registry>, peer: SocketAddr, tls: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let idle = registry.idle;
    let service = hyper::service::service_fn(move |req| {
        let registry = registry.clone();
        async move { Ok::<_, Infallible>(handle(registry, req, peer, tls).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .serve_connection(io, service);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, "connection: {e}");
    }
}

/// Facts about the request that the handlers need besides the request itself.
pub(crate) struct Ctx {
    pub tls: bool,
    pub user: Option<String>,
}

async fn handle(
    registry: Arc<Registry>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> Resp {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let req_len = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut ctx = Ctx { tls, user: None };
    // Requests that present a password are the ones that cost bcrypt work and guess.
    let basic_user = registry
        .auth
        .as_ref()
        .and_then(|a| a.basic_user_name(req.headers()));
    let wait = basic_user
        .as_deref()
        .and_then(|u| registry.auth_failures.wait(peer.ip(), u, Instant::now()));
    let result = match wait {
        Some(wait) => Err(Error::TooManyRequests { retry_after: wait }),
        None => route(&registry, req, peer, &mut ctx).await,
    };
    if let (Some(u), Err(Error::Unauthorized { .. })) = (&basic_user, &result) {
        registry.auth_failures.failed(peer.ip(), u, Instant::now());
    }
    let mut response = match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    let status = response.status().as_u16();
    let resp_len = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let resp_len = if method == Method::HEAD { 0 } else { resp_len };
    let elapsed = started.elapsed();
    registry
        .metrics
        .observe(method.as_str(), status, req_len, resp_len, elapsed);
    tracing::info!(
        target: "berth_registry::access",
        remote = %peer,
        user = ctx.user.as_deref().unwrap_or("-"),
        method = %method,
        path = %path,
        status,
        bytes_in = req_len,
        bytes_out = resp_len,
        ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

pub(crate) fn error_response(e: &Error) -> Resp {
    let body = e.body();
    let mut b = resp(e.status())
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(CONTENT_LENGTH, body.len());
    match e {
        Error::Unauthorized { challenge, .. } => {
            b = b.header("WWW-Authenticate", challenge.as_str());
        }
        Error::RangeInvalid { header, range } => {
            b = b.header(*header, range.as_str());
        }
        Error::TooManyRequests { retry_after } => {
            b = b.header("Retry-After", retry_after.as_secs().max(1));
        }
        _ => {}
    }
    b.body(full(body)).unwrap_or_else(|_| {
        let mut r = Response::new(empty());
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// What a `/v2/<name>/...` path addresses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Manifest(String),
    Blob(String),
    /// `None` for the `uploads/` collection itself.
    Upload(Option<String>),
    Tags,
    Referrers(String),
}

/// Splits `<name>/<kind>/<ref>`. The reference never contains a slash, and the kind keywords are
/// read from the end, so names may themselves contain `blobs` or `manifests` components.
pub(crate) fn parse_target(rest: &str) -> Option<(String, Target)> {
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let id = segs[n - 1];
        let t = Target::Upload((!id.is_empty()).then(|| id.to_string()));
        return Some((segs[..n - 3].join("/"), t));
    }
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Some((segs[..n - 2].join("/"), Target::Tags));
    }
    if n >= 3 {
        let last = percent_decode(segs[n - 1]);
        let t = match segs[n - 2] {
            "manifests" => Target::Manifest(last),
            "blobs" => Target::Blob(last),
            "referrers" => Target::Referrers(last),
            _ => return None,
        };
        return Some((segs[..n - 2].join("/"), t));
    }
    None
}

/// Decodes `%XX` escapes (clients may send `sha256%3A...`); invalid escapes stay as they are and
/// then fail validation.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(
    reg: &Arc<Registry>,
    req: Request<Incoming>,
    peer: SocketAddr,
    ctx: &mut Ctx,
) -> Result<Resp> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match path.as_str() {
        "/metrics" => {
            if method != Method::GET && method != Method::HEAD {
                return Err(Error::MethodNotAllowed);
            }
            // Request counts and repository activity are not for anonymous eyes on a
            // protected registry: the caller needs the `registry:metrics:*` right (any
            // htpasswd user in basic mode).
            if let Some(auth) = &reg.auth {
                ctx.user = auth.authorize(
                    req.headers(),
                    &[Access::new("registry", "metrics", "*")],
                    ctx.tls,
                )?;
            }
            return reg.metrics.render(reg);
        }
        "/token" => {
            return match &reg.auth {
                Some(auth) if auth.issues_tokens() => auth.token_endpoint(req, ctx).await,
                _ => Err(Error::NotFound),
            }
        }
        "/admin/gc" => {
            if method != Method::POST {
                return Err(Error::MethodNotAllowed);
            }
            // With no authentication configured only local callers may collect; otherwise
            // the caller needs the `registry:gc:*` right (any htpasswd user in basic mode).
            match &reg.auth {
                Some(auth) => {
                    ctx.user = auth.authorize(
                        req.headers(),
                        &[Access::new("registry", "gc", "*")],
                        ctx.tls,
                    )?
                }
                None if peer.ip().is_loopback() => {}
                None => return Err(Error::Denied("garbage collection from afar".into())),
            }
            let q = query(&req);
            let flag = |k: &str| matches!(query_get(&q, k), Some("1" | "true"));
            let untagged = flag("delete-untagged") || reg.config.gc.deleteuntagged;
            let report = reg.collect_garbage(flag("dry-run"), untagged).await?;
            return json_resp(200, &report.to_json());
        }
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2") else {
        return Err(Error::NotFound);
    };
    if rest.is_empty() || rest == "/" {
        if let Some(auth) = &reg.auth {
            ctx.user = auth.authorize(req.headers(), &[], ctx.tls)?;
        }
        return match method {
            Method::GET | Method::HEAD => json_resp(200, &serde_json::json!({})),
            _ => Err(Error::MethodNotAllowed),
        };
    }
    let rest = &rest[1..];
    if rest == "_catalog" {
        if let Some(auth) = &reg.auth {
            ctx.user = auth.authorize(
                req.headers(),
                &[Access::new("registry", "catalog", "*")],
                ctx.tls,
            )?;
        }
        return match method {
            Method::GET => catalog::list(reg, &req),
            _ => Err(Error::MethodNotAllowed),
        };
    }
    let Some((name, target)) = parse_target(rest) else {
        return Err(Error::NotFound);
    };
    names::check_name(&name)?;
    let action = match method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "push",
    };
    if let Some(auth) = &reg.auth {
        ctx.user = auth.authorize(
            req.headers(),
            &[Access::new("repository", &name, action)],
            ctx.tls,
        )?;
    }
    if action != "pull" {
        if reg.read_only() {
            return Err(Error::Unsupported("registry is in read-only mode".into()));
        }
        if reg.proxy.upstream_for(&name).is_some() {
            return Err(Error::Unsupported(
                "this repository is a pull-through cache; push to the upstream".into(),
            ));
        }
    }
    match (target, method) {
        (Target::Manifest(r), Method::GET) => manifests::get(reg, &name, &r, &req, true).await,
        (Target::Manifest(r), Method::HEAD) => manifests::get(reg, &name, &r, &req, false).await,
        (Target::Manifest(r), Method::PUT) => manifests::put(reg, &name, &r, req).await,
        (Target::Manifest(r), Method::DELETE) => manifests::delete(reg, &name, &r).await,
        (Target::Blob(d), Method::GET) => blobs::get(reg, &name, &d, &req, true).await,
        (Target::Blob(d), Method::HEAD) => blobs::get(reg, &name, &d, &req, false).await,
        (Target::Blob(d), Method::DELETE) => blobs::delete(reg, &name, &d).await,
        (Target::Upload(None), Method::POST) => uploads::start(reg, &name, req, ctx).await,
        (Target::Upload(Some(id)), Method::GET) => uploads::status(reg, &name, &id).await,
        (Target::Upload(Some(id)), Method::PATCH) => uploads::patch(reg, &name, &id, req).await,
        (Target::Upload(Some(id)), Method::PUT) => uploads::finish(reg, &name, &id, req).await,
        (Target::Upload(Some(id)), Method::DELETE) => uploads::cancel(reg, &name, &id).await,
        (Target::Tags, Method::GET) => tags::list(reg, &name, &req).await,
        (Target::Referrers(d), Method::GET) => manifests::referrers(reg, &name, &d, &req).await,
        _ => Err(Error::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("a/b/manifests/latest"),
            Some(("a/b".into(), Target::Manifest("latest".into())))
        );
        assert_eq!(
            parse_target("x/blobs/blobs/uploads/"),
            Some(("x/blobs".into(), Target::Upload(None)))
        );
        assert_eq!(
            parse_target("x/blobs/uploads/abc"),
            Some(("x".into(), Target::Upload(Some("abc".into()))))
        );
        assert_eq!(
            parse_target("r/blobs/sha256%3Aab"),
            Some(("r".into(), Target::Blob("sha256:ab".into())))
        );
        assert_eq!(
            parse_target("a/tags/list"),
            Some(("a".into(), Target::Tags))
        );
        assert_eq!(parse_target("a/nope/x"), None);
        assert_eq!(parse_target("manifests/x"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
