//! `POST /build` (the legacy builder's API, which the docker CLI without buildx and docker-py
//! use) and `POST /build/prune`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_types::ErrorKind;
use futures_util::StreamExt;

use super::{flag, json_response, parse_filters, stream_response, AppState};
use crate::backend::{BuildOptions, BuildPruneOptions, ByteStream};
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

type Pairs = Query<Vec<(String, String)>>;

fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async { r.ok() })
        .boxed()
}

async fn build(
    State(b): State<AppState>,
    Query(pairs): Pairs,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = parse_build_options(&pairs, &headers)?;
    let stream = b.build(opts, body_stream(body)).await?;
    Ok(stream_response("application/json", stream))
}

/// Every query parameter Docker's `newImageBuildOptions` reads, plus Berth's `nocachefilter`.
pub(crate) fn parse_build_options(
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<BuildOptions, ApiError> {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    };
    let text = |k: &str| q.get(k).filter(|s| !s.is_empty()).cloned();
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        match q.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    };
    match q.get("version").map(String::as_str) {
        None | Some("") | Some("1") => {}
        Some("2") => {
            return Err(ApiError::new(
                ErrorKind::NotImplemented,
                "BuildKit sessions are not supported; use the legacy builder (DOCKER_BUILDKIT=0)",
            ))
        }
        Some(v) => return Err(ApiError::bad_request(format!("invalid version {v}"))),
    }
    if !all("securityopt").is_empty() {
        return Err(ApiError::bad_request(
            "The daemon on this platform does not support setting security options on build",
        ));
    }
    if flag(&q, "squash") {
        return Err(ApiError::new(
            ErrorKind::NotImplemented,
            "squash is not supported by Berth's builder",
        ));
    }
    if text("session").is_some() {
        return Err(ApiError::new(
            ErrorKind::NotImplemented,
            "BuildKit sessions are not supported; use the legacy builder (DOCKER_BUILDKIT=0)",
        ));
    }
    let build_args: HashMap<String, Option<String>> = match text("buildargs") {
        None => HashMap::new(),
        Some(j) => serde_json::from_str(&j)
            .map_err(|e| ApiError::bad_request(format!("error reading build args: {e}")))?,
    };
    let labels: HashMap<String, String> = match text("labels") {
        None => HashMap::new(),
        Some(j) => serde_json::from_str(&j)
            .map_err(|e| ApiError::bad_request(format!("error reading labels: {e}")))?,
    };
    let split = |k: &str| -> Vec<String> {
        all(k)
            .iter()
            .flat_map(|v| v.split(',').map(str::trim).map(str::to_string))
            .filter(|s| !s.is_empty())
            .collect()
    };
    // `rm` defaults to true; `forcerm` implies it.
    let force_remove = flag(&q, "forcerm");
    let remove = force_remove || q.get("rm").is_none_or(|v| v.is_empty()) || flag(&q, "rm");
    let shm_size = int("shmsize")?;
    if shm_size.is_some_and(|s| s < 0) {
        return Err(ApiError::bad_request("invalid shmsize: must be positive"));
    }
    Ok(BuildOptions {
        dockerfile: text("dockerfile"),
        tags: all("t"),
        remote: text("remote"),
        quiet: flag(&q, "q"),
        no_cache: flag(&q, "nocache"),
        no_cache_filter: split("nocachefilter"),
        pull: flag(&q, "pull"),
        remove,
        force_remove,
        build_args,
        labels,
        target: text("target"),
        platform: text("platform"),
        network_mode: text("networkmode"),
        extra_hosts: split("extrahosts"),
        shm_size,
        memory: int("memory")?,
        memory_swap: int("memswap")?,
        cpu_shares: int("cpushares")?,
        cpuset_cpus: text("cpusetcpus"),
        cpu_period: int("cpuperiod")?,
        cpu_quota: int("cpuquota")?,
        registry_config: headers
            .get("X-Registry-Config")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

async fn prune(State(b): State<AppState>, Query(pairs): Pairs) -> Result<Response, ApiError> {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let mut keep_storage = None;
    // `keep-storage` (API < 1.48) and its successor `reserved-space`.
    for k in ["keep-storage", "reserved-space"] {
        if let Some(v) = q.get(k).filter(|s| !s.is_empty()) {
            let n: u64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}")))?;
            keep_storage = Some(n);
        }
    }
    let opts = BuildPruneOptions {
        all: flag(&q, "all"),
        keep_storage,
        filters: parse_filters(&q)?,
    };
    let resp = b.build_prune(opts).await?;
    Ok(json_response(StatusCode::OK, &resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Vec<(String, String)> {
        form_pairs(q)
    }

    fn form_pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn parses_every_docker_parameter() {
        let mut h = HeaderMap::new();
        h.insert("X-Registry-Config", "e30=".parse().unwrap());
        let o = parse_build_options(
            &p("t=a:1&t=b&dockerfile=sub/Df&q=1&nocache=1&pull=1&rm=0&target=final&platform=linux/amd64&networkmode=host&extrahosts=h1:1.2.3.4&extrahosts=h2:5.6.7.8,h3:9.9.9.9&shmsize=1024&memory=100&memswap=200&cpushares=3&cpusetcpus=0-1&cpuperiod=1000&cpuquota=500&nocachefilter=a,b&remote=https://x/y.git"),
            &h,
        )
        .unwrap();
        assert_eq!(o.tags, vec!["a:1", "b"]);
        assert_eq!(o.dockerfile.as_deref(), Some("sub/Df"));
        assert!(o.quiet && o.no_cache && o.pull && !o.remove && !o.force_remove);
        assert_eq!(o.target.as_deref(), Some("final"));
        assert_eq!(
            o.extra_hosts,
            vec!["h1:1.2.3.4", "h2:5.6.7.8", "h3:9.9.9.9"]
        );
        assert_eq!(o.shm_size, Some(1024));
        assert_eq!((o.memory, o.memory_swap), (Some(100), Some(200)));
        assert_eq!(
            (o.cpu_shares, o.cpu_period, o.cpu_quota),
            (Some(3), Some(1000), Some(500))
        );
        assert_eq!(o.cpuset_cpus.as_deref(), Some("0-1"));
        assert_eq!(o.no_cache_filter, vec!["a", "b"]);
        assert_eq!(o.remote.as_deref(), Some("https://x/y.git"));
        assert_eq!(o.registry_config.as_deref(), Some("e30="));
        assert_eq!(o.network_mode.as_deref(), Some("host"));
    }

    #[test]
    fn defaults_and_json_fields() {
        let mut pairs = p("forcerm=1");
        pairs.push(("buildargs".into(), r#"{"A":"1","B":null}"#.into()));
        pairs.push(("labels".into(), r#"{"l":"v"}"#.into()));
        let o = parse_build_options(&pairs, &HeaderMap::new()).unwrap();
        assert!(o.remove && o.force_remove);
        assert_eq!(o.build_args["A"].as_deref(), Some("1"));
        assert_eq!(o.build_args["B"], None);
        assert_eq!(o.labels["l"], "v");
        let o = parse_build_options(&[], &HeaderMap::new()).unwrap();
        assert!(o.remove && !o.quiet && o.tags.is_empty() && o.dockerfile.is_none());
    }

    #[test]
    fn refuses_what_berth_cannot_do() {
        let e = parse_build_options(&p("version=2"), &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, 501);
        assert!(e.message.contains("BuildKit"));
        assert_eq!(
            parse_build_options(&p("version=7"), &HeaderMap::new())
                .unwrap_err()
                .status,
            400
        );
        let pairs = vec![("buildargs".to_string(), "{nope".to_string())];
        assert_eq!(
            parse_build_options(&pairs, &HeaderMap::new())
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_build_options(&p("memory=lots"), &HeaderMap::new())
                .unwrap_err()
                .status,
            400
        );
    }
}
