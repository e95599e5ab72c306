//! `berth events`, and docker's time-argument parsing shared with `logs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::error::{CliError, Result};
use crate::format::template::{Format, Value};
use crate::Ctx;

/// `berth events [OPTIONS]`
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
}

/// Parses a Go duration (`1h30m`, `10s`, `1.5h`, `300ms`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// docker's `timetypes.GetTimestamp`: a duration means "that long before now", a number is a
/// Unix timestamp, else an RFC 3339 date (or a date without zone, taken as UTC). The result is
/// the `seconds.nanoseconds` string the API takes.
pub fn get_timestamp(value: &str, now: SystemTime) -> std::result::Result<String, String> {
    if let Some(d) = parse_go_duration(value) {
        let t = now.checked_sub(d).unwrap_or(UNIX_EPOCH);
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        return Ok(format!("{}.{:09}", since.as_secs(), since.subsec_nanos()));
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .or_else(|| {
            let with_zone = if value.len() == 10 {
                format!("{value}T00:00:00Z")
            } else {
                format!("{value}Z")
            };
            time::OffsetDateTime::parse(&with_zone, &Rfc3339).ok()
        });
    match parsed {
        Some(t) => Ok(format!("{}.{:09}", t.unix_timestamp(), t.nanosecond())),
        None => Err(format!(
            "failed to parse value as time or duration: \"{value}\""
        )),
    }
}

/// RFC 3339 with nine fractional digits, as docker's `RFC3339NanoFixed` in UTC.
fn rfc3339_nano_fixed(nanos: i128) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond()
        ),
        Err(_) => nanos.to_string(),
    }
}

/// The default one-line rendering of an event.
pub fn pretty_event(e: &Value) -> String {
    let mut out = String::new();
    let int = |k: &str| match e.get(k) {
        Some(Value::Int(i)) => *i as i128,
        _ => 0,
    };
    let (nanos, secs) = (int("timeNano"), int("time"));
    if nanos != 0 {
        out.push_str(&rfc3339_nano_fixed(nanos));
        out.push(' ');
    } else if secs != 0 {
        out.push_str(&rfc3339_nano_fixed(secs * 1_000_000_000));
        out.push(' ');
    }
    let s = |v: Option<&Value>| match v {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let actor = e.get("Actor");
    let id = s(actor.and_then(|a| a.get("ID")));
    out.push_str(&format!(
        "{} {} {}",
        s(e.get("Type")),
        s(e.get("Action")),
        id
    ));
    if let Some(Value::Map(attrs)) = actor.and_then(|a| a.get("Attributes")) {
        if !attrs.is_empty() {
            let mut kv: Vec<String> = attrs
                .iter()
                .map(|(k, v)| format!("{k}={}", s(Some(v))))
                .collect();
            kv.sort();
            out.push_str(&format!(" ({})", kv.join(", ")));
        }
    }
    out
}

pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result {
    let now = SystemTime::now();
    let since = a
        .since
        .as_deref()
        .map(|v| get_timestamp(v, now))
        .transpose()
        .map_err(CliError::local)?;
    let until = a
        .until
        .as_deref()
        .map(|v| get_timestamp(v, now))
        .transpose()
        .map_err(CliError::local)?;
    let filters = super::filters_json(&a.filter).map_err(CliError::local)?;
    let tmpl = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => Some(Format::parse(f).map_err(CliError::local)?),
        None => None,
    };
    let mut stream = ctx
        .client
        .events::<Value>(since.as_deref(), until.as_deref(), filters.as_deref())
        .await?;
    while let Some(ev) = stream.next().await? {
        let line = match &tmpl {
            Some(t) => t.render_value(&ev).map_err(CliError::local)?,
            None => pretty_event(&ev),
        };
        use std::io::Write;
        let mut o = std::io::stdout();
        // A reader that went away (`| head`) ends the stream quietly, as in docker.
        if writeln!(o, "{line}").and_then(|_| o.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("x"), None);
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(get_timestamp("10s", now).unwrap(), "990.000000000");
        assert_eq!(get_timestamp("1234", now).unwrap(), "1234");
        assert_eq!(
            get_timestamp("1970-01-01T00:01:00Z", now).unwrap(),
            "60.000000000"
        );
        assert_eq!(get_timestamp("1970-01-02", now).unwrap(), "86400.000000000");
        assert!(get_timestamp("yesterday", now).is_err());
    }

    #[test]
    fn events_print_like_docker() {
        let e = Value::from(
            &json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "busybox"}},
                       "time": 1, "timeNano": 1_000_000_005i64}),
        );
        assert_eq!(
            pretty_event(&e),
            "1970-01-01T00:00:01.000000005Z container start abc (image=busybox, name=x)"
        );
    }
}
