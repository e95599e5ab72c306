//! Blobs: `GET` (whole or a `Range`), `HEAD`, `DELETE` (unlinks from the repository; the bytes
//! go at the next garbage collection, if nothing else references them).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::Request;
use serde_json::json;

use crate::error::{Error, Result};
use crate::names;
use crate::server::{empty, http_err, resp, FileBody, Registry, Resp};

/// A single byte range `bytes=a-b`, `bytes=a-` or `bytes=-n`, resolved against `size`.
/// `Err` when unsatisfiable; `Ok(None)` when the header is absent or not a single range (served
/// whole, as RFC 9110 allows a server to ignore `Range`).
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Err(());
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

pub(crate) async fn get(
    reg: &Arc<Registry>,
    name: &str,
    digest: &str,
    req: &Request<Incoming>,
    with_body: bool,
) -> Result<Resp> {
    let digest = names::parse_digest(digest)?;
    let unknown = || Error::BlobUnknown(json!({ "digest": digest }));
    if !(reg.repos.has_layer(name, &digest) && reg.store.exists(&digest)) {
        if !with_body && !reg.store.exists(&digest) {
            if let Some(up) = reg.proxy.upstream_for(name) {
                let size = up.blob_size(name, &digest).await?;
                return resp(200)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .header("Docker-Content-Digest", digest.as_str())
                    .body(empty())
                    .map_err(http_err);
            }
        }
        let plain_get = with_body && req.headers().get("Range").is_none();
        if plain_get && !reg.store.exists(&digest) {
            if let Some(r) = crate::proxy::stream_blob(reg, name, &digest).await? {
                return Ok(r);
            }
        }
        match reg.proxy.upstream_for(name) {
            Some(up) => up.fetch_blob(reg, name, &digest).await?,
            None => return Err(unknown()),
        }
    }
    let size = reg.store.info(&digest).map_err(|_| unknown())?.size;
    let header = req.headers().get("Range").and_then(|v| v.to_str().ok());
    let range = byte_range(header, size).map_err(|()| Error::RangeInvalid {
        header: "Content-Range",
        range: format!("bytes */{size}"),
    })?;
    let (status, start, len) = match range {
        Some((a, b)) => (206, a, b - a + 1),
        None => (200, 0, size),
    };
    let mut b = resp(status)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .header("Docker-Content-Digest", digest.as_str())
        .header("ETag", format!("\"{digest}\""))
        .header("Accept-Ranges", "bytes")
        .header("Cache-Control", "max-age=31536000");
    if status == 206 {
        b = b.header(
            "Content-Range",
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if !with_body {
        return b.body(empty()).map_err(http_err);
    }
    let file = reg.store.reader(&digest).map_err(|_| unknown())?;
    b.body(http_body_util::BodyExt::boxed(FileBody::new(
        file, start, len,
    )))
    .map_err(http_err)
}

pub(crate) async fn delete(reg: &Registry, name: &str, digest: &str) -> Result<Resp> {
    let digest = names::parse_digest(digest)?;
    if !reg.config.storage.delete.enabled {
        return Err(Error::Unsupported("deletion is disabled".into()));
    }
    if !reg.repos.unlink_layer(name, &digest)? {
        return Err(Error::BlobUnknown(json!({ "digest": digest })));
    }
    resp(202)
        .header(CONTENT_LENGTH, 0)
        .header("Docker-Content-Digest", digest.as_str())
        .body(empty())
        .map_err(http_err)
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=5-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=x-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 10), Ok(None));
    }
}
