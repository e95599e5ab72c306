//! The line level of the Dockerfile grammar (BuildKit's `frontend/dockerfile/parser`): parser
//! directives, comments, line continuations, here-documents, and splitting each logical line
//! into keyword, `--flags` and arguments. [`crate::instructions`] turns the [`Node`]s into
//! typed instructions.

use crate::ast::{Directives, Warning};
use crate::error::Error;
use crate::lex::ShellLex;

/// The largest Dockerfile [`crate::parse`] accepts. BuildKit's scanner refuses lines over
/// 64 KiB; we cap the whole file instead (and lines at the same 64 KiB), so that every pass
/// stays linear in a bounded input.
pub const MAX_FILE_LEN: usize = 8 << 20;
/// The longest physical line (BuildKit's `bufio.MaxScanTokenSize`).
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// The longest logical line (continuations joined).
pub const MAX_LOGICAL_LINE_LEN: usize = 1 << 20;

/// One logical line: an instruction before typing.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The keyword as written.
    pub cmd: String,
    pub flags: Vec<String>,
    /// The arguments after the dispatch-specific split (BuildKit's `nodeArgs`). For
    /// `ENV`/`LABEL`, triples of key, value and separator (`=` or empty).
    pub args: Vec<String>,
    /// Exec (JSON array) form.
    pub json: bool,
    pub heredocs: Vec<RawHeredoc>,
    /// The logical line, continuations joined.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    /// `ONBUILD`'s trigger.
    pub sub: Option<Box<Node>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHeredoc {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    /// Body as read, leading tabs not yet removed.
    pub content: String,
}

pub(crate) struct ParsedLines {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
}

struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// Looks at one line; returns `(name, value)` when it is a directive.
    fn parse_line(&mut self, line: &str) -> Result<Option<(String, String)>, String> {
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let rest = rest.trim_start();
        // ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
        let key_len = rest
            .char_indices()
            .take_while(|&(i, c)| {
                if i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric()
                }
            })
            .count();
        let (key, after) = rest.split_at(key_len);
        let after = after.trim_start();
        let value = after.strip_prefix('=').map(|v| v.trim());
        let (Some(value), false) = (value, key.is_empty()) else {
            self.done = true;
            return Ok(None);
        };
        if value.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        Ok(Some((key, value.to_string())))
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// Strips a trailing escape character (a line continuation): `(line, end_of_line)`.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before, false);
        }
    }
    (line, true)
}

/// Splits `text` into lines that keep their `\n` (bufio.ScanLines without the stripping).
fn scan_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

pub(crate) fn parse_lines(text: &str) -> Result<ParsedLines, Error> {
    if text.len() > MAX_FILE_LEN {
        return Err(Error::new(
            1,
            format!("dockerfile larger than the maximum of {MAX_FILE_LEN} bytes"),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut directives = Directives::default();
    let mut dparser = DirectiveParser {
        done: false,
        seen: Vec::new(),
    };
    let mut lines = scan_lines(text).peekable();
    let mut current_line = 0usize;
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();

    // BuildKit's processLine: trim the newline, maybe the leading space, look for a
    // directive, and blank out comments.
    let mut process_line = |d: &mut Directives,
                            raw: &str,
                            strip_left: bool,
                            line_no: usize|
     -> Result<String, Error> {
        if raw.len() > MAX_LINE_LEN {
            return Err(Error::new(
                line_no,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE_LEN - 1
                ),
            ));
        }
        let mut token = trim_newline(raw);
        if strip_left {
            token = token.trim_start();
        }
        match dparser.parse_line(token) {
            Err(m) => return Err(Error::new(line_no, m)),
            Ok(Some((k, v))) => match k.as_str() {
                "escape" => {
                    if v != "`" && v != "\\" {
                        return Err(Error::new(
                            line_no,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ));
                    }
                    d.escape = v.chars().next().unwrap_or('\\');
                }
                "syntax" => d.syntax = Some(v),
                _ => d.check = Some(v),
            },
            Ok(None) => {}
        }
        if is_comment(token) {
            Ok(String::new())
        } else {
            Ok(token.to_string())
        }
    };

    while let Some(raw) = lines.next() {
        let first = process_line(&mut directives, raw, true, current_line + 1)?;
        current_line += 1;
        let start_line = current_line;
        let escape = directives.escape;
        let (first, mut eol) = trim_continuation(&first, escape);
        if eol && first.is_empty() {
            continue;
        }
        let mut buf = first.to_string();
        let mut has_empty_continuation = false;
        while !eol {
            let Some(raw) = lines.next() else { break };
            let processed = process_line(&mut directives, raw, false, current_line + 1)?;
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (part, e) = trim_continuation(&processed, escape);
            eol = e;
            buf.push_str(part);
            if buf.len() > MAX_LOGICAL_LINE_LEN {
                return Err(Error::new(
                    start_line,
                    format!("instruction longer than the maximum of {MAX_LOGICAL_LINE_LEN} bytes"),
                ));
            }
        }
        let line = buf;
        if has_empty_continuation {
            warnings.push(Warning {
                line: current_line,
                message: format!("Empty continuation line found in: {line}"),
            });
        }
        let mut node =
            node_from_line(&line, escape, false).map_err(|m| Error::new(start_line, m))?;

        if node.can_contain_heredoc() && line.contains("<<") {
            let docs = heredocs_from_line(&line).map_err(|m| Error::new(start_line, m))?;
            for mut doc in docs {
                let mut terminated = false;
                for raw in lines.by_ref() {
                    current_line += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(Error::new(start_line, "unterminated heredoc"));
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = start_line;
        node.end_line = current_line;
        if let Some(sub) = node.sub.as_mut() {
            sub.start_line = start_line;
            sub.end_line = current_line;
            sub.heredocs = node.heredocs.clone();
        }
        nodes.push(node);
    }

    if nodes.is_empty() {
        return Err(Error::new(current_line.max(1), "file with no instructions"));
    }
    Ok(ParsedLines {
        directives,
        nodes,
        warnings,
    })
}

impl Node {
    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.sub, self.cmd.eq_ignore_ascii_case("onbuild")) {
            (Some(sub), true) => sub,
            _ => self,
        };
        let cmd = node.cmd.to_ascii_lowercase();
        matches!(cmd.as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// `[\t\v\f\r ]+`
fn is_re_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn split_re_whitespace(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_ws = false;
    for c in s.chars() {
        if is_re_whitespace(c) {
            in_ws = true;
        } else {
            if in_ws {
                out.push(std::mem::take(&mut cur));
                in_ws = false;
            }
            cur.push(c);
        }
    }
    if in_ws {
        out.push(std::mem::take(&mut cur));
    }
    out.push(cur);
    out
}

fn split_re_whitespace_2(s: &str) -> (String, Option<String>) {
    match s.find(is_re_whitespace) {
        None => (s.to_string(), None),
        Some(i) => {
            let rest = s[i..].trim_start_matches(is_re_whitespace);
            (s[..i].to_string(), Some(rest.to_string()))
        }
    }
}

/// `in_onbuild`: parsing an `ONBUILD` trigger. A trigger that is itself `ONBUILD` is not
/// parsed further (it is refused later), so `ONBUILD ONBUILD ONBUILD ...` cannot recurse
/// without bound.
pub(crate) fn node_from_line(line: &str, escape: char, in_onbuild: bool) -> Result<Node, String> {
    let (cmd, rest) = split_re_whitespace_2(line.trim());
    let (args_str, flags) = match rest {
        Some(rest) => {
            let (a, f) = extract_builder_flags(&rest, escape);
            (a.trim().to_string(), f)
        }
        None => (String::new(), Vec::new()),
    };
    let mut node = Node {
        cmd: cmd.clone(),
        flags,
        args: Vec::new(),
        json: false,
        heredocs: Vec::new(),
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
        sub: None,
    };
    let rest = args_str.as_str();
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json(rest)? {
            Some(v) => {
                node.args = v;
                node.json = true;
            }
            None => node.args = strings_whitespace_delimited(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" if !rest.is_empty() => match parse_json(rest)? {
            Some(v) => {
                node.args = v;
                node.json = true;
            }
            None => node.args = vec![rest.to_string()],
        },
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = parse_name_val(rest, "ENV", escape)?,
        "label" => node.args = parse_name_val(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = strings_whitespace_delimited(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_string()];
        }
        "healthcheck" => {
            // BuildKit walks bytes with unicode.IsSpace; walking characters gives the same
            // split on valid text without cutting a multi-byte character in two.
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                let cmdpart = rest[sep..].trim_start();
                node.args.push(rest[..sep].to_string());
                if !cmdpart.is_empty() {
                    match parse_json(cmdpart)? {
                        Some(v) => {
                            node.args.extend(v);
                            node.json = true;
                        }
                        None => node.args.push(cmdpart.to_string()),
                    }
                }
            }
        }
        "onbuild" if !rest.is_empty() && !in_onbuild => {
            let child = node_from_line(rest, escape, true)?;
            node.args.push(child.cmd.clone());
            node.args.extend(child.args.iter().cloned());
            node.json = child.json;
            node.sub = Some(Box::new(child));
        }
        _ => {}
    }
    Ok(node)
}

fn strings_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_re_whitespace(rest)
}

/// `Ok(None)` when `rest` is not a JSON array (the caller falls back to the shell form);
/// an error when it is an array of something other than strings.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    // Go's json.Unmarshal into []any: anything that is not valid JSON, or not an array,
    // falls back to the shell form; an array of non-strings is an error.
    match serde_json::from_str::<serde_json::Value>(rest) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(
                    "when using JSON array syntax, arrays must be comprised of strings only"
                        .to_string(),
                ),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        // Nested deeper than serde_json's limit (Go's is far higher): an array, and not of
        // strings.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Err(
            "when using JSON array syntax, arrays must be comprised of strings only".to_string(),
        ),
        _ => Ok(None),
    }
}

/// BuildKit's `extractBuilderFlags`: leading `--name[=value]` words (quotes and escapes
/// processed), up to the first word not starting with `--` or a bare `--`.
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        let ch = if at_end { '\0' } else { chars[i].1 };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            if ch != '-' || i + 1 == chars.len() || chars[i + 1].1 != '-' {
                return (line[chars[i].0..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[chars[i].0..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                i += 1;
                c = chars[i].1;
            }
            word.push(c);
            i += 1;
            continue;
        }
        // in a quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            c = chars[i].1;
        }
        word.push(c);
        i += 1;
    }
    (String::new(), words)
}

/// BuildKit's `parseWords`: whitespace-separated words, quotes and escapes kept as written
/// (they are removed later, by expansion).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut buf = String::new();
    let mut i = 0;
    loop {
        let at_end = i >= chars.len();
        let mut ch = if at_end { '\0' } else { chars[i] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !buf.is_empty() {
                words.push(buf);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !buf.is_empty() {
                    words.push(std::mem::take(&mut buf));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                buf.push(ch);
                i += 1;
                ch = chars[i];
            }
            buf.push(ch);
            i += 1;
            continue;
        }
        // in a quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            buf.push(ch);
            ch = chars[i];
        }
        buf.push(ch);
        i += 1;
    }
    words
}

/// `ENV`/`LABEL`: `key=value ...` or the legacy `key value...`; triples of key, value and
/// separator.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let (k, v) = split_re_whitespace_2(rest);
        let Some(v) = v else {
            return Err(format!("{key} must have two arguments"));
        };
        return Ok(vec![k, v, String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

/// The here-documents a line opens (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`), in order.
fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
    let mut lex = ShellLex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &|_| None).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `^(\d*)<<(-?)\s*([^<]*)$`, then the delimiter word with quotes removed.
pub(crate) fn parse_heredoc(src: &str) -> Result<Option<RawHeredoc>, String> {
    let digits = src.chars().take_while(|c| c.is_ascii_digit()).count();
    let Some(rest) = src[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // Go's \s: [\t\n\f\r ]
    let rest = rest.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut lex = ShellLex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &|_| None).map_err(|e| e.message)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &|_| None).map_err(|e| e.message)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let count = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(RawHeredoc {
        expand: count(&words[0]) == count(&raw[0]),
        name: words[0].clone(),
        chomp,
        content: String::new(),
    }))
}

/// Removes leading tabs from every line (`<<-`).
pub(crate) fn chomp_heredoc(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}
