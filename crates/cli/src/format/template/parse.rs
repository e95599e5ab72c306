//! Parsing Go `text/template` source into a tree: text, actions with pipelines, `if`/`else
//! if`/`else`, `range` (with `$i, $e :=`), `with`, variables, comments and trim markers.

use super::value::Value;

/// One operand of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.` or `.A.B`.
    Field(Vec<String>),
    /// `$`, `$x` or `$x.A.B`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    Lit(Value),
    /// `( pipeline )` followed by an optional field chain.
    Sub(Box<Pipe>, Vec<String>),
}

/// A command: operands separated by spaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    pub args: Vec<Arg>,
}

/// `[$a[, $b] (:=|=)] cmd | cmd ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub decl: Vec<String>,
    /// `=` (assign an existing variable) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    LParen,
    RParen,
    /// A field chain straight after `)`.
    Chain(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// Splits source into text and action bodies, applying trim markers.
fn split(src: &str) -> Result<Vec<(bool, String)>, String> {
    let mut parts: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let mut after = &rest[start + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
            after = &after[1..];
        }
        parts.push((false, text.to_string()));
        let end = find_close(after).ok_or_else(|| "unclosed action".to_string())?;
        let mut body = &after[..end];
        let mut trim_right = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_right = true;
        }
        parts.push((true, body.to_string()));
        rest = &after[end + 2..];
        trim_next_text = trim_right;
    }
    let text = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    parts.push((false, text.to_string()));
    Ok(parts)
}

/// The position of the `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let read_chain = |i: &mut usize| -> Vec<String> {
        let mut chain = Vec::new();
        while *i < chars.len() && chars[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < chars.len() && ident_char(chars[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            chain.push(chars[start..j].iter().collect());
            *i = j;
        }
        chain
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
                if i < chars.len() && chars[i] == '.' {
                    toks.push(Tok::Chain(read_chain(&mut i)));
                }
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '.' => {
                if chars.get(i + 1).is_some_and(|c| ident_char(*c)) {
                    toks.push(Tok::Field(read_chain(&mut i)));
                } else {
                    toks.push(Tok::Field(Vec::new()));
                    i += 1;
                }
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                i = j;
                let chain = read_chain(&mut i);
                toks.push(Tok::Var(name, chain));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err("unterminated quoted string".into());
                            };
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                '0' => '\0',
                                other => return Err(format!("unknown escape sequence: \\{other}")),
                            });
                        }
                        ch => s.push(ch),
                    }
                }
                toks.push(Tok::Lit(Value::Str(s)));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or("unterminated raw quoted string")?;
                toks.push(Tok::Lit(Value::Str(
                    chars[start..start + end].iter().collect(),
                )));
                i = start + end + 1;
            }
            '\'' => {
                let ch = *chars.get(i + 1).ok_or("unterminated character constant")?;
                if chars.get(i + 2) != Some(&'\'') {
                    return Err("unterminated character constant".into());
                }
                toks.push(Tok::Lit(Value::Int(ch as i64)));
                i += 3;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let v = if let Ok(n) = text.parse::<i64>() {
                    Value::Int(n)
                } else if let Some(h) = text.strip_prefix("0x") {
                    Value::Int(
                        i64::from_str_radix(h, 16)
                            .map_err(|_| format!("bad number syntax: {text:?}"))?,
                    )
                } else {
                    Value::Float(
                        text.parse()
                            .map_err(|_| format!("bad number syntax: {text:?}"))?,
                    )
                };
                toks.push(Tok::Lit(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                toks.push(match word.as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "nil" => Tok::Lit(Value::Nil),
                    _ => Tok::Ident(word),
                });
            }
            other => return Err(format!("unexpected {other:?} in command")),
        }
    }
    Ok(toks)
}

struct TokStream {
    toks: Vec<Tok>,
    pos: usize,
}

impl TokStream {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
}

fn parse_pipe(ts: &mut TokStream, in_paren: bool) -> Result<Pipe, String> {
    let mut decl = Vec::new();
    let mut assign = false;
    // A declaration: `$x :=`, `$x =`, or `$i, $e :=`.
    let save = ts.pos;
    let mut names = Vec::new();
    while let Some(Tok::Var(name, chain)) = ts.peek().cloned() {
        if !chain.is_empty() {
            break;
        }
        ts.next();
        names.push(name);
        match ts.peek() {
            Some(Tok::Comma) => {
                ts.next();
            }
            Some(Tok::Declare) | Some(Tok::Assign) => {
                assign = matches!(ts.next(), Some(Tok::Assign));
                decl = names.clone();
                break;
            }
            _ => break,
        }
    }
    if decl.is_empty() {
        ts.pos = save;
        assign = false;
    }
    let mut cmds = Vec::new();
    loop {
        let mut args = Vec::new();
        loop {
            match ts.peek() {
                None => break,
                Some(Tok::Pipe) => break,
                Some(Tok::RParen) if in_paren => break,
                _ => {}
            }
            let arg = match ts.next().unwrap() {
                Tok::Field(c) => Arg::Field(c),
                Tok::Var(n, c) => Arg::Var(n, c),
                Tok::Ident(n) => Arg::Func(n),
                Tok::Lit(v) => Arg::Lit(v),
                Tok::LParen => {
                    let inner = parse_pipe(ts, true)?;
                    if ts.next() != Some(Tok::RParen) {
                        return Err("unclosed left paren".into());
                    }
                    let chain = match ts.peek() {
                        Some(Tok::Chain(c)) => {
                            let c = c.clone();
                            ts.next();
                            c
                        }
                        _ => Vec::new(),
                    };
                    Arg::Sub(Box::new(inner), chain)
                }
                Tok::RParen => return Err("unexpected right paren".into()),
                other => return Err(format!("unexpected {other:?} in operand")),
            };
            args.push(arg);
        }
        if args.is_empty() {
            return Err("missing value for command".into());
        }
        cmds.push(Cmd { args });
        if ts.peek() == Some(&Tok::Pipe) {
            ts.next();
            continue;
        }
        break;
    }
    Ok(Pipe { decl, assign, cmds })
}

fn parse_action(body: &str) -> Result<Pipe, String> {
    let mut ts = TokStream {
        toks: lex(body)?,
        pos: 0,
    };
    let p = parse_pipe(&mut ts, false)?;
    if ts.pos < ts.toks.len() {
        return Err(format!("unexpected {:?} in command", ts.toks[ts.pos]));
    }
    Ok(p)
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

fn parse_list(parts: &[(bool, String)], pos: &mut usize) -> Result<(Vec<Node>, Stop), String> {
    let mut nodes = Vec::new();
    while *pos < parts.len() {
        let (is_action, text) = &parts[*pos];
        *pos += 1;
        if !is_action {
            if !text.is_empty() {
                nodes.push(Node::Text(text.clone()));
            }
            continue;
        }
        let body = text.trim();
        if body.starts_with("/*") {
            if !body.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            continue;
        }
        let (word, rest) = match body.find(|c: char| c.is_whitespace()) {
            Some(i) => (&body[..i], body[i..].trim()),
            None => (body, ""),
        };
        match word {
            "end" => return Ok((nodes, Stop::End)),
            "else" => {
                return Ok((
                    nodes,
                    Stop::Else((!rest.is_empty()).then(|| rest.to_string())),
                ))
            }
            "if" | "range" | "with" => nodes.push(parse_block(word, rest, parts, pos)?),
            "define" | "template" | "block" | "break" | "continue" => {
                return Err(format!("{word} is not supported in --format templates"))
            }
            _ => nodes.push(Node::Action(parse_action(body)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(
    word: &str,
    rest: &str,
    parts: &[(bool, String)],
    pos: &mut usize,
) -> Result<Node, String> {
    if rest.is_empty() {
        return Err(format!("missing value for {word}"));
    }
    let pipe = parse_action(rest)?;
    let (body, end) = parse_list(parts, pos)?;
    let else_nodes = match end {
        Stop::Eof => return Err(format!("unexpected EOF in {word}")),
        Stop::End => Vec::new(),
        Stop::Else(None) => match parse_list(parts, pos)? {
            (n, Stop::End) => n,
            _ => return Err(format!("expected end after else in {word}")),
        },
        // `else if …` / `else with …` chain into a nested block sharing our `end`.
        Stop::Else(Some(chain)) => {
            let (w, r) = match chain.find(|c: char| c.is_whitespace()) {
                Some(i) => (&chain[..i], chain[i..].trim()),
                None => (chain.as_str(), ""),
            };
            if w != word || (w != "if" && w != "with") {
                return Err(format!("unexpected else {chain}"));
            }
            vec![parse_block(w, r, parts, pos)?]
        }
    };
    Ok(match word {
        "if" => Node::If(pipe, body, else_nodes),
        "range" => Node::Range(pipe, body, else_nodes),
        _ => Node::With(pipe, body, else_nodes),
    })
}

/// Parses template source.
pub fn parse(src: &str) -> Result<Vec<Node>, String> {
    let parts = split(src)?;
    let mut pos = 0;
    match parse_list(&parts, &mut pos)? {
        (nodes, Stop::Eof) => Ok(nodes),
        (_, Stop::End) => Err("unexpected {{end}}".into()),
        (_, Stop::Else(_)) => Err("unexpected {{else}}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pipelines_and_blocks() {
        let t =
            parse(r#"a {{- .X.Y | printf "%s" }} {{if eq .A 1}}x{{else if .B}}y{{else}}z{{end}}"#)
                .unwrap();
        assert_eq!(t[0], Node::Text("a".into()));
        let Node::Action(p) = &t[1] else { panic!() };
        assert_eq!(p.cmds.len(), 2);
        assert_eq!(
            p.cmds[0].args,
            vec![Arg::Field(vec!["X".into(), "Y".into()])]
        );
        assert!(matches!(&t[3], Node::If(_, _, e) if matches!(&e[0], Node::If(..))));
        let t = parse("{{range $i, $e := .L}}{{$i}}{{end}}").unwrap();
        let Node::Range(p, _, _) = &t[0] else {
            panic!()
        };
        assert_eq!(p.decl, vec!["i".to_string(), "e".to_string()]);
    }

    #[test]
    fn reports_errors() {
        assert!(parse("{{.A").is_err());
        assert!(parse("{{if .A}}x").is_err());
        assert!(parse("{{end}}").is_err());
        assert!(parse(r#"{{"abc}}"#).is_err());
        assert!(parse("{{ ( .A }}").is_err());
        assert!(parse("{{/* c */}}x").is_ok());
    }
}
