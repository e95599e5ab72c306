//! `GET /system/df`: disk usage — images and containers from the engine's
//! [`Backend::system_df`](crate::backend::Backend::system_df) (shared layers counted once,
//! each container's writable layer), volumes with their `UsageData`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{json_response, AppState};
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/system/df", get(df))
}

async fn df(
    State(b): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    // `type=` (API 1.42+) narrows the answer; absent means everything.
    let types: Vec<&str> = q.get("type").map(|t| vec![t.as_str()]).unwrap_or_default();
    let want = |t: &str| types.is_empty() || types.contains(&t);
    // The engine's answer counts shared layers once and sizes each container's writable
    // layer; volumes come from the volume store.
    let full = b.system_df().await?;
    let mut out = serde_json::Map::new();
    if want("image") {
        out.insert("LayersSize".into(), full["LayersSize"].clone());
        out.insert("Images".into(), full["Images"].clone());
    }
    if want("container") {
        out.insert("Containers".into(), full["Containers"].clone());
    }
    if want("volume") {
        out.insert("Volumes".into(), Value::Array(b.volume_disk_usage().await?));
    }
    if want("build-cache") {
        out.insert(
            "BuildCache".into(),
            full.get("BuildCache").cloned().unwrap_or_else(|| json!([])),
        );
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}
