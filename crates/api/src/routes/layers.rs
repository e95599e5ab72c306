//! `GET /images/{name}/layers` — a Berth extension, not in Docker's API: the layer-waste report
//! of an image (see `berth_types::waste::LayerReport` and docs/layer-waste.md). Reached through
//! the `/images/{*rest}` route, whose last segment selects it.

use axum::http::StatusCode;
use axum::response::Response;

use super::{json_response, AppState};
use crate::ApiError;

pub(super) async fn get(b: AppState, name: &str) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &b.image_layers(name).await?))
}
