//! `GET /v2/_catalog` with `n`/`last` pagination, and the pagination both listings share.

use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use crate::error::{Error, Result};
use crate::server::{json_resp, query, query_get, Registry, Resp};

/// distribution's catalog defaults: 100 entries unless `n` says otherwise, at most 1000.
const CATALOG_DEFAULT: usize = 100;
const CATALOG_MAX: usize = 1000;

pub(crate) struct Page {
    pub items: Vec<String>,
    /// The query string of the next page, when there is one.
    pub next: Option<String>,
}

/// Takes the entries after `last` (exclusive, lexical order), at most `n` of them. `default`
/// applies when `n` is absent (`usize::MAX`: all).
pub(crate) fn page(sorted: Vec<String>, req: &Request<Incoming>, default: usize) -> Result<Page> {
    let q = query(req);
    let n = match query_get(&q, "n") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Error::PaginationNumberInvalid(format!("n={v}")))?,
        None => default,
    };
    let last = query_get(&q, "last").unwrap_or("");
    let mut rest: Vec<String> = sorted
        .into_iter()
        .filter(|t| last.is_empty() || t.as_str() > last)
        .collect();
    let more = rest.len() > n;
    rest.truncate(n);
    let next = match (more, rest.last()) {
        (true, Some(l)) => Some(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("last", l)
                .append_pair("n", &n.to_string())
                .finish(),
        ),
        _ => None,
    };
    Ok(Page { items: rest, next })
}

pub(crate) fn list(reg: &Registry, req: &Request<Incoming>) -> Result<Resp> {
    let q = query(req);
    if let Some(n) = query_get(&q, "n").and_then(|v| v.parse::<usize>().ok()) {
        if n > CATALOG_MAX {
            return Err(Error::PaginationNumberInvalid(format!(
                "n={n} is more than {CATALOG_MAX}"
            )));
        }
    }
    let Page { items, next } = page(reg.repos.list(), req, CATALOG_DEFAULT)?;
    let mut r = json_resp(200, &json!({ "repositories": items }))?;
    if let Some(q) = next {
        let link = format!("</v2/_catalog?{q}>; rel=\"next\"");
        r.headers_mut().insert(
            "Link",
            link.parse()
                .map_err(|_| Error::Internal("link header".into()))?,
        );
    }
    Ok(r)
}
