//! Taking over an HTTP connection for attach and exec.
//!
//! Docker clients send `Connection: Upgrade` / `Upgrade: tcp`; the answer is `101 UPGRADED`,
//! after which the connection carries the process's streams in both directions. hyper writes
//! the response head and flushes it before the upgrade completes, so the head always travels in
//! a write of its own (old docker clients depend on that). A client that does not ask for an
//! upgrade gets a `200` with the output as the body (read-only).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

use crate::backend::AttachedStream;

pub fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

fn content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// Answers `req` by splicing the client's connection to `attached`.
pub fn respond(mut req: Request, attached: AttachedStream) -> Response {
    if !wants_upgrade(&req) {
        let AttachedStream {
            tty,
            stream,
            on_upgraded,
        } = attached;
        if let Some(tx) = on_upgraded {
            let _ = tx.send(());
        }
        let body = futures_util::stream::unfold(stream, |mut s| async move {
            let mut buf = vec![0u8; 32 * 1024];
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), s))
                }
            }
        })
        .boxed();
        let mut response = Response::new(Body::from_stream(body));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type(tty));
        return response;
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    let tty = attached.tty;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("attach upgrade failed: {e}");
                return;
            }
        };
        let mut client = TokioIo::new(upgraded);
        if let Some(tx) = attached.on_upgraded {
            let _ = tx.send(());
        }
        let mut engine = attached.stream;
        // copy_bidirectional passes a half-close on either side on to the other, which is
        // exactly "end of stdin, keep the output flowing".
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut engine).await {
            tracing::debug!("attach stream ended: {e}");
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    headers.insert(header::CONTENT_TYPE, content_type(tty));
    response
}
