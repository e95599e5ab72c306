//! `--format` templates: Go `text/template` syntax through the `gtmpl` crate, with the extra
//! functions the docker CLI registers (`json`, `join`, `split`, `upper`, `lower`, `title`,
//! `truncate`, `pad`) and docker's `table` directive.
//!
//! Data comes in as JSON; objects become template maps, so `{{.State.Status}}`,
//! `{{index .Config.Labels "k"}}` and `{{range .Mounts}}…{{end}}` address the Engine API's own
//! field names, as they do in docker. Known differences from Go: ranging over a map does not sort
//! its keys, and composite values printed without `json` use a debug spelling.

use std::collections::HashMap;

use gtmpl::{FuncError, Value};
use gtmpl_value::Number;

/// A parsed `--format` value.
pub struct Format {
    tmpl: gtmpl::Template,
    /// The format started with `table`: rows go through the tab writer with a header line.
    pub table: bool,
    /// The template text after docker's preprocessing.
    pub text: String,
}

/// Whether a format string asks for a table.
pub fn is_table(format: &str) -> bool {
    format.starts_with("table")
}

impl Format {
    /// Parses a format as docker does: drop a leading `table`, trim spaces, turn the two-character
    /// sequences `\t` and `\n` into a tab and a newline.
    pub fn parse(format: &str) -> Result<Format, String> {
        let table = is_table(format);
        let body = if table {
            &format["table".len()..]
        } else {
            format
        };
        let text = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let mut tmpl = gtmpl::Template::default();
        tmpl.add_funcs(&[
            ("json", json as gtmpl::Func),
            ("join", join as gtmpl::Func),
            ("split", split as gtmpl::Func),
            ("upper", upper as gtmpl::Func),
            ("lower", lower as gtmpl::Func),
            ("title", title as gtmpl::Func),
            ("truncate", truncate as gtmpl::Func),
            ("pad", pad as gtmpl::Func),
            ("index", index as gtmpl::Func),
        ]);
        tmpl.parse(text.clone())
            .map_err(|e| format!("template parsing error: {e}"))?;
        Ok(Format { tmpl, table, text })
    }

    /// Renders the template against a JSON value.
    pub fn render(&self, data: &serde_json::Value) -> Result<String, String> {
        self.render_value(json_to_value(data))
    }

    /// Renders the template against a template value.
    pub fn render_value(&self, data: Value) -> Result<String, String> {
        self.tmpl
            .render(&gtmpl::Context::from(data))
            .map_err(|e| format!("template: {e}"))
    }
}

/// Converts JSON into template values; objects become maps (missing keys render `<no value>`).
pub fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(0.0)))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Converts template values back to JSON (for the `json` function).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(value_to_json).collect()),
        Value::Object(m) | Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

fn arg_int(args: &[Value], i: usize, name: &str) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| FuncError::Generic(format!("{name}: not an integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: not an integer"))),
        _ => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

/// Go's `index`: a missing map key gives the element's zero value, which for the string maps
/// of the Engine API (labels, options) is the empty string rather than `<no value>`.
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let mut cur = args
        .first()
        .cloned()
        .ok_or_else(|| FuncError::AtLeastXArgs("index".into(), 1))?;
    for key in &args[1..] {
        cur = match (&cur, key) {
            (Value::Map(m) | Value::Object(m), k) => {
                let k = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                m.get(&k)
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new()))
            }
            (Value::Array(a), Value::Number(n)) => {
                let i = n
                    .as_i64()
                    .filter(|i| *i >= 0)
                    .ok_or_else(|| FuncError::Generic("index out of range".into()))?;
                a.get(i as usize).cloned().ok_or_else(|| {
                    FuncError::Generic(format!("error calling index: index out of range: {i}"))
                })?
            }
            (Value::Nil | Value::NoValue, _) => Value::String(String::new()),
            _ => return Err(FuncError::Generic("can't index item".into())),
        };
    }
    Ok(cur)
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or_else(|| FuncError::ExactlyXArgs("json".into(), 1))?;
    serde_json::to_string(&value_to_json(v))
        .map(Value::String)
        .map_err(|e| FuncError::Generic(e.to_string()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1, "join")?;
    match args.first() {
        Some(Value::Array(a)) => Ok(Value::String(
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(&sep),
        )),
        Some(Value::Nil) | Some(Value::NoValue) => Ok(Value::String(String::new())),
        _ => Err(FuncError::Generic(
            "join: first argument must be a list".into(),
        )),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "split")?;
    let sep = arg_str(args, 1, "split")?;
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect(),
    ))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "upper")?.to_uppercase()))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "lower")?.to_lowercase()))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric();
    }
    Ok(Value::String(out))
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "truncate")?;
    let n = arg_int(args, 1, "truncate")?.max(0) as usize;
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "pad")?;
    let l = arg_int(args, 1, "pad")?.max(0) as usize;
    let r = arg_int(args, 2, "pad")?.max(0) as usize;
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(l),
        " ".repeat(r)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(f: &str, data: serde_json::Value) -> String {
        Format::parse(f).unwrap().render(&data).unwrap()
    }

    #[test]
    fn inspect_style_templates() {
        let c = json!({
            "Name": "/web",
            "State": {"Status": "running", "ExitCode": 0},
            "Config": {"Labels": {"k": "v"}, "Cmd": ["sh"]},
            "Mounts": [{"Destination": "/a"}, {"Destination": "/b"}]
        });
        assert_eq!(render("{{.State.Status}}", c.clone()), "running");
        assert_eq!(render("{{.Name}}", c.clone()), "/web");
        assert_eq!(render("{{.State.ExitCode}}", c.clone()), "0");
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, c.clone()), "v");
        assert_eq!(
            render(r#"[{{index .Config.Labels "missing"}}]"#, c.clone()),
            "[]"
        );
        assert_eq!(render(r#"{{index .Config.Cmd 0}}"#, c.clone()), "sh");
        assert!(Format::parse(r#"{{index .Config.Cmd 5}}"#)
            .unwrap()
            .render(&c)
            .is_err());
        assert_eq!(
            render("{{range .Mounts}}{{.Destination}};{{end}}", c.clone()),
            "/a;/b;"
        );
        assert_eq!(render("{{json .Config.Cmd}}", c.clone()), r#"["sh"]"#);
        assert_eq!(
            render("{{json .Config}}", c.clone()),
            r#"{"Cmd":["sh"],"Labels":{"k":"v"}}"#
        );
        assert_eq!(render("{{.Missing}}", c.clone()), "<no value>");
        assert_eq!(render(r#"{{join .Config.Cmd ","}}"#, c.clone()), "sh");
        assert_eq!(
            render(
                r#"{{upper .State.Status}} {{title "hello world"}}"#,
                c.clone()
            ),
            "RUNNING Hello World"
        );
        assert_eq!(render(r#"{{printf "%s-%d" .Name 3}}"#, c.clone()), "/web-3");
        assert_eq!(
            render(
                r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#,
                c
            ),
            "up"
        );
    }

    #[test]
    fn table_directive_and_escapes() {
        let f = Format::parse("table {{.ID}}\\t{{.Names}}").unwrap();
        assert!(f.table);
        assert_eq!(f.text, "{{.ID}}\t{{.Names}}");
        let f = Format::parse("{{.ID}}").unwrap();
        assert!(!f.table);
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(Format::parse("{{.ID").is_err());
        assert!(
            Format::parse("{{nosuchfunc .}}").is_err()
                || Format::parse("{{nosuchfunc .}}")
                    .unwrap()
                    .render(&json!({}))
                    .is_err()
        );
    }
}
