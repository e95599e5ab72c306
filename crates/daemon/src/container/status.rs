//! The `Status` column of `docker ps`: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".

use super::{parse_rfc3339, Container, Status};

fn human_duration(d: time::Duration) -> String {
    berth_types::units::human_duration(d.unsigned_abs())
}

fn since(ts: &str, now: time::OffsetDateTime) -> time::Duration {
    parse_rfc3339(ts)
        .map(|t| now - t)
        .unwrap_or(time::Duration::ZERO)
}

pub fn status_line(c: &Container, now: time::OffsetDateTime) -> String {
    let s = &c.state;
    match s.status {
        Status::Running => {
            let up = human_duration(since(&s.started_at, now));
            match c.health.as_ref().map(|h| h.status.as_str()) {
                Some(super::health::STARTING) => format!("Up {up} (health: starting)"),
                Some(h) if !h.is_empty() => format!("Up {up} ({h})"),
                _ => format!("Up {up}"),
            }
        }
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&s.started_at, now))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(since(&s.finished_at, now))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if s.finished_at.is_empty() {
                "Created".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    s.exit_code,
                    human_duration(since(&s.finished_at, now))
                )
            }
        }
    }
}
