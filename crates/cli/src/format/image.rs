//! The fields `images --format` offers (docker's `imageContext`): one row per repository:tag of
//! each `GET /images/json` entry.

use serde_json::{json, Map, Value};

use super::{duration, size};

/// `docker images`'s default table, and the one with `--digests`.
pub const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Column headers, keyed by field.
pub fn headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "SIZE",
    })
}

/// The rows of one image: each tag (or `<none>:<none>`), like docker's image formatter.
pub fn rows(img: &Value, trunc: bool, now: i64) -> Vec<Value> {
    let tags: Vec<&str> = img
        .get("RepoTags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "<none>:<none>")
                .collect()
        })
        .unwrap_or_default();
    let digests: Vec<&str> = img
        .get("RepoDigests")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|d| *d != "<none>@<none>")
                .collect()
        })
        .unwrap_or_default();
    let digest_for = |repo: &str| -> String {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })
            .unwrap_or_else(|| "<none>".into())
    };
    let mut out = Vec::new();
    if tags.is_empty() {
        if digests.is_empty() {
            out.push(row(img, "<none>", "<none>", "<none>".into(), trunc, now));
        }
        for d in &digests {
            let (repo, dg) = d.split_once('@').unwrap_or((d, "<none>"));
            out.push(row(img, repo, "<none>", dg.to_string(), trunc, now));
        }
    }
    for t in &tags {
        // The tag separator is the last `:` after the last `/` (a registry port is not a tag).
        let slash = t.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match t[slash..].rfind(':') {
            Some(i) => (&t[..slash + i], &t[slash + i + 1..]),
            None => (*t, "<none>"),
        };
        out.push(row(img, repo, tag, digest_for(repo), trunc, now));
    }
    out
}

fn row(img: &Value, repo: &str, tag: &str, digest: String, trunc: bool, now: i64) -> Value {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let n = |k: &str| img.get(k).and_then(Value::as_i64).unwrap_or(-1);
    let na_or = |v: i64, f: &dyn Fn(i64) -> String| if v < 0 { "N/A".to_string() } else { f(v) };
    let sz = n("Size").max(0);
    let shared = n("SharedSize");
    let mut m = Map::new();
    m.insert(
        "ID".into(),
        (if trunc {
            berth_types::id::short_id(id)
        } else {
            id
        })
        .into(),
    );
    m.insert("Repository".into(), repo.into());
    m.insert("Tag".into(), tag.into());
    m.insert("Digest".into(), digest.into());
    m.insert("CreatedSince".into(), duration::ago(created, now).into());
    m.insert("CreatedAt".into(), duration::go_time_string(created).into());
    m.insert("Size".into(), size::docker_size(sz).into());
    m.insert("VirtualSize".into(), size::human_size(sz as f64).into());
    m.insert(
        "Containers".into(),
        na_or(n("Containers"), &|v| v.to_string()).into(),
    );
    m.insert(
        "SharedSize".into(),
        na_or(shared, &size::docker_size).into(),
    );
    m.insert(
        "UniqueSize".into(),
        (if shared < 0 {
            "N/A".to_string()
        } else {
            size::docker_size(sz - shared)
        })
        .into(),
    );
    super::sorted_object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_tag_and_none() {
        let img = json!({
            "Id": "sha256:e5ea7fbafa8c0123456789", "RepoTags": ["busybox:latest", "localhost:5000/b:1"],
            "RepoDigests": [], "Created": 0, "Size": 1978000, "SharedSize": -1, "Containers": -1
        });
        let r = rows(&img, true, 240);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["Repository"], "busybox");
        assert_eq!(r[0]["Tag"], "latest");
        assert_eq!(r[0]["ID"], "e5ea7fbafa8c");
        assert_eq!(r[0]["Size"], "1.98MB");
        assert_eq!(r[0]["VirtualSize"], "1.978MB");
        assert_eq!(r[0]["CreatedSince"], "4 minutes ago");
        assert_eq!(r[0]["Containers"], "N/A");
        assert_eq!(r[0]["Digest"], "<none>");
        assert_eq!(r[1]["Repository"], "localhost:5000/b");
        assert_eq!(r[1]["Tag"], "1");
        let none = json!({"Id": "sha256:ab", "RepoTags": null, "Created": 0, "Size": 0});
        let r = rows(&none, false, 0);
        assert_eq!(
            (r[0]["Repository"].as_str(), r[0]["Tag"].as_str()),
            (Some("<none>"), Some("<none>"))
        );
        assert_eq!(r[0]["ID"], "sha256:ab");
    }
}
