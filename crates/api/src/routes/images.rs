//! `/images/...`. Image names contain `/` and `:`, so everything below `/images/` is matched
//! as one path and split on its last segment (`json`, `tag`, `history`, `push`, `get`, `layers`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use futures_util::StreamExt;

use super::{flag, json_response, parse_filters, stream_response, AppState};
use crate::backend::{ByteStream, ImportOptions};
use crate::ApiError;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route("/images/get", get(save))
        .route("/images/{*rest}", any(by_name))
}

fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async { r.ok() })
        .boxed()
}

async fn list(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    let images = b
        .image_list(flag(&q, "all"), parse_filters(&q)?, flag(&q, "digests"))
        .await?;
    Ok(json_response(StatusCode::OK, &images))
}

async fn prune(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    let resp = b.image_prune(parse_filters(&q)?).await?;
    Ok(json_response(StatusCode::OK, &resp))
}

/// `GET /images/get?names=a&names=b`: `names` repeats, so the raw pairs are read.
async fn save(
    State(b): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let names: Vec<String> = pairs
        .into_iter()
        .filter(|(k, v)| k == "names" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    let stream = b.image_save(names).await?;
    Ok(stream_response("application/x-tar", stream))
}

async fn load(State(b): State<AppState>, Query(q): Q, body: Body) -> Result<Response, ApiError> {
    let stream = b.image_load(body_stream(body), flag(&q, "quiet")).await?;
    Ok(stream_response("application/json", stream))
}

async fn create(
    State(b): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    if let Some(src) = q.get("fromSrc") {
        let opts = ImportOptions {
            url: (src != "-").then(|| src.clone()),
            repo: q.get("repo").filter(|s| !s.is_empty()).cloned(),
            tag: q.get("tag").filter(|s| !s.is_empty()).cloned(),
            // `changes` repeats, once per --change.
            changes: pairs
                .iter()
                .filter(|(k, v)| k == "changes" && !v.is_empty())
                .map(|(_, v)| v.clone())
                .collect(),
            message: q.get("message").filter(|s| !s.is_empty()).cloned(),
            platform: q.get("platform").filter(|s| !s.is_empty()).cloned(),
        };
        let stream = b.image_import(body_stream(body), opts).await?;
        return Ok(stream_response("application/json", stream));
    }
    if q.contains_key("fromImage") {
        return super::distribution::pull(b, &q, &headers).await;
    }
    Err(ApiError::bad_request(
        "either fromImage or fromSrc is required",
    ))
}

async fn by_name(
    State(b): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (name, action) = match rest.rsplit_once('/') {
        Some((name, action))
            if matches!(
                action,
                "json" | "tag" | "history" | "push" | "get" | "layers"
            ) =>
        {
            (name, action)
        }
        _ => (rest.as_str(), ""),
    };
    match (method, action) {
        (Method::GET, "json") => Ok(json_response(StatusCode::OK, &b.image_inspect(name).await?)),
        (Method::POST, "tag") => {
            let repo = q.get("repo").filter(|s| !s.is_empty()).ok_or_else(|| {
                ApiError::bad_request("repository name must have at least one component")
            })?;
            b.image_tag(
                name,
                repo,
                q.get("tag").map(String::as_str).filter(|s| !s.is_empty()),
            )
            .await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (Method::DELETE, "") => {
            let items = b
                .image_remove(name, flag(&q, "force"), flag(&q, "noprune"))
                .await?;
            Ok(json_response(StatusCode::OK, &items))
        }
        (Method::GET, "history") => {
            Ok(json_response(StatusCode::OK, &b.image_history(name).await?))
        }
        (Method::GET, "layers") => super::layers::get(b, name).await,
        (Method::POST, "push") => super::distribution::push(b, name, &q, &headers).await,
        (Method::GET, "get") => {
            let stream = b.image_save(vec![name.to_string()]).await?;
            Ok(stream_response("application/x-tar", stream))
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}
