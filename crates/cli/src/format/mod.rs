//! Output formatting as the docker CLI does it: human sizes and durations, tab-aligned tables,
//! Go templates for `--format`, and the per-object field contexts (`{{.ID}}`, `{{.Names}}`, …).

pub mod container;
pub mod duration;
pub mod image;
pub mod json_indent;
pub mod size;
pub mod table;
pub mod template;

/// Go's `strconv.Quote` for the strings docker shows (escapes quotes, backslashes and controls).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A formatter context as docker marshals it (a Go map): keys in sorted order, whatever order
/// serde_json keeps.
pub fn sorted_object(m: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    serde_json::Value::Object(entries.into_iter().collect())
}

/// Docker's `formatter.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_and_ellipsis_match_docker() {
        assert_eq!(go_quote("sh -c 'echo \"hi\"'"), r#""sh -c 'echo \"hi\"'""#);
        assert_eq!(
            ellipsis("sleep 1000000000000000000", 20),
            "sleep 1000000000000…"
        );
        assert_eq!(ellipsis("short", 20), "short");
    }
}

/// Renders list rows with a `--format` value: table formats get the header line (rendered from
/// `headers`, so custom columns get their docker titles) and tab alignment; every row ends
/// with a newline, as docker's formatter writes them.
pub fn render_rows(
    format: &str,
    headers: &serde_json::Value,
    rows: &[serde_json::Value],
) -> Result<String, String> {
    let f = template::Format::parse(format)?.strict();
    let mut out = String::new();
    if f.table {
        out.push_str(&f.render(headers)?);
        out.push('\n');
    }
    for r in rows {
        out.push_str(&f.render(r)?);
        out.push('\n');
    }
    if f.table {
        out = table::docker_tabwrite(&out);
    }
    Ok(out)
}

#[cfg(test)]
mod render_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_rows_get_headers_and_alignment() {
        let rows = vec![json!({"ID": "0123456789ab", "Names": "web"})];
        let out = render_rows("table {{.ID}}\\t{{.Names}}", &container::headers(), &rows).unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\n0123456789ab   web\n");
        let out = render_rows("{{.Names}}", &container::headers(), &rows).unwrap();
        assert_eq!(out, "web\n");
    }
}
