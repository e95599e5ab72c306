//! The `Status` column of `docker ps`: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".

use super::{parse_rfc3339, Container, Status};

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.whole_minutes();
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.as_seconds_f64() / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

fn since(ts: &str, now: time::OffsetDateTime) -> time::Duration {
    parse_rfc3339(ts)
        .map(|t| now - t)
        .unwrap_or(time::Duration::ZERO)
}

pub fn status_line(c: &Container, now: time::OffsetDateTime) -> String {
    let s = &c.state;
    match s.status {
        Status::Running => format!("Up {}", human_duration(since(&s.started_at, now))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn human_durations_match_docker() {
        assert_eq!(
            human_duration(Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::seconds(1)), "1 second");
        assert_eq!(human_duration(Duration::seconds(45)), "45 seconds");
        assert_eq!(human_duration(Duration::seconds(90)), "About a minute");
        assert_eq!(human_duration(Duration::minutes(5)), "5 minutes");
        assert_eq!(human_duration(Duration::minutes(61)), "About an hour");
        assert_eq!(human_duration(Duration::hours(5)), "5 hours");
        assert_eq!(human_duration(Duration::days(3)), "3 days");
        assert_eq!(human_duration(Duration::days(20)), "2 weeks");
        assert_eq!(human_duration(Duration::days(90)), "3 months");
        assert_eq!(human_duration(Duration::days(800)), "2 years");
    }
}
