//! Human durations like go-units' `HumanDuration` ("Less than a second", "About a minute",
//! "3 hours", "2 weeks"), used for `CREATED … ago` columns.

use std::time::Duration;

pub use berth_types::units::human_duration;

/// "N units ago" for a Unix timestamp relative to `now` (both in seconds).
pub fn ago(created: i64, now: i64) -> String {
    let d = Duration::from_secs(now.saturating_sub(created).max(0) as u64);
    format!("{} ago", human_duration(d))
}

/// Go's `time.Time.String()` of a Unix timestamp in UTC: `2006-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> String {
        human_duration(Duration::from_secs(n))
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(s(1), "1 second");
        assert_eq!(s(5), "5 seconds");
        assert_eq!(s(60), "About a minute");
        assert_eq!(s(119), "About a minute");
        assert_eq!(s(120), "2 minutes");
        assert_eq!(s(3600), "About an hour");
        assert_eq!(s(3 * 3600), "3 hours");
        assert_eq!(s(47 * 3600), "47 hours");
        assert_eq!(s(48 * 3600), "2 days");
        assert_eq!(s(15 * 24 * 3600), "2 weeks");
        assert_eq!(s(70 * 24 * 3600), "2 months");
        assert_eq!(s(800 * 24 * 3600), "2 years");
        assert_eq!(ago(100, 105), "5 seconds ago");
    }

    #[test]
    fn go_time_format() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
