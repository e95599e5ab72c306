//! `/containers/...`.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_types::api;
use futures_util::FutureExt;

use super::{flag, flag_or, json_response, no_content, parse_filters, stream_response, AppState};
use crate::backend::{AttachOptions, Changed, ListOptions, LogsOptions, WaitCondition};
use crate::{hijack, ApiError};

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/exec", post(super::exec::create))
        .route("/containers/{id}", delete(remove))
        .route(
            "/containers/{id}/{*rest}",
            axum::routing::any(unimplemented),
        )
}

async fn unimplemented(Path((_id, rest)): Path<(String, String)>) -> ApiError {
    ApiError::not_implemented(&format!("/containers/{{id}}/{rest}"))
}

pub(crate) fn parse_json_body<T: serde::de::DeserializeOwned + Default>(
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in request body: {e}")))
}

fn parse_opt_i64(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
    }
}

fn changed_response(c: Changed) -> Response {
    match c {
        Changed::Yes => no_content(),
        Changed::AlreadyInState => StatusCode::NOT_MODIFIED.into_response(),
    }
}

async fn list(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    let mut limit = parse_opt_i64(&q, "limit")?
        .filter(|n| *n > 0)
        .map(|n| n as usize);
    if flag(&q, "latest") {
        limit = Some(1);
    }
    let opts = ListOptions {
        all: flag(&q, "all") || limit.is_some(),
        limit,
        size: flag(&q, "size"),
        filters: parse_filters(&q)?,
    };
    Ok(json_response(
        StatusCode::OK,
        &b.container_list(opts).await?,
    ))
}

async fn create(State(b): State<AppState>, Query(q): Q, body: Bytes) -> Result<Response, ApiError> {
    let body: api::ContainerCreateBody = parse_json_body(&body)?;
    let name = q.get("name").filter(|s| !s.is_empty()).cloned();
    Ok(json_response(
        StatusCode::CREATED,
        &b.container_create(name, body).await?,
    ))
}

async fn prune(State(b): State<AppState>, Query(q): Q) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.container_prune(parse_filters(&q)?).await?,
    ))
}

async fn inspect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &b.container_inspect(&id, flag(&q, "size")).await?,
    ))
}

async fn top(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let ps_args = q.get("ps_args").filter(|s| !s.is_empty()).cloned();
    Ok(json_response(
        StatusCode::OK,
        &b.container_top(&id, ps_args).await?,
    ))
}

async fn stats(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let stream = flag_or(&q, "stream", true);
    let one_shot = flag(&q, "one-shot");
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let body = b.container_stats(&id, stream, one_shot).await?;
    Ok(stream_response("application/json", body))
}

async fn update(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: api::ContainerUpdateBody = if body.is_empty() {
        Default::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    Ok(json_response(
        StatusCode::OK,
        &b.container_update(&id, req).await?,
    ))
}

fn parse_time(q: &HashMap<String, String>, key: &str) -> Result<f64, ApiError> {
    match q.get(key).filter(|s| !s.is_empty()) {
        None => Ok(0.0),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
    }
}

async fn logs(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let opts = LogsOptions {
        follow: flag(&q, "follow"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        since: parse_time(&q, "since")?,
        until: parse_time(&q, "until")?,
        timestamps: flag(&q, "timestamps"),
        tail: match q.get("tail").map(String::as_str) {
            None | Some("") | Some("all") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n}")))?,
            ),
        },
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request("You must choose at least one stream"));
    }
    let (tty, stream) = b.container_logs(&id, opts).await?;
    Ok(stream_response(
        if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        },
        stream,
    ))
}

async fn start(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(changed_response(b.container_start(&id).await?))
}

async fn stop(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let signal = q.get("signal").filter(|s| !s.is_empty()).cloned();
    Ok(changed_response(
        b.container_stop(&id, signal, parse_opt_i64(&q, "t")?)
            .await?,
    ))
}

async fn restart(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let signal = q.get("signal").filter(|s| !s.is_empty()).cloned();
    b.container_restart(&id, signal, parse_opt_i64(&q, "t")?)
        .await?;
    Ok(no_content())
}

async fn kill(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    b.container_kill(&id, q.get("signal").filter(|s| !s.is_empty()).cloned())
        .await?;
    Ok(no_content())
}

async fn pause(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    b.container_pause(&id).await?;
    Ok(no_content())
}

async fn unpause(State(b): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    b.container_unpause(&id).await?;
    Ok(no_content())
}

async fn rename(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let name = q
        .get("name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    b.container_rename(&id, name).await?;
    Ok(no_content())
}

pub(crate) fn parse_size(q: &HashMap<String, String>) -> Result<(u16, u16), ApiError> {
    let get = |k: &str| -> Result<u16, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse::<u16>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v}")))
            })
            .unwrap_or(Ok(0))
    };
    Ok((get("h")?, get("w")?))
}

async fn resize(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (h, w) = parse_size(&q)?;
    b.container_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn wait(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let condition = match q.get("condition").map(String::as_str) {
        None | Some("") | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: \"{other}\""
            )))
        }
    };
    let fut = b.container_wait(&id, condition).await?;
    // The head goes out now; the body — the exit status — when the container gets there.
    let body = fut
        .map(|resp| {
            let mut v = serde_json::to_vec(&resp).unwrap_or_default();
            v.push(b'\n');
            Ok::<_, std::io::Error>(Bytes::from(v))
        })
        .into_stream();
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

async fn remove(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    b.container_remove(&id, flag(&q, "force"), flag(&q, "v"))
        .await?;
    Ok(no_content())
}

async fn attach(
    State(b): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    req: Request,
) -> Result<Response, ApiError> {
    let opts = AttachOptions {
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        logs: flag(&q, "logs"),
        stream: flag_or(&q, "stream", false),
        detach_keys: q.get("detachKeys").cloned(),
    };
    let attached = b.container_attach(&id, opts).await?;
    Ok(hijack::respond(req, attached))
}
