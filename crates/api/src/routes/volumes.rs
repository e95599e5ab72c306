//! `/volumes…`: list, create, inspect, remove, prune.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::{flag, json_response, no_content, parse_filters, AppState};
use crate::server::RequestVersion;
use crate::ApiError;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route(
            "/volumes/{name}",
            get(inspect)
                .delete(remove)
                .put(|| async { ApiError::not_implemented("cluster volume updates") }),
        )
}

async fn list(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.volume_list(parse_filters(&q)?).await?,
    ))
}

async fn create(State(b): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: berth_types::api::VolumeCreateRequest = if body.is_empty() {
        Default::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    Ok(json_response(
        StatusCode::CREATED,
        &b.volume_create(req).await?,
    ))
}

async fn inspect(
    State(b): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.volume_inspect(&name).await?,
    ))
}

async fn remove(
    State(b): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    b.volume_remove(&name, flag(&q, "force")).await?;
    Ok(no_content())
}

/// Before API 1.42 `volume prune` removed every unused volume; since, only anonymous ones
/// unless the `all` filter says otherwise (Docker's rule, so old clients keep their meaning).
async fn prune(
    State(b): State<AppState>,
    version: Option<Extension<RequestVersion>>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let mut filters = parse_filters(&q)?;
    if version.is_some_and(|Extension(v)| v < RequestVersion(1, 42)) {
        filters
            .entry("all".into())
            .or_insert_with(|| vec!["true".into()]);
    }
    Ok(json_response(
        StatusCode::OK,
        &b.volume_prune(filters).await?,
    ))
}
