//! `--change` instructions for import (and later commit): the Dockerfile instructions Docker
//! allows there, applied to an image's run-time config.

use berth_types::api::ContainerConfig;

use crate::error::{Error, Result};

/// Applies each change (one Dockerfile instruction per line) to `cfg`, in order.
pub fn apply_changes(cfg: &mut ContainerConfig, changes: &[String]) -> Result<()> {
    for change in changes {
        for line in change
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            apply_one(cfg, line)?;
        }
    }
    Ok(())
}

fn apply_one(cfg: &mut ContainerConfig, line: &str) -> Result<()> {
    let (instr, rest) = match line.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (line, ""),
    };
    let err = |reason: &str| Error::InvalidChange {
        change: line.to_string(),
        reason: reason.to_string(),
    };
    let upper = instr.to_ascii_uppercase();
    if rest.is_empty() {
        return Err(err(&format!("{upper} requires at least one argument")));
    }
    match upper.as_str() {
        "CMD" => cfg.cmd = Some(exec_or_shell(rest)),
        "ENTRYPOINT" => cfg.entrypoint = Some(exec_or_shell(rest)),
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest).map_err(|r| err(&r))? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values(rest).map_err(|r| err(&r))? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(Vec::new);
            for w in words(rest).map_err(|r| err(&r))? {
                for p in expand_port(&w).map_err(|r| err(&r))? {
                    if !ports.contains(&p) {
                        ports.push(p);
                    }
                }
            }
        }
        "VOLUME" => {
            let vols = match json_array(rest) {
                Some(v) => v,
                None => words(rest).map_err(|r| err(&r))?,
            };
            let set = cfg.volumes.get_or_insert_with(Vec::new);
            for v in vols {
                if v.trim().is_empty() {
                    return Err(err("VOLUME specified can not be an empty string"));
                }
                if !set.contains(&v) {
                    set.push(v);
                }
            }
        }
        "USER" => cfg.user = Some(rest.to_string()),
        "WORKDIR" => {
            let dir = if rest.starts_with('/') {
                rest.to_string()
            } else {
                let base = cfg
                    .working_dir
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| "/".into());
                format!("{}/{rest}", base.trim_end_matches('/'))
            };
            cfg.working_dir = Some(dir);
        }
        "STOPSIGNAL" => {
            let ok = rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-'));
            if !ok {
                return Err(err("invalid signal"));
            }
            cfg.stop_signal = Some(rest.to_string());
        }
        "ONBUILD" => {
            let inner = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(err(&format!("{inner} isn't allowed as an ONBUILD trigger")));
            }
            cfg.on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string());
        }
        _ => return Err(err(&format!("{instr} is not a valid change command"))),
    }
    Ok(())
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str(s).ok()
}

/// The exec (JSON array) form, or the shell form run through `/bin/sh -c`.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

/// Splits on unquoted whitespace, removing quotes and backslash escapes as Dockerfiles do.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => {
                            cur.push(chars.next().ok_or("trailing backslash")?)
                        }
                        Some(x) => cur.push(x),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"` pairs, or the legacy `key value with spaces` form.
fn key_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or("must have two arguments")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words(s)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not of the form key=value")),
        })
        .collect()
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, ...
fn expand_port(s: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match s.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (s, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?}"));
    }
    let num = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(format!("invalid port {p:?}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid port range {ports:?}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ContainerConfig> {
        let mut c = ContainerConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn every_allowed_instruction() {
        let c = apply(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/entry --flag",
            r#"ENV A=1 B="two words" C=x\ y"#,
            "ENV LEGACY some value",
            "env A=override",
            "EXPOSE 80 53/udp 8000-8001",
            r#"LABEL version="1.0" maintainer=me"#,
            "ONBUILD RUN echo hi",
            "USER nobody:nogroup",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "WORKDIR /app",
            "WORKDIR sub",
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint.unwrap(),
            ["/bin/sh", "-c", "/bin/entry --flag"]
        );
        assert_eq!(
            c.env.unwrap(),
            ["B=two words", "C=x y", "LEGACY=some value", "A=override"]
        );
        assert_eq!(
            c.exposed_ports.unwrap(),
            ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["version"], "1.0");
        assert_eq!(labels["maintainer"], "me");
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
        assert_eq!(c.user.unwrap(), "nobody:nogroup");
        assert_eq!(c.volumes.unwrap(), ["/data", "/logs", "/cache"]);
        assert_eq!(c.working_dir.unwrap(), "/app/sub");
        assert_eq!(c.stop_signal.unwrap(), "SIGINT");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for bad in [
            "RUN echo hi",
            "FROM busybox",
            "COPY a b",
            "CMD",
            "EXPOSE 70000",
            "EXPOSE 80/xyz",
            "ENV A=\"unterminated",
            "ENV lonely",
            "ONBUILD FROM x",
            "STOPSIGNAL $(reboot)",
        ] {
            assert!(apply(&[bad]).is_err(), "{bad:?} accepted");
        }
    }
}
