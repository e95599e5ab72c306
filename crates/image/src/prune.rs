//! `image prune`: removes dangling images (no tag left), or with `all` every image no container
//! uses, narrowed by the `until` and `label` filters.

use std::collections::HashMap;

use berth_types::api::{ImageDeleteResponseItem, ImagePruneResponse};

use crate::error::{Error, Result};
use crate::store::unix_seconds;
use crate::ImageStore;

/// Docker's prune filters: `until=<timestamp|duration>`, `label=<k>[=<v>]`, `label!=<k>[=<v>]`.
pub type PruneFilters = HashMap<String, Vec<String>>;

impl ImageStore {
    /// Prunes images. `dangling_only` keeps every tagged image; otherwise every image that
    /// `in_use` does not claim goes. Each pruned image loses all its names first (an image with
    /// tags in several repositories is still pruned: that is what `-a` asks for).
    pub fn prune(
        &self,
        dangling_only: bool,
        filters: &PruneFilters,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<ImagePruneResponse> {
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(v) => Some(parse_until(v)?),
            None => None,
        };
        for key in filters.keys() {
            if !matches!(key.as_str(), "until" | "label" | "label!" | "dangling") {
                return Err(Error::InvalidFilter(format!("invalid filter '{key}'")));
            }
        }
        let mut dangling_only = dangling_only;
        if let Some(v) = filters.get("dangling").and_then(|v| v.first()) {
            dangling_only = matches!(v.as_str(), "true" | "1");
        }
        let mut deleted: Vec<ImageDeleteResponseItem> = Vec::new();
        let mut reclaimed = 0i64;
        // A parent can only go once its children have: repeat until a pass removes nothing.
        let mut progress = true;
        while progress {
            progress = false;
            for row in self.db.list_images()? {
                if in_use(&row.id) {
                    continue;
                }
                // Gone already with a child pruned earlier in this pass (a build's chain).
                if self.db.get_image(&row.id)?.is_none() {
                    continue;
                }
                let rec = self.record(row)?;
                if dangling_only && !rec.repo_tags.is_empty() {
                    continue;
                }
                // Intermediate images go with their children, never before them.
                if self.has_children(&rec.id)? {
                    continue;
                }
                if let Some(until) = until {
                    let created = rec.row.created.as_deref().map_or(0, unix_seconds);
                    if created >= until {
                        continue;
                    }
                }
                if filters.contains_key("label") || filters.contains_key("label!") {
                    let labels = self
                        .config(&rec.id)
                        .ok()
                        .and_then(|c| c.config)
                        .and_then(|c| c.labels)
                        .unwrap_or_default();
                    let has = |f: &String| match f.split_once('=') {
                        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                        None => labels.contains_key(f),
                    };
                    let pos = filters.get("label").is_none_or(|fs| fs.iter().all(has));
                    let neg = filters.get("label!").is_none_or(|fs| !fs.iter().any(has));
                    if !(pos && neg) {
                        continue;
                    }
                }
                for t in self.db.tags_for_image(&rec.id)? {
                    self.db.delete_tag(&t)?;
                    deleted.push(ImageDeleteResponseItem {
                        untagged: Some(crate::reference::familiar(&t)),
                        deleted: None,
                    });
                }
                let (items, bytes) = self.delete_image(&rec)?;
                deleted.extend(items);
                reclaimed += bytes;
                let (items, bytes) = self.prune_parents(&rec.row.parent, in_use)?;
                deleted.extend(items);
                reclaimed += bytes;
                progress = true;
            }
        }
        Ok(ImagePruneResponse {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }
}

/// Docker's `until` value: a Unix timestamp (`1700000000[.5]`), an RFC 3339 time or date, or a
/// Go duration before now (`24h`, `1h30m`, `90s`). Returns Unix seconds.
pub fn parse_until(v: &str) -> Result<i64> {
    let bad = || Error::InvalidFilter(format!("invalid filter 'until={v}'"));
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(secs as i64);
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    if let Ok(t) = time::OffsetDateTime::parse(&format!("{v}T00:00:00Z"), &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let secs = parse_go_duration(v).ok_or_else(bad)?;
    Ok(time::OffsetDateTime::now_utc().unix_timestamp() - secs)
}

/// A Go duration (`1h30m`, `10s`, `1.5h`) in whole seconds.
fn parse_go_duration(v: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_values() {
        assert_eq!(parse_until("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let t = parse_until("1h30m").unwrap();
        assert!((now - 5400 - t).abs() <= 2, "{t}");
        assert!(parse_until("soon").is_err());
        assert!(parse_until("10x").is_err());
    }
}
