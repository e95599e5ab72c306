//! `GET /system/df`: disk usage. A minimal version built from the list calls (images,
//! containers) and the volumes with their `UsageData`; the images milestone owns its rewrite.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{json_response, AppState};
use crate::backend::{Filters, ListOptions};
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
    let mut out = serde_json::Map::new();
    if want("image") {
        let images = b.image_list(false, Filters::new(), false).await?;
        let layers: i64 = images.iter().map(|i| i.size).sum();
        out.insert("LayersSize".into(), json!(layers));
        out.insert("Images".into(), json!(images));
    }
    if want("container") {
        let containers = b
            .container_list(ListOptions {
                all: true,
                size: true,
                ..ListOptions::default()
            })
            .await?;
        out.insert("Containers".into(), json!(containers));
    }
    if want("volume") {
        out.insert("Volumes".into(), Value::Array(b.volume_disk_usage().await?));
    }
    if want("build-cache") {
        out.insert("BuildCache".into(), json!([]));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}
