//! `RUN --mount=...` values (BuildKit's `commands_runmount.go`): CSV fields of `key=value`
//! (or bare `ro`/`rw`/`required`), with BuildKit's defaults and checks.

use crate::ast::{CacheSharing, MountType, RunMount};
use crate::flags::with_suggestion;

/// Expands one value; `None` at parse time, when values cannot be known yet.
pub(crate) type Expander<'a> = Option<&'a dyn Fn(&str) -> Result<String, String>>;

/// Splits one CSV record as Go's `encoding/csv` (and `csvvalue`) do: `"` quotes a whole
/// field, `""` inside it is a quote, a bare quote elsewhere is an error.
fn csv_fields(val: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = val.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {
                    fields.push(field);
                    i += 1;
                }
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            loop {
                match chars.get(i) {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        i += 1;
                        break;
                    }
                    Some('"') => return Err("bare \" in non-quoted-field".into()),
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5g`, `100`, `2GiB` (binary multiples).
fn ram_in_bytes(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['b', 'B']);
    let s = s.trim_end_matches(['i', 'I']);
    let (num, mult) = match s.chars().last()? {
        c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P') => {
            let exp = match c.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                _ => 5,
            };
            (&s[..s.len() - 1], 1024f64.powi(exp))
        }
        _ => (s, 1.0),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if num.starts_with('.') || num.ends_with('.') || num.contains("..") {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let bytes = v * mult;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return None;
    }
    Some(bytes as i64)
}

fn parse_u32(value: &str, radix: u32) -> Option<u32> {
    if value.is_empty() || value.starts_with('+') {
        return None;
    }
    u32::from_str_radix(value, radix).ok()
}

/// Parses a `--mount` value. With no expander this is BuildKit's parse-time pass (only `from`
/// is checked); with one, every value goes through it and everything is checked.
pub(crate) fn parse_mount(val: &str, expander: Expander<'_>) -> Result<RunMount, String> {
    parse_mount_inner(val, expander, false)
}

/// At parse time, for a value holding variables: the fields without a `$` are parsed and
/// checked one by one, those with one keep their raw text (strings) or defaults (the rest),
/// and the checks across fields wait for [`crate::Instruction::expand`].
pub(crate) fn parse_mount_partial(val: &str) -> Result<RunMount, String> {
    parse_mount(val, None)?;
    let identity = |v: &str| -> Result<String, String> { Ok(v.to_string()) };
    parse_mount_inner(val, Some(&identity), true)
}

fn parse_mount_inner(val: &str, expander: Expander<'_>, partial: bool) -> Result<RunMount, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = RunMount {
        spec: val.to_string(),
        ..RunMount::default()
    };
    let mut sharing_set = false;
    let mut ro_auto = true;
    let bad = |key: &str, value: &str| format!("invalid value for {key}: {value}");
    for field in fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            if expander.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" => {
                    if matches!(m.kind, MountType::Secret | MountType::Ssh) {
                        m.required = true;
                    } else {
                        return Err(format!(
                            "unexpected key '{key}' for mount type '{}'",
                            type_name(m.kind)
                        ));
                    }
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expander {
            Some(expand) => expand(&value)?,
            None => {
                if key == "from" {
                    if let Some(idx) = value.find('$') {
                        if idx != value.len() - 1 {
                            return Err(format!("'{key}' doesn't support variable expansion, define alias stage instead"));
                        }
                    }
                }
                continue;
            }
        };
        let is_string_key = matches!(
            key.as_str(),
            "from" | "source" | "src" | "target" | "dst" | "destination" | "id" | "env"
        );
        if partial && value.contains('$') && !is_string_key {
            continue;
        }
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(with_suggestion(
                            format!("unsupported mount type {value:?}"),
                            &value,
                            &["bind", "cache", "tmpfs", "secret", "ssh"],
                            true,
                        ))
                    }
                }
            }
            // BuildKit keeps these as strings where "" means unset.
            "from" => m.from = Some(value).filter(|v| !v.is_empty()),
            "source" | "src" => m.source = Some(value).filter(|v| !v.is_empty()),
            "target" | "dst" | "destination" => m.target = Some(value).filter(|v| !v.is_empty()),
            "readonly" | "ro" => {
                m.read_only = parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
                ro_auto = false;
            }
            "required" => {
                if matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    m.required = parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        type_name(m.kind)
                    ));
                }
            }
            "size" => {
                if m.kind == MountType::Tmpfs {
                    let size = ram_in_bytes(&value).ok_or_else(|| bad(&key, &value))?;
                    m.size = Some(size.max(0) as u64);
                } else {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        type_name(m.kind)
                    ));
                }
            }
            "id" => m.id = Some(value).filter(|v| !v.is_empty()),
            "sharing" => {
                m.sharing = match value.to_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(with_suggestion(
                            format!("unsupported sharing value {value:?}"),
                            &value,
                            &["shared", "private", "locked"],
                            true,
                        ))
                    }
                };
                sharing_set = true;
            }
            "mode" => {
                m.mode = Some(
                    parse_u32(&value, 8)
                        .ok_or_else(|| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    parse_u32(&value, 10)
                        .ok_or_else(|| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    parse_u32(&value, 10)
                        .ok_or_else(|| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value).filter(|v| !v.is_empty()),
            _ => {
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &[
                        "type",
                        "from",
                        "source",
                        "target",
                        "readonly",
                        "id",
                        "sharing",
                        "required",
                        "size",
                        "mode",
                        "uid",
                        "gid",
                        "src",
                        "dst",
                        "destination",
                        "ro",
                        "rw",
                        "readwrite",
                        "env",
                    ],
                    true,
                ))
            }
        }
    }

    if partial {
        if ro_auto {
            m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
        }
        return Ok(m);
    }
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let t = type_name(m.kind);
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {t:?} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {t:?} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {t:?} type mounts"));
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if sharing_set {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if sharing_set && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            type_name(m.kind)
        ));
    }
    Ok(m)
}

pub(crate) fn type_name(t: MountType) -> &'static str {
    match t {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
        MountType::Ssh => "ssh",
    }
}
