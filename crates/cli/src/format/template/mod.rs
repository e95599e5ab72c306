//! `--format` templates: Go's `text/template` language, implemented here because the crate
//! candidates print composite values and range over maps differently from Go, and docker users
//! rely on both (`{{.Config.Cmd}}` → `[sh -c …]`, `{{range $k, $v := .Config.Labels}}` in key
//! order).
//!
//! Supported: text and actions with trim markers (`{{-`, `-}}`) and comments; pipelines with
//! `|`; fields (`.A.B`), variables (`$`, `$x := …`, `$x = …`), literals, parenthesised
//! pipelines; `if`/`else if`/`else`, `range` (lists, maps in key order, `$i, $e :=`, `else`),
//! `with`; Go's functions `and or not len index slice print printf println eq ne lt le gt ge
//! urlquery`; docker's `json join split upper lower title truncate pad`; and docker's `table`
//! directive (handled by the caller through [`Format::table`]). Not supported: `define`,
//! `template`, `block`, `break`, `continue`.
//!
//! Data is JSON with object keys in the daemon's order: objects whose keys are all exported Go
//! names print as structs (`{v1 v2}`), others as maps (`map[k:v]`), as docker's typed values do.

mod exec;
mod parse;
mod printf;
pub mod value;

pub use value::Value;

use parse::{Arg, Node, Pipe};

/// A parsed `--format` value.
pub struct Format {
    nodes: Vec<Node>,
    /// The format started with `table`: rows go through the tab writer with a header line.
    pub table: bool,
    /// The template text after docker's preprocessing.
    pub text: String,
    /// Missing fields are errors (see [`Format::strict`]).
    strict: bool,
}

/// Whether a format string asks for a table.
pub fn is_table(format: &str) -> bool {
    format.starts_with("table")
}

fn check_funcs(nodes: &[Node]) -> Result<(), String> {
    fn pipe(p: &Pipe) -> Result<(), String> {
        for c in &p.cmds {
            for a in &c.args {
                match a {
                    Arg::Func(f) if !exec::is_func(f) => {
                        return Err(format!("function \"{f}\" not defined"))
                    }
                    Arg::Sub(p, _) => pipe(p)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Action(p) => pipe(p)?,
            Node::If(p, a, b) | Node::Range(p, a, b) | Node::With(p, a, b) => {
                pipe(p)?;
                check_funcs(a)?;
                check_funcs(b)?;
            }
        }
    }
    Ok(())
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
        let nodes = parse::parse(&text)
            .map_err(|e| format!("template parsing error: template: :1: {e}"))?;
        check_funcs(&nodes).map_err(|e| format!("template parsing error: template: :1: {e}"))?;
        Ok(Format {
            nodes,
            table,
            text,
            strict: false,
        })
    }

    /// Makes a missing field an error, as for docker's fixed formatter contexts (`ps`,
    /// `images`); by default an absent key renders `<no value>`, because the daemon omits
    /// empty fields that docker's typed structs still have.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Renders against JSON.
    pub fn render(&self, data: &serde_json::Value) -> Result<String, String> {
        self.render_value(&Value::from(data))
    }

    /// Renders against a template value (e.g. one parsed from raw bytes, keeping key order).
    pub fn render_value(&self, data: &Value) -> Result<String, String> {
        exec::execute(&self.nodes, data, self.strict)
            .map_err(|e| format!("template: :1: executing \"\": {e}"))
    }
}

/// Go's `url.QueryEscape`.
pub fn urlquery(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
            r#"{"Labels":{"k":"v"},"Cmd":["sh"]}"#
        );
        assert_eq!(render("{{.Missing}}", c.clone()), "<no value>");
        assert!(Format::parse("{{.Missing}}")
            .unwrap()
            .strict()
            .render(&c)
            .is_err());
        assert_eq!(
            render(
                r#"{{.Config.Env}} {{.Config.Volumes}} {{index .Config.Labels "x"}}|"#,
                json!({"Config": {"Env": null, "Volumes": null, "Labels": {}}})
            ),
            "[] map[] |"
        );
        assert_eq!(render(r#"{{join .Config.Cmd ","}}"#, c.clone()), "sh");
        assert_eq!(
            render("{{.Config.Cmd}} {{.Config.Labels}}", c.clone()),
            "[sh] map[k:v]"
        );
        assert_eq!(render("{{.State}}", c.clone()), "{running 0}");
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
    fn list_contexts_escape_html_in_json() {
        let row = json!({"Digest": "<none>", "Tag": "a&b"});
        let f = Format::parse("{{json .}}").unwrap().strict();
        assert_eq!(
            f.render(&row).unwrap(),
            r#"{"Digest":"\u003cnone\u003e","Tag":"a\u0026b"}"#
        );
        let f = Format::parse("{{json .Digest}}").unwrap().strict();
        assert_eq!(f.render(&row).unwrap(), r#""<none>""#);
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
        assert_eq!(
            Format::parse("{{nosuchfunc .}}").err().unwrap(),
            "template parsing error: template: :1: function \"nosuchfunc\" not defined"
        );
    }

    #[test]
    fn go_semantics() {
        let d = json!({"L": {"b": "2", "a": "1"}, "E": [], "N": null, "S": "x", "I": 3});
        assert_eq!(
            render("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", d.clone()),
            "a=1;b=2;"
        );
        assert_eq!(
            render("{{range .E}}x{{else}}empty{{end}}", d.clone()),
            "empty"
        );
        assert_eq!(
            render(
                "{{with .S}}[{{.}}]{{end}}{{with .N}}no{{else}}nil{{end}}",
                d.clone()
            ),
            "[x]nil"
        );
        assert_eq!(
            render("{{$x := .I}}{{if gt $x 2}}big{{end}} {{len .L}}", d.clone()),
            "big 2"
        );
        assert_eq!(render("{{.N}}", d.clone()), "<nil>");
        assert_eq!(render("{{- \" a \" -}} b {{- \"c\"}}", d.clone()), " a bc");
        assert_eq!(
            render(r#"{{if and .S (eq .S "x" "y")}}yes{{end}}"#, d.clone()),
            "yes"
        );
        assert_eq!(
            render(r#"{{if or .N .E}}t{{else}}f{{end}}"#, d.clone()),
            "f"
        );
        assert_eq!(render(r#"{{.S | printf "%s!" | upper}}"#, d.clone()), "X!");
        assert_eq!(
            render(r#"{{(index .L "a")}}{{print 1 2 "s" "t"}}"#, d.clone()),
            "11 2st"
        );
        assert_eq!(
            render(
                r#"{{join (split "a,b" ",") "+"}} {{pad "x" 1 2}}|"#,
                d.clone()
            ),
            "a+b  x  |"
        );
        assert!(Format::parse("{{.S.T.U}}").unwrap().render(&d).is_err());
        assert!(Format::parse("{{$nope}}").unwrap().render(&d).is_err());
    }
}
