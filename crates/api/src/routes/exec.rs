//! `/containers/{id}/exec` and `/exec/{id}/...`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_types::api;
use http_body_util::BodyExt;

use super::containers::{parse_json_body, parse_size};
use super::{json_response, AppState};
use crate::{hijack, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

pub(crate) async fn create(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config: api::ExecConfig = parse_json_body(&body)?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let created = b.exec_create(&id, config).await?;
    // Docker's key is `Id`; the generated model only aliases it on the way in.
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": created.id }),
    ))
}

async fn start(
    State(b): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    // The body must be read without consuming the request: the upgrade needs it afterwards.
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?
        .to_bytes();
    let config: api::ExecStartConfig = parse_json_body(&bytes)?;
    let req = Request::from_parts(parts, axum::body::Body::empty());
    match b.exec_start(&id, config).await? {
        None => Ok(StatusCode::OK.into_response()),
        Some(attached) => Ok(hijack::respond(req, attached)),
    }
}

async fn resize(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (h, w) = parse_size(&q)?;
    b.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.exec_inspect(&id).await?))
}
