//! Serving the API on a unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tower_service::Service;

use crate::{routes, ApiError, Backend};

/// Binds `path` as the API socket, mode 0660 (group-accessible, never world-accessible): a
/// stale socket file left by a crashed daemon is replaced.
pub fn bind_unix(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// The router for `backend`, for unversioned paths; [`handle`] puts the version handling in
/// front of it.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    routes::router(backend)
}

/// Answers one request: the version prefix is stripped (and checked) before routing — routing
/// has to see the unversioned path — and Docker's headers are stamped on every answer.
pub async fn handle(mut app: Router, req: Request) -> Response {
    let mut response = match strip_version(req) {
        Ok(req) => match app.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        },
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        "Api-Version",
        HeaderValue::from_static(berth_types::API_VERSION),
    );
    headers.insert(
        "Server",
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    response
}

/// Accepts connections until `shutdown` resolves; each is served by hyper with upgrades enabled.
pub async fn serve(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let app = router(backend);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept on API socket failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(handle(app, req.map(Body::new)).await)
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("API connection ended: {e}");
            }
        });
    }
}

/// Parses `v1.41` style version segments: `Some((1, 41))`.
pub fn parse_version(segment: &str) -> Option<(u32, u32)> {
    let rest = segment.strip_prefix('v')?;
    let (major, minor) = rest.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn version_tuple(v: &str) -> (u32, u32) {
    parse_version(&format!("v{v}")).expect("constant API versions are well-formed")
}

/// The API version a request was made with (from its `/vX.Y` prefix), for the few routes
/// whose defaults changed between versions. Absent for unversioned paths (= the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestVersion(pub u32, pub u32);

/// Strips the optional `/vX.Y` prefix, refusing versions outside what Berth serves.
fn strip_version(mut req: Request) -> Result<Request, ApiError> {
    let path = req.uri().path().to_owned();
    let mut segments = path.splitn(3, '/');
    segments.next();
    let Some(version) = segments.next().and_then(parse_version) else {
        return Ok(req);
    };
    if version < version_tuple(berth_types::MIN_API_VERSION) {
        return Err(ApiError::bad_request(format!(
            "client version {}.{} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            version.0,
            version.1,
            berth_types::MIN_API_VERSION
        )));
    }
    if version > version_tuple(berth_types::API_VERSION) {
        return Err(ApiError::bad_request(format!(
            "client version {}.{} is too new. Maximum supported API version is {}",
            version.0,
            version.1,
            berth_types::API_VERSION
        )));
    }
    let rest = segments.next().unwrap_or("");
    let new_uri = match req.uri().query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    *req.uri_mut() = new_uri
        .parse::<Uri>()
        .map_err(|_| ApiError::bad_request("malformed request path"))?;
    req.extensions_mut()
        .insert(RequestVersion(version.0, version.1));
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("v1.41"), Some((1, 41)));
        assert_eq!(parse_version("v1.9"), Some((1, 9)));
        assert_eq!(parse_version("containers"), None);
        assert_eq!(parse_version("v1"), None);
        assert!(version_tuple("1.51") > version_tuple("1.9"));
    }
}
