//! Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %x %X %f %g %t %%`, with
//! flags (`-`, `0`, `+`, space), width and precision.

use super::value::{go_float, Value};
use crate::format::go_quote;

/// Formats `args` per `fmt`; mismatches print Go's `%!verb(kind=value)` markers.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        while i < chars.len() && matches!(chars[i], '-' | '0' | '+' | ' ' | '#') {
            match chars[i] {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                _ => {}
            }
            i += 1;
        }
        let mut width = None;
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i > start {
            width = chars[start..i]
                .iter()
                .collect::<String>()
                .parse::<usize>()
                .ok();
        }
        let mut prec = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let s = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            prec = Some(
                chars[s..i]
                    .iter()
                    .collect::<String>()
                    .parse::<usize>()
                    .unwrap_or(0),
            );
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let body = match (verb, arg) {
            ('v', v) => v.go_string(),
            ('s', Value::Str(s)) => prec
                .map(|p| s.chars().take(p).collect())
                .unwrap_or_else(|| s.clone()),
            ('s', v @ (Value::List(_) | Value::Map(_))) => v.go_string(),
            ('q', Value::Str(s)) => go_quote(s),
            ('d', Value::Int(n)) => {
                if plus && *n >= 0 {
                    format!("+{n}")
                } else {
                    n.to_string()
                }
            }
            ('t', Value::Bool(b)) => b.to_string(),
            ('x', Value::Int(n)) => format!("{n:x}"),
            ('X', Value::Int(n)) => format!("{n:X}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', Value::Float(f)) => format!("{:.*}", prec.unwrap_or(6), f),
            ('f' | 'F', Value::Int(n)) => format!("%!f(int={n})"),
            ('g', Value::Float(f)) => go_float(*f),
            (verb, v) => format!("%!{verb}({}={})", v.kind(), v.go_string()),
        };
        let len = body.chars().count();
        match width {
            Some(w) if w > len => {
                let pad = w - len;
                if left {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(pad));
                } else if zero && matches!(arg, Value::Int(_) | Value::Float(_)) {
                    let (sign, digits) =
                        body.split_at(if body.starts_with(['-', '+']) { 1 } else { 0 });
                    out.push_str(sign);
                    out.push_str(&"0".repeat(pad));
                    out.push_str(digits);
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|v| format!("{}={}", v.kind(), v.go_string()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_match_go() {
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int(3)]), "a-3");
        assert_eq!(
            sprintf("%5s|%-5s|%05d", &[s("ab"), s("cd"), Value::Int(42)]),
            "   ab|cd   |00042"
        );
        assert_eq!(
            sprintf(
                "%q %v %t",
                &[
                    s("x\"y"),
                    Value::List(vec![s("a"), s("b")]),
                    Value::Bool(true)
                ]
            ),
            "\"x\\\"y\" [a b] true"
        );
        assert_eq!(
            sprintf("%.2f %x %%", &[Value::Float(1.5), Value::Int(255)]),
            "1.50 ff %"
        );
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[]), "%!s(MISSING)");
    }
}
