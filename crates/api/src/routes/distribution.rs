//! Registry endpoints: pull (`POST /images/create?fromImage=`, dispatched from the images
//! routes), push (`POST /images/{name}/push`), `POST /auth`, `GET /distribution/{name}/json`
//! and `GET /images/search`. Credentials travel in the `X-Registry-Auth` header.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{json_response, parse_filters, stream_response, AppState};
use crate::backend::PullOptions;
use crate::ApiError;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth", post(auth))
        .route("/distribution/{*rest}", get(inspect))
        .route("/images/search", get(search))
}

/// The `X-Registry-Auth` header, if any.
pub(crate) fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn nonempty(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).filter(|s| !s.is_empty()).cloned()
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub(crate) async fn pull(
    b: AppState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let opts = PullOptions {
        from_image: q.get("fromImage").cloned().unwrap_or_default(),
        tag: nonempty(q, "tag"),
        platform: nonempty(q, "platform"),
        auth: registry_auth(headers),
    };
    let stream = b.image_pull(opts).await?;
    Ok(stream_response("application/json", stream))
}

/// `POST /images/{name}/push?tag=`.
pub(crate) async fn push(
    b: AppState,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let stream = b
        .image_push(name, nonempty(q, "tag"), registry_auth(headers))
        .await?;
    Ok(stream_response("application/json", stream))
}

async fn auth(
    State(b): State<AppState>,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.registry_login(body).await?,
    ))
}

async fn inspect(
    State(b): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found("page not found"))?;
    let v = b
        .distribution_inspect(name, registry_auth(&headers))
        .await?;
    Ok(json_response(StatusCode::OK, &v))
}

async fn search(
    State(b): State<AppState>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let term = q.get("term").cloned().unwrap_or_default();
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        None => None,
    };
    let v = b
        .image_search(&term, limit, parse_filters(&q)?, registry_auth(&headers))
        .await?;
    Ok(json_response(StatusCode::OK, &v))
}
