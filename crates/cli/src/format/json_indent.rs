//! Go's `json.Indent`: re-indents raw JSON without reordering keys or re-encoding strings, so
//! `inspect` prints the daemon's bytes exactly as docker does (4-space indent, `[]`/`{}` kept
//! compact).

/// Indents `raw` with `indent` per level. Input is trusted only to be JSON text from the
/// daemon; malformed input yields a best-effort result rather than a panic.
pub fn indent(raw: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let text = String::from_utf8_lossy(raw);
    let chars: Vec<char> = text.chars().collect();
    let mut depth: usize = 0;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                out.push('"');
                i += 1;
                while i < chars.len() {
                    let ch = chars[i];
                    out.push(ch);
                    i += 1;
                    if ch == '\\' && i < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    } else if ch == '"' {
                        break;
                    }
                }
                continue;
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    out.push(close);
                    i = j + 1;
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let raw =
            br#"[{"Id":"a","Args":[],"Config":{"Labels":{},"Cmd":["sh","-c"]},"S":"x\"y,{}"}]"#;
        let want = "[\n    {\n        \"Id\": \"a\",\n        \"Args\": [],\n        \"Config\": {\n            \"Labels\": {},\n            \"Cmd\": [\n                \"sh\",\n                \"-c\"\n            ]\n        },\n        \"S\": \"x\\\"y,{}\"\n    }\n]";
        assert_eq!(indent(raw, "    "), want);
        assert_eq!(indent(b"[]", "    "), "[]");
    }
}
