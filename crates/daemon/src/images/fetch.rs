//! `import` from a URL: the daemon downloads the rootfs tar itself, as Docker does. Plain
//! `http://` only (redirects followed, at most five); `https://` needs a TLS stack Berth does
//! not link yet and is refused as not implemented.

use berth_api::backend::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use crate::error::{Error, Result};

const MAX_REDIRECTS: usize = 5;

/// `http://host[:port]/path` split into (authority, path-and-query).
fn split_url(url: &str) -> Result<(String, String)> {
    if url.starts_with("https://") {
        return Err(Error::NotImplemented(
            "importing from an https:// URL (Berth has no TLS client yet)".into(),
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::InvalidArgument(format!("unsupported URL {url:?}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::InvalidArgument(format!("unsupported URL {url:?}")));
    }
    Ok((authority.to_string(), path.to_string()))
}

/// GETs `url` and returns its body as a stream.
pub async fn fetch(url: &str) -> Result<ByteStream> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (authority, path) = split_url(&url)?;
        let addr = if authority.contains(':') {
            authority.clone()
        } else {
            format!("{authority}:80")
        };
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(Error::io(format!("connecting to {authority}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Internal(format!("{url}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get(&path)
            .header("Host", &authority)
            .header("User-Agent", "berth")
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| Error::InvalidArgument(format!("{url}: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Error::Internal(format!("{url}: {e}")))?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Internal(format!("{url}: redirect without Location")))?;
            url = if next.starts_with('/') {
                format!("http://{authority}{next}")
            } else {
                next.to_string()
            };
            continue;
        }
        if !status.is_success() {
            return Err(Error::InvalidArgument(format!(
                "Get {url:?}: unexpected status {}",
                status.as_u16()
            )));
        }
        let body = resp.into_body().into_data_stream();
        return Ok(body
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| async { r.ok() })
            .boxed());
    }
    Err(Error::InvalidArgument(format!("{url}: too many redirects")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/a/b.tar").unwrap(),
            ("127.0.0.1:8080".into(), "/a/b.tar".into())
        );
        assert_eq!(split_url("http://h").unwrap(), ("h".into(), "/".into()));
        assert!(split_url("ftp://h/x").is_err());
        assert!(matches!(
            split_url("https://h/x"),
            Err(Error::NotImplemented(_))
        ));
    }
}
