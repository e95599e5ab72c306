//! `ps` / `container ls` and the filters it shares with `container prune`.

use berth_api::backend::{Filters, ListOptions};
use berth_types::api::{ContainerSummary, ContainerSummaryHostConfig};

use super::{parse_rfc3339, Container, Status};
use crate::error::{Error, Result};
use crate::Daemon;

const LIST_FILTERS: &[&str] = &[
    "status",
    "name",
    "id",
    "label",
    "ancestor",
    "exited",
    "before",
    "since",
    "health",
    "isolation",
    "network",
    "publish",
    "expose",
    "volume",
    "is-task",
];

fn label_matches(c: &Container, want: &str) -> bool {
    let labels = c.config.labels.as_ref();
    match want.split_once('=') {
        Some((k, v)) => labels.and_then(|l| l.get(k)).is_some_and(|x| x == v),
        None => labels.is_some_and(|l| l.contains_key(want)),
    }
}

impl Daemon {
    pub async fn list_containers(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        for key in opts.filters.keys() {
            if !LIST_FILTERS.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let mut all: Vec<Container> = self.containers.all().iter().map(|e| e.snapshot()).collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        let position = |key: &str| -> Result<Option<String>> {
            match opts.filters.get(key).and_then(|v| v.first()) {
                None => Ok(None),
                Some(k) => Ok(Some(self.containers.lookup(k)?.snapshot().created)),
            }
        };
        let before = position("before")?;
        let since = position("since")?;
        let status_filter = opts.filters.get("status").filter(|v| !v.is_empty());
        let mut out = Vec::new();
        for c in all {
            let shown_by_default = c.state.status.is_running();
            if !opts.all
                && !shown_by_default
                && status_filter.is_none()
                && before.is_none()
                && since.is_none()
            {
                continue;
            }
            if before.as_ref().is_some_and(|b| c.created >= *b)
                || since.as_ref().is_some_and(|s| c.created <= *s)
            {
                continue;
            }
            if !self.matches_filters(&c, &opts.filters)? {
                continue;
            }
            out.push(self.summary(&c, opts.size));
            if opts.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn matches_filters(&self, c: &Container, filters: &Filters) -> Result<bool> {
        for (key, values) in filters {
            if values.is_empty() {
                continue;
            }
            let ok = match key.as_str() {
                "status" => {
                    for v in values {
                        if ![
                            "created",
                            "restarting",
                            "running",
                            "removing",
                            "paused",
                            "exited",
                            "dead",
                        ]
                        .contains(&v.as_str())
                        {
                            return Err(Error::InvalidArgument(format!(
                                "invalid filter 'status={v}'"
                            )));
                        }
                    }
                    values.iter().any(|v| v == c.state.status.as_str())
                }
                "name" => values.iter().any(|v| name_matches(&c.name, v)),
                "id" => values.iter().any(|v| c.id.starts_with(v.as_str())),
                "label" => values.iter().all(|v| label_matches(c, v)),
                "ancestor" => values.iter().any(|v| self.ancestor_matches(c, v)),
                "exited" => {
                    let mut any = false;
                    for v in values {
                        let code: i64 = v.parse().map_err(|_| {
                            Error::InvalidArgument(format!("invalid filter 'exited={v}'"))
                        })?;
                        any |= c.state.status == Status::Exited && c.state.exit_code == code;
                    }
                    any
                }
                "before" | "since" => true,
                "health" => {
                    for v in values {
                        if !["starting", "healthy", "unhealthy", "none"].contains(&v.as_str()) {
                            return Err(Error::InvalidArgument(format!(
                                "Unrecognised filter value for health: {v}"
                            )));
                        }
                    }
                    let h = c
                        .health
                        .as_ref()
                        .map(|h| h.status.as_str())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("none");
                    values.iter().any(|v| v == h)
                }
                // Docker matches a volume's name, a mount's destination or a bind's source.
                "volume" => values.iter().any(|v| {
                    c.mount_points.iter().any(|m| {
                        m.name == *v
                            || m.destination == *v
                            || (m.kind == berth_volume::MountKind::Bind && m.source == *v)
                    })
                }),
                // Filters of later milestones (network, publish, expose) match
                // nothing yet rather than everything.
                _ => false,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn ancestor_matches(&self, c: &Container, v: &str) -> bool {
        if c.config.image.as_deref() == Some(v) {
            return true;
        }
        match self.images.resolve(v) {
            Ok(r) => r.id == c.image_id,
            Err(_) => false,
        }
    }

    fn summary(&self, c: &Container, size: bool) -> ContainerSummary {
        // Docker quotes arguments that contain a space, so the column reads like a shell line.
        let mut command = c.path.clone();
        for a in &c.args {
            command.push(' ');
            if a.contains(' ') {
                command.push_str(&format!("'{a}'"));
            } else {
                command.push_str(a);
            }
        }
        let created = parse_rfc3339(&c.created)
            .map(|t| t.unix_timestamp())
            .unwrap_or(0);
        let now = time::OffsetDateTime::now_utc();
        let size_rw = if size {
            self.images
                .snapshotter()
                .usage(&c.id)
                .ok()
                .map(|s| s as i64)
        } else {
            None
        };
        let size_root = if size {
            Some(size_rw.unwrap_or(0) + crate::rootfs::image_size(&self.images, &c.image_id))
        } else {
            None
        };
        ContainerSummary {
            id: Some(c.id.clone()),
            names: Some(vec![format!("/{}", c.name)]),
            image: c.config.image.clone(),
            image_id: Some(c.image_id.clone()),
            command: Some(command),
            created: Some(created),
            ports: Some(crate::network::port_summaries(c)),
            size_rw,
            size_root_fs: size_root,
            labels: c.config.labels.clone(),
            state: serde_json::from_value(serde_json::json!(c.state.status.as_str())).ok(),
            status: Some(super::status::status_line(c, now)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: c.host_config.network_mode.clone(),
                ..Default::default()
            }),
            mounts: serde_json::from_value(super::inspect::mounts_json(c)).ok(),
            ..Default::default()
        }
    }
}

/// Docker matches `name` filters as a regular expression against `/name`; we support the
/// common forms: substring, `^prefix`, `suffix$`, `^exact$`.
fn name_matches(name: &str, pattern: &str) -> bool {
    let full = format!("/{name}");
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    let candidates = [full.as_str(), name];
    candidates
        .iter()
        .any(|n| match (anchored_start, anchored_end) {
            (true, true) => *n == p,
            (true, false) => n.starts_with(p),
            (false, true) => n.ends_with(p),
            (false, false) => n.contains(p),
        })
}

/// `container prune` accepts `label`, `label!` and `until`.
pub(crate) fn matches_prune_filters(c: &Container, filters: &Filters) -> Result<bool> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "label" => values.iter().all(|v| label_matches(c, v)),
            "label!" => values.iter().all(|v| !label_matches(c, v)),
            "until" => {
                let created = parse_rfc3339(&c.created)
                    .map(|t| t.unix_timestamp())
                    .unwrap_or(0);
                values.iter().all(|v| match v.parse::<f64>() {
                    Ok(ts) => (created as f64) < ts,
                    Err(_) => parse_rfc3339(v).is_some_and(|t| created < t.unix_timestamp()),
                })
            }
            other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filter_forms() {
        assert!(name_matches("web_1", "web"));
        assert!(name_matches("web_1", "^web"));
        assert!(name_matches("web_1", "^/web_1$"));
        assert!(name_matches("web_1", "_1$"));
        assert!(!name_matches("web_1", "^db"));
        assert!(!name_matches("web_1", "^web$"));
    }
}
