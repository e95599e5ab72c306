//! One HTTP/1.1 exchange per connection over the unix socket, with upgrade support for
//! hijacked streams. A fresh connection per request keeps the client stateless and lets a
//! hijacked connection be handed to the caller whole.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::UnixStream;

use crate::error::{Error, Result};
use crate::host::Host;

/// A request body: nothing, a buffer, or a stream read to its end (image tars for load/import).
pub enum RequestBody {
    Empty,
    Json(Vec<u8>),
    Bytes {
        data: Bytes,
        content_type: &'static str,
    },
    Reader {
        reader: Box<dyn AsyncRead + Send + Unpin>,
        content_type: &'static str,
    },
}

impl RequestBody {
    /// Serializes `v` as the JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<Self> {
        Ok(RequestBody::Json(serde_json::to_vec(v)?))
    }

    fn content_type(&self) -> Option<&'static str> {
        match self {
            RequestBody::Empty => None,
            RequestBody::Json(_) => Some("application/json"),
            RequestBody::Bytes { content_type, .. } | RequestBody::Reader { content_type, .. } => {
                Some(content_type)
            }
        }
    }

    fn into_box(self) -> UnsyncBoxBody<Bytes, std::io::Error> {
        match self {
            RequestBody::Empty => Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync(),
            RequestBody::Json(v) => Full::new(Bytes::from(v))
                .map_err(|n| match n {})
                .boxed_unsync(),
            RequestBody::Bytes { data, .. } => {
                Full::new(data).map_err(|n| match n {}).boxed_unsync()
            }
            RequestBody::Reader { reader, .. } => ReaderBody {
                reader,
                done: false,
            }
            .boxed_unsync(),
        }
    }
}

/// Streams an `AsyncRead` as a chunked body.
struct ReaderBody {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    done: bool,
}

impl hyper::body::Body for ReaderBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let mut rb = ReadBuf::new(&mut chunk);
        match Pin::new(&mut self.reader).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    self.done = true;
                    return Poll::Ready(None);
                }
                chunk.truncate(n);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass through).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `path?k=v&…` with every key and value encoded.
pub fn with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// Sends one request on a new connection. `upgrade` asks for `Connection: Upgrade` /
/// `Upgrade: tcp`. Error statuses are returned as responses; the caller decides.
pub(crate) async fn send(
    host: &Host,
    method: hyper::Method,
    uri: &str,
    body: RequestBody,
    upgrade: bool,
) -> Result<Response<Incoming>> {
    send_with_headers(host, method, uri, body, upgrade, &[]).await
}

/// [`send`] with extra request headers (`X-Registry-Auth`).
pub(crate) async fn send_with_headers(
    host: &Host,
    method: hyper::Method,
    uri: &str,
    body: RequestBody,
    upgrade: bool,
    headers: &[(&str, String)],
) -> Result<Response<Incoming>> {
    let Host::Unix(path) = host;
    let stream = UnixStream::connect(path)
        .await
        .map_err(|source| Error::Connect {
            host: host.display(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends with the exchange (or, for upgrades, hands the socket over).
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("Host", "api");
    if let Some(ct) = body.content_type() {
        req = req.header("Content-Type", ct);
    }
    if upgrade {
        req = req.header("Connection", "Upgrade").header("Upgrade", "tcp");
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req
        .body(body.into_box())
        .map_err(|e| Error::Request(e.to_string()))?;
    Ok(sender.send_request(req).await?)
}

/// Reads a whole body.
pub(crate) async fn collect(body: Incoming) -> Result<Bytes> {
    Ok(body.collect().await?.to_bytes())
}

/// Turns an error response into [`Error::Api`], taking the `message` of a JSON body.
pub(crate) async fn api_error(resp: Response<Incoming>) -> Error {
    let status = resp.status().as_u16();
    let body = match collect(resp.into_body()).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    Error::Api { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query(
                "/containers/json",
                &[("all", "1".into()), ("filters", "{\"a\":[\"b c\"]}".into())]
            ),
            "/containers/json?all=1&filters=%7B%22a%22%3A%5B%22b%20c%22%5D%7D"
        );
        assert_eq!(with_query("/x", &[]), "/x");
    }
}
