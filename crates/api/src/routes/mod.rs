//! Engine API routes, one module per resource. Paths here are unversioned; the version prefix
//! has been stripped by [`crate::server`].

mod build;
mod containers;
mod df;
mod distribution;
mod exec;
mod image_cmds;
mod images;
mod layers;
mod networks;
mod system;
mod volumes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures_util::StreamExt;

use crate::backend::{ByteStream, Filters};
use crate::{ApiError, Backend};

pub type AppState = Arc<dyn Backend>;

pub fn router(backend: Arc<dyn Backend>) -> Router {
    routes().with_state(backend)
}

/// Every route, before the backend is attached (route conflicts panic here, so the unit test
/// below catches them at build time rather than when a daemon starts serving).
fn routes() -> Router<AppState> {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(image_cmds::routes())
        .merge(volumes::routes())
        .merge(df::routes())
        .merge(networks::routes())
        .merge(distribution::routes())
        .merge(build::routes())
        .merge(not_implemented_routes())
        .fallback(|| async { ApiError::not_found("page not found") })
}

/// Resources of later milestones: a clear 501 rather than a 404 that looks like a typo.
fn not_implemented_routes() -> Router<AppState> {
    let mut r = Router::new().route(
        "/plugins/{name}/json",
        axum::routing::get(|Path(name): Path<String>| async move {
            ApiError::not_found(format!("plugin \"{name}\" not found"))
        }),
    );
    for (path, what) in [
        ("/build/{*rest}", "the builder"),
        ("/swarm", "swarm mode"),
        ("/swarm/{*rest}", "swarm mode"),
        ("/services", "swarm services"),
        ("/services/{*rest}", "swarm services"),
        ("/nodes", "swarm nodes"),
        ("/plugins", "plugins"),
        ("/secrets", "swarm secrets"),
        ("/configs", "swarm configs"),
        ("/session", "build sessions"),
    ] {
        r = r.route(
            path,
            any(move || async move { ApiError::not_implemented(what) }),
        );
    }
    r
}

/// `true` for Docker's truthy query values (`1`, `true`, `True`); absent is `false`.
pub(crate) fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "yes"))
}

/// Like [`flag`] but with a default when the key is absent.
pub(crate) fn flag_or(q: &HashMap<String, String>, key: &str, default: bool) -> bool {
    if q.contains_key(key) {
        flag(q, key)
    } else {
        default
    }
}

/// Parses Docker's `filters` JSON: `{"k":["v"]}` or the legacy `{"k":{"v":true}}`.
pub(crate) fn parse_filters(q: &HashMap<String, String>) -> Result<Filters, ApiError> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(Filters::new());
    };
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filter: not an object"))?;
    let mut out = Filters::new();
    for (k, v) in obj {
        let values: Vec<String> = match v {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, b)| b.as_bool().unwrap_or(false))
                .map(|(s, _)| s.clone())
                .collect(),
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        };
        out.insert(k.clone(), values);
    }
    Ok(out)
}

pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => ApiError::internal(format!("encoding response: {e}")).into_response(),
    }
}

pub(crate) fn stream_response(content_type: &'static str, stream: ByteStream) -> Response {
    let body = Body::from_stream(stream.map(Ok::<_, std::io::Error>));
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_registers_without_conflict() {
        let _ = routes();
    }

    #[test]
    fn filters_accept_both_shapes() {
        let mut q = HashMap::new();
        q.insert(
            "filters".to_string(),
            r#"{"status":["running","exited"]}"#.to_string(),
        );
        assert_eq!(
            parse_filters(&q).unwrap()["status"],
            vec!["running", "exited"]
        );
        q.insert(
            "filters".to_string(),
            r#"{"label":{"a=b":true,"c":false}}"#.to_string(),
        );
        assert_eq!(parse_filters(&q).unwrap()["label"], vec!["a=b"]);
        q.insert("filters".to_string(), "nope".to_string());
        assert!(parse_filters(&q).is_err());
    }

    #[test]
    fn flags_are_docker_truthy() {
        let mut q = HashMap::new();
        q.insert("a".to_string(), "1".to_string());
        q.insert("b".to_string(), "0".to_string());
        assert!(flag(&q, "a"));
        assert!(!flag(&q, "b"));
        assert!(!flag(&q, "c"));
        assert!(flag_or(&q, "c", true));
    }
}
