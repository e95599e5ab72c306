//! An async client of the Docker Engine API, spoken over a unix socket.
//!
//! Berth's CLI is a client of the Engine API exactly like the `docker` CLI, so this crate talks
//! to any Engine API server: Berth's daemon, or a real dockerd.
//!
//! # Lifecycle
//!
//! 1. Pick the address with [`select_host`] (`-H`, then `BERTH_HOST`, then
//!    [`DEFAULT_HOST`]) and parse it with [`Host::parse`]; only `unix://` is spoken.
//! 2. [`Client::new`] builds a client; it connects lazily. The first request negotiates the API
//!    version: it asks `/_ping` for the server's `Api-Version` and uses the lower of that and
//!    [`berth_types::API_VERSION`] as the `/vX.Y` path prefix of every later request.
//! 3. Each request opens its own connection. Error statuses become [`Error::Api`] carrying the
//!    status and the daemon's `{"message"}`.
//! 4. Streams:
//!    * [`ResponseStream`] — a body read chunk by chunk (logs, with [`stdcopy::Demuxer`] when the
//!      container has no TTY);
//!    * [`JsonStream`] — concatenated JSON values (events, load/pull/import progress);
//!    * [`HijackedStream`] — attach and exec start: `Connection: Upgrade` / `Upgrade: tcp`, the
//!      server answers `101`, and the connection becomes a duplex byte stream. Shutting down its
//!      write side (`AsyncWriteExt::shutdown`) half-closes the socket, which the server takes as
//!      the end of stdin while output keeps flowing;
//!    * [`Waiter`] — `/wait` answers its head at once (the waiter is registered) and its body at
//!      exit, so a `run` can register before `start` and collect the code afterwards.

mod build;
mod containers;
mod distribution;
pub mod error;
mod exec;
pub mod host;
mod image_cmds;
mod images;
pub mod jsonstream;
mod layers;
mod networks;
pub mod stdcopy;
mod system;
pub mod transport;
mod volumes;

use std::marker::PhantomData;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

pub use berth_types::api;
pub use build::BuildOptions;
pub use containers::{AttachOptions, LogsOptions};
pub use error::{Error, Result};
pub use host::{select_host, Host, HostSource, DEFAULT_HOST, HOST_ENV};
/// The HTTP method type of [`Client::request`] and [`Client::call`].
pub use hyper::Method;
pub use image_cmds::CommitOptions;
pub use jsonstream::JsonSplitter;
pub use stdcopy::{Demuxer, StreamType};
pub use system::Ping;
pub use transport::RequestBody;

/// A connection after `101 Switching Protocols`: read the container's output, write its stdin,
/// `shutdown()` to send end-of-stdin.
pub type HijackedStream = TokioIo<hyper::upgrade::Upgraded>;

/// An Engine API client bound to one daemon address.
#[derive(Debug)]
pub struct Client {
    host: Host,
    /// `"1.41"`-style version used in paths, fixed by the first request.
    version: OnceCell<String>,
}

impl Client {
    /// A client for `host`; nothing is connected until the first request.
    pub fn new(host: Host) -> Self {
        Client {
            host,
            version: OnceCell::new(),
        }
    }

    /// A client for a `unix://` address string.
    pub fn from_addr(addr: &str) -> Result<Self> {
        Ok(Client::new(Host::parse(addr)?))
    }

    /// The address this client talks to.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The negotiated API version (asks `/_ping` the first time).
    pub async fn api_version(&self) -> Result<&str> {
        self.version
            .get_or_try_init(|| async {
                let ping = self.ping().await?;
                Ok::<_, Error>(negotiate(ping.api_version.as_deref()))
            })
            .await
            .map(String::as_str)
    }

    async fn versioned(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        let v = self.api_version().await?;
        Ok(transport::with_query(&format!("/v{v}{path}"), query))
    }

    /// Sends a request to a versioned path and returns the response if its status is a success.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: RequestBody,
    ) -> Result<Response<Incoming>> {
        let uri = self.versioned(path, query).await?;
        let resp = transport::send(&self.host, method, &uri, body, false).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(transport::api_error(resp).await);
        }
        Ok(resp)
    }

    /// GET and decode a JSON body.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let resp = self
            .request(Method::GET, path, query, RequestBody::Empty)
            .await?;
        let body = transport::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// GET a body as raw bytes (for output that must keep the daemon's key order).
    pub async fn get_raw(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes> {
        let resp = self
            .request(Method::GET, path, query, RequestBody::Empty)
            .await?;
        transport::collect(resp.into_body()).await
    }

    /// POST and decode a JSON body.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: RequestBody,
    ) -> Result<T> {
        let resp = self.request(Method::POST, path, query, body).await?;
        let body = transport::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// A request whose response body does not matter (204s and the like).
    pub async fn call(&self, method: Method, path: &str, query: &[(&str, String)]) -> Result<()> {
        let resp = self
            .request(method, path, query, RequestBody::Empty)
            .await?;
        transport::collect(resp.into_body()).await?;
        Ok(())
    }

    /// Sends an upgrade request and returns the hijacked connection once the server says `101`.
    pub async fn hijack(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: RequestBody,
    ) -> Result<HijackedStream> {
        let uri = self.versioned(path, query).await?;
        let resp = transport::send(&self.host, Method::POST, &uri, body, true).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            if resp.status().is_client_error() || resp.status().is_server_error() {
                return Err(transport::api_error(resp).await);
            }
            return Err(Error::Protocol(format!(
                "expected 101 Switching Protocols from {path}, got {}",
                resp.status()
            )));
        }
        let upgraded = hyper::upgrade::on(resp).await?;
        Ok(TokioIo::new(upgraded))
    }
}

/// The lower of the server's advertised version and ours; ours when the server says nothing.
fn negotiate(server: Option<&str>) -> String {
    let ours = berth_types::API_VERSION;
    let Some(server) = server else {
        return ours.to_string();
    };
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    match (parse(server), parse(ours)) {
        (Some(s), Some(o)) if s < o => server.to_string(),
        _ => ours.to_string(),
    }
}

/// A response body read chunk by chunk.
pub struct ResponseStream {
    body: Incoming,
    /// Content type of the response, e.g. `application/vnd.docker.multiplexed-stream`.
    pub content_type: Option<String>,
}

impl ResponseStream {
    pub(crate) fn new(resp: Response<Incoming>) -> Self {
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        ResponseStream {
            body: resp.into_body(),
            content_type,
        }
    }

    /// The next data chunk; `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        use http_body_util::BodyExt;
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Whether the server says the body is stdcopy-framed (absent header: assume framed, as
    /// older daemons do not send it).
    pub fn is_multiplexed(&self) -> bool {
        !matches!(
            self.content_type.as_deref(),
            Some("application/vnd.docker.raw-stream")
        )
    }
}

/// A stream of JSON values in a response body.
pub struct JsonStream<T> {
    inner: ResponseStream,
    splitter: JsonSplitter,
    _t: PhantomData<T>,
}

impl<T: DeserializeOwned> JsonStream<T> {
    pub(crate) fn new(resp: Response<Incoming>) -> Self {
        JsonStream {
            inner: ResponseStream::new(resp),
            splitter: JsonSplitter::new(),
            _t: PhantomData,
        }
    }

    /// The next value; `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<T>> {
        loop {
            if let Some(v) = self.splitter.next_value()? {
                return Ok(Some(v));
            }
            match self.inner.chunk().await? {
                Some(c) => self.splitter.push(&c),
                None if self.splitter.has_partial() => {
                    return Err(Error::Protocol(
                        "JSON stream ended in the middle of a value".into(),
                    ))
                }
                None => return Ok(None),
            }
        }
    }
}

/// A registered `/wait`: the head has arrived, the body comes when the container stops.
pub struct Waiter {
    body: Incoming,
}

impl Waiter {
    /// The container's exit code, or the daemon's error text for the wait.
    pub async fn wait(self) -> Result<i64> {
        let body = transport::collect(self.body).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        if let Some(msg) = v
            .pointer("/Error/Message")
            .and_then(|m| m.as_str())
            .filter(|m| !m.is_empty())
        {
            return Err(Error::Api {
                status: 500,
                message: msg.to_string(),
            });
        }
        v.get("StatusCode")
            .and_then(|c| c.as_i64())
            .ok_or_else(|| Error::Protocol(format!("wait response without StatusCode: {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_lower_version() {
        assert_eq!(negotiate(Some("1.41")), "1.41");
        assert_eq!(negotiate(Some("1.99")), berth_types::API_VERSION);
        assert_eq!(negotiate(None), berth_types::API_VERSION);
        assert_eq!(negotiate(Some("garbage")), berth_types::API_VERSION);
        assert_eq!(negotiate(Some("1.9")), "1.9");
    }
}
