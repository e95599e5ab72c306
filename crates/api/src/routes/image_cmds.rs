//! The image command set's routes outside `/images/`: `/commit`, a container's `/changes` and
//! `/export`, `/system/df` and Berth's `/system/check`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::{flag, flag_or, json_response, stream_response, AppState};
use crate::backend::CommitOptions;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/commit", post(commit))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
        .route("/system/df", get(df))
        .route("/system/check", post(check))
}

/// Every `key=value` pair of the query, repeats kept (`changes` may repeat).
type Pairs = Query<Vec<(String, String)>>;

fn nonempty(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).filter(|s| !s.is_empty()).cloned()
}

async fn commit(State(b): State<AppState>, Query(pairs): Pairs) -> Result<Response, ApiError> {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let container = nonempty(&q, "container")
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let opts = CommitOptions {
        container,
        repo: nonempty(&q, "repo"),
        tag: nonempty(&q, "tag"),
        author: nonempty(&q, "author"),
        comment: nonempty(&q, "comment"),
        changes: pairs
            .iter()
            .filter(|(k, v)| k == "changes" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect(),
        pause: flag_or(&q, "pause", true),
    };
    let id = b.container_commit(opts).await?;
    Ok(json_response(StatusCode::CREATED, &json!({ "Id": id })))
}

async fn changes(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.container_changes(&id).await?))
}

async fn export(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let stream = b.container_export(&id).await?;
    Ok(stream_response("application/x-tar", stream))
}

async fn df(State(b): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.system_df().await?))
}

async fn check(
    State(b): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.system_check(flag(&q, "repair")).await?,
    ))
}
