//! A session with one repository of one registry: endpoint choice (TLS, or plain HTTP for
//! insecure registries, loopback included, as Docker does), the `/v2/` ping, and authorization —
//! HTTP basic, or a bearer token from the realm of the `WWW-Authenticate` challenge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HOST, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};

use crate::error::{Error, Result};
use crate::transport::{self, Body, Endpoint, Transport};

/// Docker Hub's API host, which `docker.io` names.
const HUB_API: &str = "registry-1.docker.io";
const AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
/// How long the TLS probe of an insecure registry may take before plain HTTP is tried.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Credentials for one registry, as `X-Registry-Auth` and `config.json` carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth refresh token (Docker's `identitytoken`), used as the password at the realm.
    pub identity_token: Option<String>,
    /// A bearer token to use as is (Docker's `registrytoken`).
    pub registry_token: Option<String>,
}

impl Credentials {
    /// Decodes an `X-Registry-Auth` header: base64url (padded or not) JSON of `username`,
    /// `password`, `serveraddress`, `identitytoken`, `registrytoken`. Empty or `{}` means none.
    pub fn from_header(value: &str) -> Result<Option<Credentials>> {
        use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let bytes = URL_SAFE
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
            .or_else(|_| STANDARD.decode(value))
            .map_err(|_| Error::InvalidArgument("invalid X-Registry-Auth header".into()))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| Error::InvalidArgument("invalid X-Registry-Auth header".into()))?;
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .filter(|x| !x.is_empty())
                .map(str::to_string)
        };
        let c = Credentials {
            username: s("username").unwrap_or_default(),
            password: s("password").unwrap_or_default(),
            identity_token: s("identitytoken"),
            registry_token: s("registrytoken"),
        };
        if c == Credentials::default() {
            return Ok(None);
        }
        Ok(Some(c))
    }

    fn basic(&self) -> String {
        let secret = self.identity_token.as_deref().unwrap_or(&self.password);
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{secret}", self.username))
        )
    }
}

/// Which registries may be spoken to without TLS, and which mirrors serve which registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `host[:port]` names or CIDRs (`10.0.0.0/8`) of registries allowed over plain HTTP.
    pub insecure: Vec<String>,
    /// Mirror base URLs by registry domain (`docker.io` for daemon.json `registry-mirrors`).
    pub mirrors: HashMap<String, Vec<String>>,
    /// Extra CA bundles to trust.
    pub ca_files: Vec<std::path::PathBuf>,
}

impl RegistryConfig {
    /// Whether `domain` may be spoken to over plain HTTP: configured, or loopback (Docker
    /// treats `127.0.0.0/8` and `localhost` as insecure by default).
    pub fn is_insecure(&self, domain: &str) -> bool {
        let host = host_of(domain);
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        let ip: Option<std::net::IpAddr> = host.trim_matches(['[', ']']).parse().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            if entry == domain || entry == host {
                return true;
            }
            match (entry.split_once('/'), ip) {
                (Some((net, bits)), Some(ip)) => in_cidr(ip, net, bits),
                _ => false,
            }
        })
    }
}

fn host_of(domain: &str) -> &str {
    if domain.starts_with('[') {
        return domain.split(']').next().unwrap_or(domain);
    }
    domain.rsplit_once(':').map_or(domain, |(h, _)| h)
}

fn in_cidr(ip: std::net::IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<std::net::IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The registry client: transport, configuration, and what it learnt about endpoints.
pub struct Client {
    pub(crate) transport: Transport,
    pub config: RegistryConfig,
    /// The endpoint that answered for each registry domain (TLS or not).
    endpoints: Mutex<HashMap<String, Endpoint>>,
}

impl Client {
    pub fn new(config: RegistryConfig) -> Arc<Client> {
        Arc::new(Client {
            transport: Transport::new(&config.ca_files),
            config,
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    /// Opens a session with repository `path` of registry `domain` for pulling (and pushing,
    /// if `push`), answering the registry's auth challenge with `creds`.
    pub async fn repository(
        self: &Arc<Self>,
        domain: &str,
        path: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Repository> {
        let ep = self.endpoint(domain).await?;
        self.repository_at(ep, path, creds, push).await
    }

    /// Like [`Client::repository`] on a given endpoint (a mirror).
    pub async fn repository_at(
        self: &Arc<Self>,
        ep: Endpoint,
        path: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Repository> {
        let repo = Repository {
            client: self.clone(),
            ep,
            path: path.to_string(),
            creds,
            actions: if push { "pull,push" } else { "pull" },
            auth: Mutex::new(None),
            challenge: Mutex::new(None),
        };
        repo.ping().await?;
        Ok(repo)
    }

    /// The endpoint for `domain`: HTTPS, falling back to HTTP for insecure registries.
    pub async fn endpoint(&self, domain: &str) -> Result<Endpoint> {
        if let Some(ep) = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain)
        {
            return Ok(ep.clone());
        }
        let authority = if domain == "docker.io" {
            HUB_API.to_string()
        } else {
            domain.to_string()
        };
        let tls = Endpoint {
            tls: true,
            authority: authority.clone(),
        };
        let chosen = if self.config.is_insecure(domain) {
            // Docker tries TLS first even for insecure registries, then plain HTTP.
            let probe = Request::get("/v2/")
                .header(HOST, &authority)
                .header(USER_AGENT, AGENT)
                .body(transport::empty())
                .map_err(|e| Error::Internal(e.to_string()))?;
            // A plain-HTTP server answers a TLS hello with an error at once; one that waits for
            // more must not hold the pull up for the whole request timeout.
            match tokio::time::timeout(PROBE_TIMEOUT, self.transport.send(&tls, probe)).await {
                Ok(Ok(_)) => tls,
                _ => Endpoint {
                    tls: false,
                    authority,
                },
            }
        } else {
            tls
        };
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain.to_string(), chosen.clone());
        Ok(chosen)
    }

    /// Checks credentials against a registry (`docker login`): the `/v2/` ping, then a token
    /// for no particular scope when the registry wants bearer tokens.
    pub async fn login(self: &Arc<Self>, domain: &str, creds: Credentials) -> Result<()> {
        let ep = self.endpoint(domain).await?;
        let repo = Repository {
            client: self.clone(),
            ep,
            path: String::new(),
            creds: Some(creds.clone()),
            actions: "",
            auth: Mutex::new(None),
            challenge: Mutex::new(None),
        };
        let challenge = repo.ping_raw().await?;
        match challenge {
            None => Ok(()),
            Some(c) if c.to_ascii_lowercase().starts_with("basic") => {
                let req = repo.build(&Method::GET, "/v2/", &[], Some(&creds.basic()))?;
                let r = self.transport.send(&repo.ep, req).await?;
                if r.status() == StatusCode::UNAUTHORIZED {
                    return Err(Error::Unauthorized(format!(
                        "login attempt to {}/v2/ failed with status: 401 Unauthorized",
                        repo.ep.base_url()
                    )));
                }
                Ok(())
            }
            Some(c) => repo.token(&c, None).await.map(|_| ()),
        }
    }
}

/// A session with one repository.
pub struct Repository {
    client: Arc<Client>,
    pub ep: Endpoint,
    /// The repository's path in the registry (`library/busybox`).
    pub path: String,
    creds: Option<Credentials>,
    actions: &'static str,
    /// The `Authorization` value in use.
    auth: Mutex<Option<String>>,
    challenge: Mutex<Option<String>>,
}

impl Repository {
    /// `GET /v2/`: learns the auth scheme and authorizes the session.
    async fn ping(&self) -> Result<()> {
        let challenge = self.ping_raw().await?;
        *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = challenge.clone();
        self.authorize(challenge.as_deref()).await
    }

    async fn ping_raw(&self) -> Result<Option<String>> {
        let r = self
            .client
            .transport
            .send(&self.ep, self.build(&Method::GET, "/v2/", &[], None)?)
            .await?;
        match r.status() {
            StatusCode::UNAUTHORIZED => Ok(Some(
                r.headers()
                    .get("WWW-Authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            )),
            s if s.is_success() => Ok(None),
            // Some registries answer /v2/ with 404 yet serve repositories; carry on.
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(Error::Registry(format!(
                "{}/v2/: unexpected status {s}",
                self.ep.base_url()
            ))),
        }
    }

    async fn authorize(&self, challenge: Option<&str>) -> Result<()> {
        let header = match challenge {
            None => None,
            Some(c) if c.to_ascii_lowercase().starts_with("bearer") => {
                if let Some(t) = self.creds.as_ref().and_then(|c| c.registry_token.clone()) {
                    Some(format!("Bearer {t}"))
                } else {
                    let scope = format!("repository:{}:{}", self.path, self.actions);
                    Some(format!("Bearer {}", self.token(c, Some(&scope)).await?))
                }
            }
            Some(_) => self.creds.as_ref().map(Credentials::basic),
        };
        *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = header;
        Ok(())
    }

    /// Obtains a bearer token from the realm of `challenge`.
    async fn token(&self, challenge: &str, scope: Option<&str>) -> Result<String> {
        let param = |key: &str| {
            let pat = format!("{key}=\"");
            let start = challenge.find(&pat)? + pat.len();
            let end = challenge[start..].find('"')? + start;
            Some(challenge[start..end].to_string())
        };
        let realm = param("realm")
            .ok_or_else(|| Error::Registry("bearer challenge without realm".into()))?;
        let (ep, path) = Endpoint::from_url(&realm)?;
        let query = {
            let mut q = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = param("service") {
                q.append_pair("service", &s);
            }
            if let Some(s) = scope {
                q.append_pair("scope", s);
            }
            if let Some(c) = &self.creds {
                q.append_pair("account", &c.username);
            }
            q.finish()
        };
        let path = if path.is_empty() { "/".into() } else { path };
        let sep = if path.contains('?') { '&' } else { '?' };
        let uri = format!("{path}{sep}{query}");
        let mut b = Request::get(uri)
            .header(HOST, &ep.authority)
            .header(USER_AGENT, AGENT);
        if let Some(c) = &self.creds {
            b = b.header(AUTHORIZATION, c.basic());
        }
        let r = self
            .client
            .transport
            .send(
                &ep,
                b.body(transport::empty())
                    .map_err(|e| Error::Internal(e.to_string()))?,
            )
            .await?;
        let status = r.status();
        let body = transport::read_body(r.into_body(), 1 << 20).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized(format!(
                "Get \"{realm}\": unauthorized: {}",
                registry_message(&body).unwrap_or_else(|| "authentication required".into())
            )));
        }
        if !status.is_success() {
            return Err(Error::Registry(format!(
                "token endpoint {realm} answered {status}"
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::Registry(format!("token response: {e}")))?;
        v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Registry("token response without token".into()))
    }

    pub(crate) fn build(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
        auth: Option<&str>,
    ) -> Result<Request<Body>> {
        self.build_with(method, path, headers, auth, transport::empty())
    }

    fn build_with(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: Body,
    ) -> Result<Request<Body>> {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, &self.ep.authority)
            .header(USER_AGENT, AGENT);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        b.body(body).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Sends a request with this session's authorization. A body-less request that meets a 401
    /// (an expired token) is authorized afresh and sent once more.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Body>,
    ) -> Result<Response<Incoming>> {
        let retry = body.is_none();
        let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let req = self.build_with(
            &method,
            path,
            headers,
            auth.as_deref(),
            body.unwrap_or_else(transport::empty),
        )?;
        let r = self.client.transport.send(&self.ep, req).await?;
        if r.status() != StatusCode::UNAUTHORIZED || !retry {
            return Ok(r);
        }
        let challenge = r
            .headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if challenge.is_none() {
            return Ok(r);
        }
        self.authorize(challenge.as_deref()).await?;
        let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let req = self.build(&method, path, headers, auth.as_deref())?;
        self.client.transport.send(&self.ep, req).await
    }

    /// `/v2/<path>/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("/v2/{}/{rest}", self.path)
    }

    /// Turns an unsuccessful response into an error, with the registry's own message.
    pub async fn fail(&self, what: &str, r: Response<Incoming>) -> Error {
        let status = r.status();
        let body = transport::read_body(r.into_body(), 64 << 10)
            .await
            .unwrap_or_default();
        let msg = registry_message(&body).unwrap_or_else(|| status.to_string());
        match status {
            StatusCode::NOT_FOUND => Error::NotFound(format!("{what} not found: {msg}")),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let msg = if self.creds.is_none()
                    && self
                        .challenge
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_deref()
                        .is_some_and(|c| c.to_ascii_lowercase().starts_with("basic"))
                {
                    "no basic auth credentials".to_string()
                } else {
                    format!("unauthorized: {msg}")
                };
                Error::Unauthorized(format!("{what}: {msg}"))
            }
            _ => Error::Registry(format!("{what}: {msg}")),
        }
    }
}

/// `code: message` of the first entry of a registry error body (`{"errors":[…]}`), lower-cased
/// code as Docker prints it (`manifest unknown: manifest unknown`).
fn registry_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    let code = e
        .get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace('_', " ");
    let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
    Some(if message.is_empty() {
        code
    } else {
        format!("{code}: {message}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_configured_registries_are_insecure() {
        let c = RegistryConfig {
            insecure: vec!["reg.lan:5000".into(), "10.1.0.0/16".into()],
            ..Default::default()
        };
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(c.is_insecure("10.1.2.3:443"));
        assert!(!c.is_insecure("10.2.2.3"));
        assert!(!c.is_insecure("docker.io"));
        assert!(!c.is_insecure("reg.lan:5001"));
    }

    #[test]
    fn registry_auth_header_decodes() {
        let h = STANDARD.encode(r#"{"username":"u","password":"p","serveraddress":"r"}"#);
        let c = Credentials::from_header(&h).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!(Credentials::from_header("e30=").unwrap(), None);
        assert!(Credentials::from_header("!!").is_err());
    }
}
