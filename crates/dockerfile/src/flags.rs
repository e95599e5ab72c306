//! `--name=value` flags of an instruction (BuildKit's `BFlags`).

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagType {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    String,
    /// `--exclude=x`, repeatable.
    Strings,
}

/// The parsed values, by flag name.
#[derive(Debug, Default)]
pub(crate) struct FlagValues {
    values: Vec<(&'static str, Vec<String>)>,
}

impl FlagValues {
    /// A string flag's value, when given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.last().cloned())
    }
    /// A bool flag: `Some(true|false)` when given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).cloned().unwrap_or_default()
    }
    fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Parses `args` against the flags an instruction accepts.
pub(crate) fn parse_flags(
    args: &[String],
    defs: &[(&'static str, FlagType)],
) -> Result<FlagValues, String> {
    let mut out = FlagValues::default();
    for a in args {
        if a == "--" {
            break;
        }
        let Some(stripped) = a.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {a}"));
        };
        let (name, value) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (stripped, None),
        };
        let flag_name = format!("--{name}");
        let Some(&(def_name, ty)) = defs.iter().find(|(n, _)| *n == name) else {
            let msg = format!("unknown flag: {flag_name}");
            let names: Vec<&str> = defs.iter().map(|(n, _)| *n).collect();
            return Err(with_suggestion(msg, name, &names, true));
        };
        let seen = out.values.iter().position(|(n, _)| *n == def_name);
        if seen.is_some() && ty != FlagType::Strings {
            return Err(format!("duplicate flag specified: {flag_name}"));
        }
        let v = match ty {
            FlagType::Bool => {
                if value == Some("") {
                    return Err(format!("missing a value on flag: {flag_name}"));
                }
                match value.unwrap_or("").to_ascii_lowercase().as_str() {
                    "true" | "" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(format!(
                            "expecting boolean value for flag {flag_name}, not: {}",
                            value.unwrap_or("")
                        ))
                    }
                }
            }
            FlagType::String | FlagType::Strings => match value {
                Some(v) => v.to_string(),
                None => return Err(format!("missing a value on flag: {flag_name}")),
            },
        };
        match seen {
            Some(i) => out.values[i].1.push(v),
            None => out.values.push((def_name, vec![v])),
        }
    }
    Ok(out)
}

/// BuildKit's `suggest.WrapError`: appends ` (did you mean X?)` when an option is within
/// Levenshtein distance 2 of `val`.
pub(crate) fn with_suggestion(
    msg: String,
    val: &str,
    options: &[&str],
    case_sensitive: bool,
) -> String {
    // Long inputs cannot be near any option; skip the quadratic distance computation.
    if val.chars().count() > 64 {
        return msg;
    }
    let v = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if o == v {
            return msg;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                o
            } else if val == val.to_lowercase() {
                o.to_lowercase()
            } else if val == val.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    match best {
        Some(b) => format!("{msg} (did you mean {b}?)"),
        None => msg,
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
