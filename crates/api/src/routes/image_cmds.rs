//! The image command set's routes outside `/images/`: `/commit`, a container's `/changes`,
//! `/export` and `/archive` (docker cp), and Berth's `/system/check`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::{flag, flag_or, json_response, stream_response, AppState};
use crate::backend::{ArchiveStat, CommitOptions};
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/commit", post(commit))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
        .route("/system/check", post(check))
}

/// Every `key=value` pair of the query, repeats kept (`changes` may repeat).
type Pairs = Query<Vec<(String, String)>>;

fn nonempty(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).filter(|s| !s.is_empty()).cloned()
}

async fn commit(State(b): State<AppState>, Query(pairs): Pairs) -> Result<Response, ApiError> {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let container =
        nonempty(&q, "container").ok_or_else(|| ApiError::bad_request("container is required"))?;
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
    Ok(json_response(
        StatusCode::OK,
        &b.container_changes(&id).await?,
    ))
}

async fn export(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let stream = b.container_export(&id).await?;
    Ok(stream_response("application/x-tar", stream))
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

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_param(q: &HashMap<String, String>) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

fn with_stat(mut r: Response, stat: &ArchiveStat) -> Response {
    use base64::Engine as _;
    let json = serde_json::to_vec(stat).unwrap_or_default();
    let v = base64::engine::general_purpose::STANDARD.encode(json);
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    r
}

async fn archive_head(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let stat = b.archive_stat(&id, &path_param(&q)?).await?;
    Ok(with_stat(StatusCode::OK.into_response(), &stat))
}

async fn archive_get(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (stat, body) = b.archive_get(&id, &path_param(&q)?).await?;
    Ok(with_stat(stream_response("application/x-tar", body), &stat))
}

async fn archive_put(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Response, ApiError> {
    use futures_util::StreamExt;
    let path = path_param(&q)?;
    let stream = body
        .into_data_stream()
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async { r.ok() })
        .boxed();
    b.archive_put(&id, &path, flag(&q, "noOverwriteDirNonDir"), stream)
        .await?;
    Ok(StatusCode::OK.into_response())
}
