//! `.dockerignore` files, matched exactly as Docker does (moby's `patternmatcher` and
//! `patternmatcher/ignorefile` packages): gitignore-like patterns where `*` and `?` stop at `/`,
//! `**` crosses directories, `[...]` is a character class, `\` escapes, a leading `/` is
//! dropped, `!` re-includes, and the last matching pattern wins. A pattern that names a
//! directory also excludes everything below it.

use std::path::Path;

use regex::Regex;

use crate::error::{Error, Result};

/// The file Docker reads beside the context root.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// One pattern after cleaning, as patternmatcher keeps it.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: MatchKind,
}

#[derive(Debug, Clone)]
enum MatchKind {
    Exact,
    /// `dir/**`: everything that starts with the text before `**`.
    Prefix,
    /// `**/x` or `**x`: everything that ends with the text after `**`.
    Suffix,
    Regexp(Regex),
}

/// Per-pattern results for a directory, passed down to its children
/// (patternmatcher's `MatchInfo`).
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl Pattern {
    /// The cleaned pattern text, without the `!`.
    pub fn text(&self) -> &str {
        &self.cleaned
    }

    /// `true` for a `!` exception.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            MatchKind::Exact => path == self.cleaned,
            MatchKind::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchKind::Suffix => {
                let suffix = &self.cleaned[2..];
                if path.ends_with(suffix) {
                    return true;
                }
                // `**/foo` matches `foo`.
                suffix.starts_with('/') && path == &suffix[1..]
            }
            MatchKind::Regexp(re) => re.is_match(path),
        }
    }
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` (ignorefile.ReadAll followed by patternmatcher.New).
    pub fn parse(text: &[u8]) -> Result<DockerIgnore> {
        DockerIgnore::from_patterns(&read_all(text))
    }

    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<DockerIgnore>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(DockerIgnore::parse(&b)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path)(e)),
        }
    }

    /// Builds a matcher from patterns as `ReadAll` returns them (patternmatcher.New).
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<DockerIgnore> {
        let mut out = DockerIgnore::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(Error::IllegalExclusion);
                }
                exclusion = true;
                p = rest.to_string();
                out.exclusions = true;
            }
            validate_glob(&p)?;
            let kind = compile(&p)?;
            out.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(out)
    }

    /// The patterns, in file order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `true` when some pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Appends patterns (as the docker CLI appends `!Dockerfile` and `!.dockerignore`).
    pub fn push(&mut self, pattern: &str) -> Result<()> {
        let more = DockerIgnore::from_patterns(&[pattern])?;
        self.exclusions |= more.exclusions;
        self.patterns.extend(more.patterns);
        Ok(())
    }

    /// Whether `file` (slash-separated, relative to the context) is excluded, testing the
    /// patterns against the file and each of its parent directories
    /// (patternmatcher's `MatchesOrParentMatches`). The context root itself is never excluded.
    pub fn matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parents = parent_dirs(&file);
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&file);
            if !m {
                m = parents.iter().any(|d| p.matches(d));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether `file` itself matches, without looking at its parents
    /// (patternmatcher's `MatchesExact`).
    pub fn matches_exact(&self, file: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            if p.matches(file) {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Like [`DockerIgnore::matches`], reusing the parent directory's results while walking a
    /// tree (patternmatcher's `MatchesUsingParentResults`). Pass `MatchInfo::default()` for a
    /// top-level entry.
    pub fn matches_with_parent(&self, file: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let parent_matched = &parent.parent_matched;
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent_matched.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(file);
                if !m && parent_matched.is_empty() {
                    m = parent_dirs(file).iter().any(|d| p.matches(d));
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }

    /// For an excluded directory: whether some `!` exception may re-include something below
    /// it, so the walk must still descend (go-archive's `TarWithOptions` rule: an exception
    /// whose text starts with `dir/`).
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }
}

/// `a/b/c` → `["a", "a/b"]`; empty for a top-level name.
fn parent_dirs(file: &str) -> Vec<String> {
    let Some((parent, _)) = file.rsplit_once('/') else {
        return Vec::new();
    };
    let parts: Vec<&str> = parent.split('/').collect();
    (1..=parts.len()).map(|i| parts[..i].join("/")).collect()
}

/// ignorefile.ReadAll: one pattern per line; a UTF-8 BOM on the first line is dropped, lines
/// starting with `#` are comments, whitespace is trimmed, and each pattern (after a `!`) is
/// cleaned and loses a leading `/`.
pub fn read_all(text: &[u8]) -> Vec<String> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

/// Go's `path/filepath.Clean` for `/`-separated paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The syntax check Go's `filepath.Match` applies: character classes must be closed and
/// non-empty, ranges need both ends, `\` must escape something.
fn validate_glob(p: &str) -> Result<()> {
    let bad = || Error::BadPattern(p.to_string());
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    // One class item (getEsc): refuses `-` and `]` unescaped, and a trailing `\`.
    let esc = |i: &mut usize| -> Result<()> {
        match chars.get(*i) {
            None | Some('-') | Some(']') => Err(bad()),
            Some('\\') => {
                *i += 1;
                if *i >= chars.len() {
                    return Err(bad());
                }
                *i += 1;
                Ok(())
            }
            Some(_) => {
                *i += 1;
                Ok(())
            }
        }
    };
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(bad());
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut n = 0;
                loop {
                    if chars.get(i) == Some(&']') && n > 0 {
                        i += 1;
                        break;
                    }
                    esc(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        esc(&mut i)?;
                    }
                    n += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// patternmatcher's `compile`: turns the pattern into one of four match kinds.
fn compile(p: &str) -> Result<MatchKind> {
    const ESCAPE: &str = ".+()|{}$";
    let mut re = String::from("^");
    let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regexp
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut idx = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                // `**/` is `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == 0 {
                        kind = 1;
                    } else {
                        re.push_str(".*");
                        kind = 3;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = 3;
                }
                if idx == 0 {
                    kind = 2;
                }
            } else {
                re.push_str("[^/]*");
                kind = 3;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            kind = 3;
        } else if ESCAPE.contains(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            if let Some(&next) = chars.get(i) {
                i += 1;
                re.push('\\');
                re.push(next);
                kind = 3;
            } else {
                re.push('\\');
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            kind = 3;
        } else {
            re.push(ch);
        }
        idx += 1;
    }
    Ok(match kind {
        0 => MatchKind::Exact,
        1 => MatchKind::Prefix,
        2 => MatchKind::Suffix,
        _ => {
            re.push('$');
            MatchKind::Regexp(Regex::new(&re).map_err(|_| Error::BadPattern(p.to_string()))?)
        }
    })
}

/// Which ignore file applies to a build whose Dockerfile is `dockerfile` (relative to the
/// context): `<Dockerfile>.dockerignore` beside it wins over the context's `.dockerignore`, as in
/// BuildKit. Returns the relative name of the file to read.
pub fn ignore_file_candidates(dockerfile: &str) -> [String; 2] {
    [
        format!("{dockerfile}.dockerignore"),
        DOCKERIGNORE.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str], file: &str) -> Result<bool> {
        let pm = DockerIgnore::from_patterns(patterns)?;
        Ok(pm.matches(file))
    }

    // patternmatcher_test.go: TestMatches, as (pattern, text, exact, orParent).
    const CASES: &[(&str, &str, u8)] = &[
        // 0 fail, 1 exact, 2 inexact (parent match only)
        ("**", "file", 1),
        ("**", "file/", 1),
        ("**/", "file", 1),
        ("**/", "file/", 1),
        ("**", "/", 1),
        ("**/", "/", 1),
        ("**", "dir/file", 1),
        ("**/", "dir/file", 1),
        ("**", "dir/file/", 1),
        ("**/", "dir/file/", 1),
        ("**/**", "dir/file", 1),
        ("**/**", "dir/file/", 1),
        ("dir/**", "dir/file", 1),
        ("dir/**", "dir/file/", 1),
        ("dir/**", "dir/dir2/file", 1),
        ("dir/**", "dir/dir2/file/", 1),
        ("**/dir", "dir", 1),
        ("**/dir", "dir/file", 2),
        ("**/dir2/*", "dir/dir2/file", 1),
        ("**/dir2/*", "dir/dir2/file/", 2),
        ("**/dir2/**", "dir/dir2/dir3/file", 1),
        ("**/dir2/**", "dir/dir2/dir3/file/", 1),
        ("**file", "file", 1),
        ("**file", "dir/file", 1),
        ("**/file", "dir/file", 1),
        ("**file", "dir/dir/file", 1),
        ("**/file", "dir/dir/file", 1),
        ("**/file*", "dir/dir/file", 1),
        ("**/file*", "dir/dir/file.txt", 1),
        ("**/file*txt", "dir/dir/file.txt", 1),
        ("**/file*.txt", "dir/dir/file.txt", 1),
        ("**/file*.txt*", "dir/dir/file.txt", 1),
        ("**/**/*.txt", "dir/dir/file.txt", 1),
        ("**/**/*.txt2", "dir/dir/file.txt", 0),
        ("**/*.txt", "file.txt", 1),
        ("**/**/*.txt", "file.txt", 1),
        ("a**/*.txt", "a/file.txt", 1),
        ("a**/*.txt", "a/dir/file.txt", 1),
        ("a**/*.txt", "a/dir/dir/file.txt", 1),
        ("a/*.txt", "a/dir/file.txt", 0),
        ("a/*.txt", "a/file.txt", 1),
        ("a/*.txt**", "a/file.txt", 1),
        ("a[b-d]e", "ae", 0),
        ("a[b-d]e", "ace", 1),
        ("a[b-d]e", "aae", 0),
        ("a[^b-d]e", "aze", 1),
        (".*", ".foo", 1),
        (".*", "foo", 0),
        ("abc.def", "abcdef", 0),
        ("abc.def", "abc.def", 1),
        ("abc.def", "abcZdef", 0),
        ("abc?def", "abcZdef", 1),
        ("abc?def", "abcdef", 0),
        ("**/foo/bar", "foo/bar", 1),
        ("**/foo/bar", "dir/foo/bar", 1),
        ("**/foo/bar", "dir/dir2/foo/bar", 1),
        ("abc/**", "abc", 0),
        ("abc/**", "abc/def", 1),
        ("abc/**", "abc/def/ghi", 1),
        ("**/.foo", ".foo", 1),
        ("**/.foo", "bar.foo", 0),
        ("a(b)c/def", "a(b)c/def", 1),
        ("a(b)c/def", "a(b)c/xyz", 0),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", 1),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            1,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            1,
        ),
        ("a\\\\", "a\\", 1),
        ("a\\*b", "a*b", 1),
    ];

    #[test]
    fn patternmatcher_cases_exact_and_with_parents() {
        for (pattern, text, want) in CASES {
            let pm = DockerIgnore::from_patterns(&[*pattern]).unwrap();
            assert_eq!(
                pm.matches_exact(text),
                *want == 1,
                "MatchesExact({pattern:?}, {text:?})"
            );
            // MatchesOrParentMatches cleans nothing itself (the package-level function does).
            let parents = parent_dirs(text);
            let mut matched = false;
            for p in pm.patterns() {
                if p.matches(text) || parents.iter().any(|d| p.matches(d)) {
                    matched = !p.exclusion;
                }
            }
            assert_eq!(
                matched,
                *want != 0,
                "MatchesOrParentMatches({pattern:?}, {text:?})"
            );
            // Walking down with parent results gives the same answer.
            let mut info = MatchInfo::default();
            if let Some((parent, _)) = text.rsplit_once('/') {
                let parts: Vec<&str> = parent.split('/').collect();
                for i in 1..=parts.len() {
                    info = pm.matches_with_parent(&parts[..i].join("/"), &info).1;
                }
            }
            assert_eq!(
                pm.matches_with_parent(text, &info).0,
                *want != 0,
                "MatchesUsingParentResults({pattern:?}, {text:?})"
            );
        }
    }

    #[test]
    fn multi_pattern_cases() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (
                &[
                    "**",
                    "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                ],
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                false,
            ),
            (
                &["**", "!dist/*.whl"],
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                false,
            ),
            (&["*"], "fileutils.go", true),
            (&["*.go"], "fileutils.go", true),
            (&["!fileutils.go", "*.go"], "fileutils.go", true),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs/", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
            (&["*.go", "!fileutils.go"], "fileutils.go", false),
            (&["*.go"], ".", false),
            (&[], "/any/path/there", false),
        ];
        for (patterns, text, want) in cases {
            assert_eq!(m(patterns, text).unwrap(), *want, "{patterns:?} {text:?}");
        }
        assert!(matches!(m(&["!"], "x"), Err(Error::IllegalExclusion)));
        assert!(matches!(m(&["["], "x"), Err(Error::BadPattern(_))));
    }

    // Go's filepath.Match tests, as patternmatcher_test.go runs them through Matches.
    #[test]
    fn filepath_match_cases() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(true)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[x-]", "-", None),
            ("[x-]", "z", None),
            ("[-x]", "x", None),
            ("[-x]", "-", None),
            ("[-x]", "a", None),
            ("\\", "a", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("*x", "xxx", Some(true)),
        ];
        for (pattern, s, want) in cases {
            match (m(&[pattern], s), want) {
                (Ok(got), Some(w)) => assert_eq!(got, *w, "Match({pattern:?}, {s:?})"),
                (Err(Error::BadPattern(_)), None) => {}
                (got, want) => panic!("Match({pattern:?}, {s:?}) = {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn read_all_like_ignorefile() {
        let text = b"\xEF\xBB\xBF# comment\r\n  /foo/../bar/ \n\n!  /keep\n ## not a comment\n**/*.o\r\n/\n!\n";
        assert_eq!(
            read_all(text),
            vec!["bar", "!keep", "## not a comment", "**/*.o", "/", "!"]
        );
        assert!(matches!(
            DockerIgnore::parse(text),
            Err(Error::IllegalExclusion)
        ));
        let ig = DockerIgnore::parse(b"node_modules\n*.log\n!important.log\n").unwrap();
        assert!(ig.matches("node_modules/x/y.js"));
        assert!(ig.matches("a.log"));
        assert!(!ig.matches("important.log"));
        assert!(!ig.matches("src/a.log")); // `*` does not cross `/`
    }

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a//b/./", "a/b"),
            ("/", "/"),
            ("!foo/../bar", "bar"),
            ("a/..", "."),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }

    #[test]
    fn reinclusion_below_excluded_dir() {
        let ig = DockerIgnore::parse(b"docs\n!docs/keep.md\n").unwrap();
        assert!(ig.may_reinclude_below("docs"));
        assert!(!ig.may_reinclude_below("other"));
        let ig = DockerIgnore::parse(b"docs\n").unwrap();
        assert!(!ig.may_reinclude_below("docs"));
    }
}
