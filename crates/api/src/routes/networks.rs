//! `/networks/...`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_types::api;

use super::containers::parse_json_body;
use super::{json_response, parse_filters, AppState};
use crate::ApiError;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.network_list(parse_filters(&q)?).await?,
    ))
}

async fn inspect(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.network_inspect(&id).await?,
    ))
}

async fn create(State(b): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: api::NetworkCreateRequest = parse_json_body(&body)?;
    if req.name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    Ok(json_response(
        StatusCode::CREATED,
        &b.network_create(req).await?,
    ))
}

async fn remove(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    b.network_remove(&id).await?;
    Ok(super::no_content())
}

async fn prune(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.network_prune(parse_filters(&q)?).await?,
    ))
}

async fn connect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: api::NetworkConnectRequest = parse_json_body(&body)?;
    b.network_connect(&id, req).await?;
    Ok(json_response(StatusCode::OK, &serde_json::Value::Null))
}

async fn disconnect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: api::NetworkDisconnectRequest = parse_json_body(&body)?;
    b.network_disconnect(&id, req).await?;
    Ok(json_response(StatusCode::OK, &serde_json::Value::Null))
}
