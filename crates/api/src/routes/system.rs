//! `/_ping`, `/version`, `/info`, `/events`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;

use super::{json_response, parse_filters, stream_response, AppState};
use crate::backend::EventsOptions;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
}

async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    r
}

async fn version(State(b): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.version().await?))
}

async fn info(State(b): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.info().await?))
}

fn parse_time(v: Option<&String>) -> Result<Option<f64>, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid timestamp: {s}"))),
    }
}

async fn events(
    State(b): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let opts = EventsOptions {
        since: parse_time(q.get("since"))?,
        until: parse_time(q.get("until"))?,
        filters: parse_filters(&q)?,
    };
    let stream = b.events(opts).await?;
    let body = stream
        .map(|ev| {
            let mut line = serde_json::to_vec(&ev).unwrap_or_default();
            line.push(b'\n');
            bytes::Bytes::from(line)
        })
        .boxed();
    Ok(stream_response("application/json", body))
}
