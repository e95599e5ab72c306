//! Word expansion as BuildKit's `frontend/dockerfile/shell` package does it: `$VAR`,
//! `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`, `${VAR:?msg}`, `${VAR?msg}`,
//! `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`,
//! `${VAR//pat/repl}`, single and double quotes (removed), and the escape character.
//!
//! Caps against hostile input: substitutions nest at most [`MAX_NESTING`] deep, and a word
//! expands to at most [`MAX_EXPANDED_LEN`] bytes; beyond either the expansion fails cleanly.

use crate::error::Error;

/// How deep `${a:-${b:-...}}` may nest.
pub const MAX_NESTING: usize = 64;
/// The longest result one word may expand to (values are copied per reference, so a short
/// word referencing a long value many times could otherwise grow without bound).
pub const MAX_EXPANDED_LEN: usize = 16 << 20;
/// The matching work (characters × pattern positions) that the `${VAR#pat}` family may spend
/// on one word; `${VAR//pat/x}` over a long value is quadratic, so it is bounded instead.
pub const MAX_PATTERN_STEPS: u64 = 1 << 24;

/// The word expander. `escape` is the Dockerfile's escape character (`\` or `` ` ``).
#[derive(Debug, Clone)]
pub struct ShellLex {
    escape: char,
    /// Keep quote characters in the output (used to detect quoted here-doc delimiters).
    pub(crate) raw_quotes: bool,
    /// Keep escape characters in the output.
    pub(crate) raw_escapes: bool,
    /// Treat quotes as ordinary characters (here-document bodies).
    pub(crate) skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub(crate) skip_unset_env: bool,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ShellLex {
    pub fn new(escape: char) -> ShellLex {
        ShellLex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape character this lexer was made with.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` into one string: quotes removed, variables substituted, whitespace kept.
    pub fn process_word(&self, word: &str, env: Env<'_>) -> Result<String, Error> {
        self.run(word, env).map(|(w, _)| w)
    }

    /// Expands `word` and splits it into words on unquoted whitespace (whitespace that comes
    /// from a variable's value splits too, as in a shell).
    pub fn process_words(&self, word: &str, env: Env<'_>) -> Result<Vec<String>, Error> {
        self.run(word, env).map(|(_, ws)| ws)
    }

    fn run(&self, word: &str, env: Env<'_>) -> Result<(String, Vec<String>), Error> {
        let mut sw = Scanner {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
            budget: MAX_PATTERN_STEPS,
        };
        sw.process_stop_on(None, self.raw_escapes)
            .map_err(|m| Error::new(0, format!("failed to process {word:?}: {m}")))
    }
}

struct Scanner<'a> {
    lex: &'a ShellLex,
    chars: Vec<char>,
    pos: usize,
    env: Env<'a>,
    raw_escapes: bool,
    depth: usize,
    /// What is left of [`MAX_PATTERN_STEPS`].
    budget: u64,
}

/// Accumulates the split words: whitespace from the source or from a variable ends a word,
/// quoted text never does.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

type LexResult<T> = Result<T, String>;

fn check_len(s: &str) -> LexResult<()> {
    if s.len() > MAX_EXPANDED_LEN {
        return Err(format!("expansion longer than {MAX_EXPANDED_LEN} bytes"));
    }
    Ok(())
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<String>)> {
        let saved_raw = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved_raw;
        r
    }

    /// The word up to `stop` inside a `${...}`; when the input ends before it, `missing` is
    /// the error (what is missing is clearer than where the word broke off).
    fn word_until(&mut self, stop: char, raw_escapes: bool, missing: &str) -> LexResult<String> {
        match self.process_stop_on(Some(stop), raw_escapes) {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => Err(missing.into()),
            Err(e) => Err(e),
        }
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.lex.skip_process_quotes => Some(self.process_single_quote()?),
                '"' if !self.lex.skip_process_quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                check_len(&result)?;
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            let mut ch = self.next().unwrap_or_default();
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                    check_len(&result)?;
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(c) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(c);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "variable substitutions nested deeper than {MAX_NESTING}"
            ));
        }
        let r = self.process_dollar_inner();
        self.depth -= 1;
        r
    }

    fn process_dollar_inner(&mut self) -> LexResult<String> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // '{'
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.process_name();
        let mut ch = self.next();
        if ch.is_none() {
            // BuildKit reports "unsupported modifier (\u{fffd})" here; say what is wrong.
            return Err("syntax error: missing '}'".into());
        }
        let mut chs: String = ch.map(String::from).unwrap_or_else(|| "\u{FFFD}".into());
        let mut null_is_unset = false;
        match ch {
            Some('}') => {
                return Ok(match self.get_env(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            Some(':') => {
                null_is_unset = true;
                ch = self.next();
                chs.push(ch.unwrap_or('\u{FFFD}'));
            }
            _ => {}
        }
        match ch {
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                let raw = op == '#' || op == '%';
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = self.word_until('}', raw, "syntax error: missing '}'")?;
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                let unset = !set || (null_is_unset && value.is_empty());
                match op {
                    '-' => Ok(if unset { word } else { value }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        if !set {
                            let m = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        Ok(value)
                    }
                    _ => {
                        let (greedy, pat) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let pat = Pattern::parse(&pat)
                            .map_err(|e| format!("invalid pattern ({pat}) in substitution: {e}"))?;
                        let vchars: Vec<char> = value.chars().collect();
                        if op == '#' {
                            let cut = pat
                                .prefix_match(&vchars, greedy, &mut self.budget)?
                                .unwrap_or(0);
                            Ok(vchars[cut..].iter().collect())
                        } else {
                            let rpat = pat.reversed();
                            let rev: Vec<char> = vchars.iter().rev().copied().collect();
                            let cut = rpat
                                .prefix_match(&rev, greedy, &mut self.budget)?
                                .unwrap_or(0);
                            Ok(vchars[..vchars.len() - cut].iter().collect())
                        }
                    }
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = self.word_until('/', true, "syntax error: missing '/' in ${}")?;
                let replacement = self.word_until('}', true, "syntax error: missing '}'")?;
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let pat = Pattern::parse(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                pat.replace(&value, &replacement, all, &mut self.budget)
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }
}

/// A shell pattern of `${VAR#pat}` and friends: literals, `?` (any one character) and `*`
/// (any run). Matched by simulating all positions at once, so time is
/// O(len(value) × len(pattern)) per attempt, never exponential.
#[derive(Debug, Clone)]
struct Pattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Star,
}

impl Pattern {
    /// BuildKit's `convertShellPatternToRegex`: `\` escapes `*`, `?` and `\`; `\}` and `\/`
    /// are the characters themselves; any other escape is an error.
    fn parse(p: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = p.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => out.push(Tok::Star),
                '?' => out.push(Tok::Any),
                '\\' => {
                    if matches!(chars.get(i), Some('}' | '/')) {
                        // the backslash is dropped; the next character is taken as literal
                        continue;
                    }
                    match chars.get(i) {
                        Some(&e @ ('*' | '?' | '\\')) => {
                            out.push(Tok::Lit(e));
                            i += 1;
                        }
                        Some(e) => return Err(format!("invalid escape '\\{e}'")),
                        None => return Err("invalid escape '\\'".into()),
                    }
                }
                c => out.push(Tok::Lit(c)),
            }
        }
        Ok(Pattern(out))
    }

    fn reversed(&self) -> Pattern {
        Pattern(self.0.iter().rev().copied().collect())
    }

    /// The states reachable after `i` pattern tokens, closed over `*` matching nothing.
    fn closure(&self, set: &mut [bool]) {
        for i in 0..self.0.len() {
            if set[i] && self.0[i] == Tok::Star {
                set[i + 1] = true;
            }
        }
    }

    /// Length (in chars) of the shortest or longest prefix of `s` the pattern matches.
    fn prefix_match(
        &self,
        s: &[char],
        longest: bool,
        budget: &mut u64,
    ) -> LexResult<Option<usize>> {
        let n = self.0.len();
        let mut cur = vec![false; n + 1];
        let mut nxt = vec![false; n + 1];
        cur[0] = true;
        self.closure(&mut cur);
        let mut best = None;
        if cur[n] {
            best = Some(0);
            if !longest {
                return Ok(best);
            }
        }
        for (idx, &c) in s.iter().enumerate() {
            *budget = budget.checked_sub(n as u64 + 1).ok_or_else(|| {
                format!("pattern substitution needs more than {MAX_PATTERN_STEPS} steps")
            })?;
            nxt.fill(false);
            let mut any = false;
            for i in 0..n {
                if !cur[i] {
                    continue;
                }
                match self.0[i] {
                    Tok::Star => {
                        nxt[i] = true;
                        any = true;
                    }
                    Tok::Any => {
                        nxt[i + 1] = true;
                        any = true;
                    }
                    Tok::Lit(l) if l == c => {
                        nxt[i + 1] = true;
                        any = true;
                    }
                    Tok::Lit(_) => {}
                }
            }
            if !any {
                break;
            }
            self.closure(&mut nxt);
            if nxt[n] {
                best = Some(idx + 1);
                if !longest {
                    return Ok(best);
                }
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
        Ok(best)
    }

    /// `${VAR/pat/repl}` (first, leftmost-longest match) and `${VAR//pat/repl}` (every
    /// non-overlapping match; as in Go's `ReplaceAllString`, an empty match right after a
    /// match is skipped).
    fn replace(&self, value: &str, repl: &str, all: bool, budget: &mut u64) -> LexResult<String> {
        let chars: Vec<char> = value.chars().collect();
        // A pattern that starts with `*` that does not match at some position matches at no
        // later one either: stop looking there.
        let leading_star = self.0.first() == Some(&Tok::Star);
        let mut out = String::new();
        let mut i = 0;
        let mut searching = true;
        let mut last_end: Option<usize> = None;
        while i <= chars.len() {
            if searching && out.len() <= MAX_EXPANDED_LEN {
                match self.prefix_match(&chars[i..], true, budget)? {
                    Some(0) if last_end == Some(i) => {}
                    Some(len) => {
                        out.push_str(repl);
                        searching = all;
                        last_end = Some(i + len);
                        if len > 0 {
                            i += len;
                            continue;
                        }
                    }
                    None if leading_star => searching = false,
                    None => {}
                }
            }
            if i < chars.len() {
                out.push(chars[i]);
            }
            i += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("a  b".into()),
            "PATHV" => Some("/usr/local/bin/app.tar.gz".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> Result<String, Error> {
        ShellLex::new('\\').process_word(s, &env)
    }

    #[test]
    fn words_and_quotes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("plain", Some("plain")),
            ("a'b c'd", Some("ab cd")),
            ("a'b", None),
            (r"a\'b", Some("a'b")),
            (r"x\ty", Some("xty")),
            (r#""x\ty""#, Some(r"x\ty")),
            (r#""x\\y""#, Some(r"x\y")),
            (r"'x\y'", Some(r"x\y")),
            (r"end\", Some("end")),
            (r"$HOME/x", Some("/root/x")),
            (r"\$HOME", Some("$HOME")),
            (r#""\$HOME""#, Some("$HOME")),
            ("'$HOME'", Some("$HOME")),
            ("$", Some("$")),
            ("$.x", Some("$.x")),
            ("${}", None),
            ("${HOME", None),
            ("${NOPE}-", Some("-")),
            ("${NOPE:-d}", Some("d")),
            ("${EMPTY:-d}", Some("d")),
            ("${EMPTY-d}", Some("")),
            ("${NOPE-d}", Some("d")),
            ("${HOME:+set}", Some("set")),
            ("${EMPTY:+set}", Some("")),
            ("${EMPTY+set}", Some("set")),
            ("${NOPE+set}", Some("")),
            ("${NOPE:-${HOME}}", Some("/root")),
            ("${NOPE:-${ALSO:-deep}}", Some("deep")),
            ("${NOPE?}", None),
            ("${EMPTY?}", Some("")),
            ("${EMPTY:?}", None),
            ("${HOME:?}", Some("/root")),
            ("${HOME:=x}", None),
            ("${HOME:x}", None),
            ("$1x", Some("x")),
            ("${NOPE:-a b {c}", Some("a b {c")),
            ("${PATHV##*/}", Some("app.tar.gz")),
            ("${PATHV#*/}", Some("usr/local/bin/app.tar.gz")),
            ("${PATHV%.*}", Some("/usr/local/bin/app.tar")),
            ("${PATHV%%.*}", Some("/usr/local/bin/app")),
            ("${PATHV/local/opt}", Some("/usr/opt/bin/app.tar.gz")),
            ("${PATHV//\\//_}", Some("_usr_local_bin_app.tar.gz")),
            ("${PATHV//*/x}", Some("x")),
            ("${PATHV/*bin/x}", Some("x/app.tar.gz")),
            ("${PATHV//?/x}", Some("xxxxxxxxxxxxxxxxxxxxxxxxx")),
            ("${PATHV//l*l/L}", Some("/usr/L/bin/app.tar.gz")),
            ("${PATHV/#/x}", Some("/usr/local/bin/app.tar.gz")),
            ("${NOPE//a/b}", Some("")),
            ("${HOME:#x}", None),
        ];
        for (input, want) in cases {
            let got = w(input);
            match want {
                Some(want) => assert_eq!(got.as_deref().ok(), Some(*want), "{input}: {got:?}"),
                None => assert!(got.is_err(), "{input} should fail, got {got:?}"),
            }
        }
    }

    #[test]
    fn word_splitting() {
        let lex = ShellLex::new('\\');
        let cases: &[(&str, &[&str])] = &[
            ("a b", &["a", "b"]),
            ("x${SP}y", &["xa", "by"]),
            ("x\"${SP}\"y", &["xa  by"]),
            (r"a\ b", &["a b"]),
            ("a\" b\"", &["a b"]),
            ("  lead  ", &["lead"]),
            ("''", &[]),
        ];
        for (input, want) in cases {
            let got = lex.process_words(input, &env).unwrap();
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn backtick_escape() {
        let lex = ShellLex::new('`');
        assert_eq!(lex.process_word("a`$HOME", &env).unwrap(), "a$HOME");
        assert_eq!(lex.process_word(r"C:\dir", &env).unwrap(), r"C:\dir");
    }

    #[test]
    fn pattern_work_is_bounded() {
        let long = "a".repeat(200_000);
        let env = |k: &str| (k == "A").then(|| long.clone());
        let lex = ShellLex::new('\\');
        // Quadratic in the value: refused instead of spinning.
        let e = lex.process_word("${A//a*b/c}", &env).unwrap_err();
        assert!(e.message.contains("steps"), "{}", &e.message[..80]);
        // A leading `*` that fails once fails everywhere: linear.
        assert!(lex.process_word("${A//*b/c}", &env).unwrap() == long);
        // Linear ones go through.
        assert_eq!(lex.process_word("${A%%a*}", &env).unwrap(), "");
        assert_eq!(lex.process_word("${A#a}", &env).unwrap().len(), 199_999);
    }

    #[test]
    fn nesting_is_capped() {
        let deep = "${A:-".repeat(MAX_NESTING + 5) + &"}".repeat(MAX_NESTING + 5);
        assert!(w(&deep).is_err());
        let ok = "${A:-".repeat(10) + "x" + &"}".repeat(10);
        assert_eq!(w(&ok).unwrap(), "x");
    }
}
