//! Request bodies, read with bounds: a body that stalls longer than the idle time is abandoned,
//! a manifest body is capped, and a blob body reaches the disk in bounded slices off the async
//! threads.

use std::time::Duration;

use berth_content::Writer;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::{Error, Result};

/// How much of a blob body is gathered before it is handed to a blocking thread for writing.
pub(crate) const SLICE: usize = 256 << 10;

/// Streams `body` into `writer` and returns the bytes written. The writer is put back in the
/// option whatever happens, except when a blocking write panics. On a broken or stalled body,
/// what arrived is kept (so a chunked upload can resume from there) and an error is returned.
pub(crate) async fn write_to(
    body: Incoming,
    writer: &mut Option<Writer>,
    idle: Duration,
) -> Result<u64> {
    let mut body = body;
    // Sized once (a frame is at most what hyper read, far below SLICE) so it never regrows.
    let mut buf: Vec<u8> = Vec::with_capacity(2 * SLICE);
    let mut total = 0u64;
    let outcome = loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => break Err(Error::BlobUploadInvalid("client stalled".into())),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(Error::BlobUploadInvalid(format!("body: {e}"))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    total += data.len() as u64;
                    buf.extend_from_slice(&data);
                    if buf.len() >= SLICE {
                        flush(writer, &mut buf).await?;
                    }
                }
            }
        }
    };
    flush(writer, &mut buf).await?;
    outcome.map(|()| total)
}

/// Writes `buf` (then empty) through the writer on a blocking thread.
pub(crate) async fn flush(writer: &mut Option<Writer>, buf: &mut Vec<u8>) -> Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut w = writer
        .take()
        .ok_or_else(|| Error::Internal("upload writer lost".into()))?;
    let chunk = std::mem::replace(buf, Vec::with_capacity(2 * SLICE));
    let (w, r) = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let r = w.write_all(&chunk);
        (w, r)
    })
    .await
    .map_err(|e| Error::Internal(format!("write task: {e}")))?;
    *writer = Some(w);
    r.map_err(Error::io("write upload"))
}

/// Reads a whole body of at most `limit` bytes; a larger one is refused as soon as it is seen
/// to be larger (by `Content-Length`, or while reading), without buffering the excess.
pub(crate) async fn read_limited(
    body: Incoming,
    limit: usize,
    idle: Duration,
    too_large: impl Fn() -> Error,
) -> Result<Vec<u8>> {
    use hyper::body::Body as _;
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let mut body = body;
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Error::ManifestInvalid("client stalled".into())),
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => return Err(Error::ManifestInvalid(format!("body: {e}"))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// A response body fed by a task through a bounded channel (the pull-through cache streams a
/// blob to its first client while storing it).
pub(crate) struct ChannelBody {
    pub rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    pub remaining: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::io::Result<hyper::body::Frame<bytes::Bytes>>>> {
        match self.rx.poll_recv(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(None) => std::task::Poll::Ready(None),
            std::task::Poll::Ready(Some(Err(e))) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Ready(Some(Ok(b))) => {
                if let Some(r) = self.remaining.as_mut() {
                    *r = r.saturating_sub(b.len() as u64);
                }
                std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(b))))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self.remaining {
            Some(n) => hyper::body::SizeHint::with_exact(n),
            None => hyper::body::SizeHint::default(),
        }
    }
}
