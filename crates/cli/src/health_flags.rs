//! The `--health-*` and `--no-healthcheck` flags of `run`/`create`, translated as the docker
//! CLI does: a healthcheck is sent only when one of them is given; `--health-cmd` becomes a
//! `CMD-SHELL` test, `--no-healthcheck` the `NONE` test; durations are Go durations.

use berth_client::api::HealthConfig;

use crate::container_config::CreateOptions;
use crate::error::{CliError, Result};

/// Parses a Go duration (`1s`, `500ms`, `1m30s`, `1.5h`, `0`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> std::result::Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        rest = &rest[unit_end..];
        total += value * unit;
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// The create body's `Healthcheck` for these flags (`None` when no health flag is given).
pub fn healthcheck(command: &str, o: &CreateOptions) -> Result<Option<HealthConfig>> {
    let dur = |flag: &str, v: &Option<String>| -> Result<i64> {
        match v {
            None => Ok(0),
            Some(v) => parse_go_duration(v).map_err(|why| {
                CliError::invalid_flag(
                    command,
                    format!("invalid argument \"{v}\" for \"--{flag}\" flag: {why}"),
                )
            }),
        }
    };
    let interval = dur("health-interval", &o.health_interval)?;
    let timeout = dur("health-timeout", &o.health_timeout)?;
    let start_period = dur("health-start-period", &o.health_start_period)?;
    let start_interval = dur("health-start-interval", &o.health_start_interval)?;
    let retries = o.health_retries.unwrap_or(0);
    let cmd = o.health_cmd.clone().unwrap_or_default();
    let have = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    let usage = |m: &str| CliError::invalid_flag(command, m.to_string());
    if o.no_healthcheck {
        if have {
            return Err(usage("--no-healthcheck conflicts with --health-* options"));
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !have {
        return Ok(None);
    }
    for (flag, v) in [
        ("--health-interval", interval),
        ("--health-timeout", timeout),
        ("--health-retries", retries),
        ("--health-start-period", start_period),
        ("--health-start-interval", start_interval),
    ] {
        if v < 0 {
            return Err(usage(&format!("{flag} cannot be negative")));
        }
    }
    Ok(Some(HealthConfig {
        test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".into(), cmd]),
        interval: Some(interval),
        timeout: Some(timeout),
        retries: Some(retries),
        start_period: Some(start_period),
        start_interval: Some(start_interval),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1s").unwrap(), 1_000_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("-2s").unwrap(), -2_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn flags_make_docker_healthchecks() {
        let o = CreateOptions {
            health_cmd: Some("true".into()),
            health_interval: Some("1s".into()),
            health_retries: Some(2),
            ..Default::default()
        };
        let hc = healthcheck("run", &o).unwrap().unwrap();
        assert_eq!(hc.test.unwrap(), vec!["CMD-SHELL", "true"]);
        assert_eq!(hc.interval, Some(1_000_000_000));
        assert_eq!(hc.retries, Some(2));
        assert!(healthcheck("run", &CreateOptions::default())
            .unwrap()
            .is_none());
        let none = CreateOptions {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(
            healthcheck("run", &none).unwrap().unwrap().test.unwrap(),
            vec!["NONE"]
        );
        let both = CreateOptions {
            no_healthcheck: true,
            health_retries: Some(1),
            ..Default::default()
        };
        assert!(healthcheck("run", &both).is_err());
        let neg = CreateOptions {
            health_timeout: Some("-1s".into()),
            ..Default::default()
        };
        assert!(healthcheck("run", &neg).is_err());
    }
}
