//! One HTTP/1.1 exchange per connection to a registry, over TCP or TLS (rustls). Registries
//! are few and requests per pull are few (one per blob), so a connection pool is not worth its
//! state; loopback and LAN connections are cheap.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::error::{Error, Result};

/// A request body (manifests, upload chunks, or nothing).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How long connecting, a TLS handshake, or waiting for response headers may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Debian's (and most distributions') bundle of trusted CAs.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

pub fn empty() -> Body {
    use http_body_util::{BodyExt, Empty};
    Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync()
}

pub fn full(data: impl Into<Bytes>) -> Body {
    use http_body_util::{BodyExt, Full};
    Full::new(data.into())
        .map_err(|n| match n {})
        .boxed_unsync()
}

/// Where a registry is spoken to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub tls: bool,
    /// `host[:port]` as it appears in URLs.
    pub authority: String,
}

impl Endpoint {
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// Parses `http(s)://host[:port][/...]` (a mirror or token realm URL).
    pub fn from_url(url: &str) -> Result<(Endpoint, String)> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("invalid URL {url:?}: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid URL {url:?}: http:// or https:// expected"
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Error::InvalidArgument(format!("invalid URL {url:?}: no host")))?
            .to_string();
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        Ok((Endpoint { tls, authority }, path))
    }
}

/// TCP/TLS connector shared by every registry request.
#[derive(Clone)]
pub struct Transport {
    extra_cas: Arc<[std::path::PathBuf]>,
    /// Built on the first HTTPS request: parsing the system's CA bundle costs the idle daemon
    /// memory and start time that plain-HTTP (loopback, insecure) registries never need.
    tls: Arc<std::sync::OnceLock<Option<tokio_rustls::TlsConnector>>>,
}

impl Transport {
    /// A transport trusting the system's CA bundle plus every PEM file in `extra_cas`.
    pub fn new(extra_cas: &[std::path::PathBuf]) -> Transport {
        Transport {
            extra_cas: extra_cas.into(),
            tls: Arc::default(),
        }
    }

    fn tls_connector(&self) -> Option<&tokio_rustls::TlsConnector> {
        self.tls
            .get_or_init(|| tls_connector(&self.extra_cas))
            .as_ref()
    }

    /// Sends `req` to `ep` on a fresh connection.
    pub async fn send(&self, ep: &Endpoint, req: Request<Body>) -> Result<Response<Incoming>> {
        let auth: hyper::http::uri::Authority = ep.authority.parse().map_err(|e| {
            Error::Registry(format!("invalid registry host {:?}: {e}", ep.authority))
        })?;
        let port = auth.port_u16().unwrap_or(if ep.tls { 443 } else { 80 });
        let host = auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let unreachable = |e: &dyn std::fmt::Display| {
            Error::Registry(format!(
                "Get \"{}/v2/\": dial tcp {}: {e}",
                ep.base_url(),
                ep.authority
            ))
        };
        let stream = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| unreachable(&"i/o timeout"))?
        .map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        if !ep.tls {
            return exchange(TokioIo::new(stream), req).await;
        }
        let connector = self
            .tls_connector()
            .ok_or_else(|| Error::Registry("TLS is not available".into()))?;
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| Error::Registry(format!("invalid TLS server name: {e}")))?;
        let stream = tokio::time::timeout(TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| Error::Registry(format!("{}: TLS handshake timed out", ep.authority)))?
            .map_err(|e| Error::Registry(format!("{}: {e}", ep.base_url())))?;
        exchange(TokioIo::new(stream), req).await
    }
}

async fn exchange<S>(io: S, req: Request<Body>) -> Result<Response<Incoming>>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Error::Registry(format!("registry connection: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| Error::Registry("registry timed out".into()))?
        .map_err(|e| Error::Registry(format!("registry request: {e}")))
}

/// Reads a whole (small) response body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = tokio::time::timeout(TIMEOUT, body.frame())
        .await
        .map_err(|_| Error::Registry("registry timed out".into()))?
    {
        let frame = frame.map_err(|e| Error::Registry(format!("reading response: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(Error::InvalidManifest(format!(
                    "response larger than {limit} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// A TLS connector trusting the system's CA bundle plus every PEM file in `extra_cas`.
fn tls_connector(extra_cas: &[std::path::PathBuf]) -> Option<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let mut files: Vec<std::path::PathBuf> = extra_cas.to_vec();
    if std::path::Path::new(SYSTEM_CAS).is_file() {
        files.push(SYSTEM_CAS.into());
    }
    for f in &files {
        if let Ok(certs) = CertificateDer::pem_file_iter(f) {
            for c in certs.flatten() {
                // One unusable certificate in a bundle must not disable the rest.
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()
        .map(|b| {
            tokio_rustls::TlsConnector::from(Arc::new(
                b.with_root_certificates(roots).with_no_client_auth(),
            ))
        })
}
