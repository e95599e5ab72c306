//! Paths inside a root (the build context, a mounted image): lexical cleaning, resolution
//! that follows symlinks without ever leaving the root (RESOLVE_IN_ROOT semantics), and the
//! wildcard match of `COPY` sources.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Cleans `p` (absolute or relative) into a path relative to the root, or `None` when `..`
/// climbs above it.
pub fn clean_rel(p: &str) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out.iter().collect())
}

/// Cleans `p` as an absolute path inside a root, where `..` at the top stays at the top (how a
/// container resolves paths).
pub fn clean_abs(p: &str) -> PathBuf {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out.iter().collect()
}

/// Resolves `rel` inside `root`, following symlinks as if `root` were `/`. Returns the
/// resolved path relative to `root`; components that do not exist are kept as written.
pub fn resolve_in_root(root: &Path, rel: &Path) -> Result<PathBuf> {
    let mut todo: Vec<std::ffi::OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut cur = PathBuf::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        match std::fs::symlink_metadata(root.join(&next)) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::Copy(format!(
                        "too many levels of symbolic links: {}",
                        rel.display()
                    )));
                }
                let target = std::fs::read_link(root.join(&next))
                    .map_err(Error::io(format!("reading link {}", next.display())))?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for t in target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n.to_os_string()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    todo.push(t);
                }
            }
            _ => cur = next,
        }
    }
    Ok(cur)
}

/// Whether `name` matches the shell wildcard `pattern` (`*`, `?`, `[...]`, `\` escapes), as
/// Go's `filepath.Match` does for one path component.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| rec(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && rec(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                    return !n.is_empty() && n[0] == '[' && rec(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let mut set = &p[1..close];
                let negate = matches!(set.first(), Some('^') | Some('!'));
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && rec(&p[close + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && rec(&p[2..], &n[1..]),
            Some(&c) => !n.is_empty() && n[0] == c && rec(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    rec(&p, &n)
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every path under `root` matching the relative wildcard `pattern`, component by component,
/// sorted.
pub fn expand_wildcard(root: &Path, pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let Component::Normal(c) = comp else { continue };
        let c = c.to_string_lossy();
        let mut next = Vec::new();
        for base in &found {
            if !has_wildcard(&c) {
                let p = base.join(&*c);
                if std::fs::symlink_metadata(root.join(&p)).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(root.join(base)) else {
                continue;
            };
            let mut names: Vec<_> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| wildcard_match(&c, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found.retain(|p| !p.as_os_str().is_empty());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_rel_refuses_escape() {
        assert_eq!(clean_rel("../x"), None);
        assert_eq!(clean_rel("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(clean_rel("/a/./b/"), Some(PathBuf::from("a/b")));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.js", "a.js"));
        assert!(!wildcard_match("*.js", "a.ts"));
        assert!(wildcard_match("file[0-9]", "file3"));
        assert!(!wildcard_match("file[!0-9]", "file3"));
        assert!(wildcard_match("?b", "ab"));
    }

    #[test]
    fn symlinks_stay_in_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/../../real", d.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../etc", d.path().join("up")).unwrap();
        assert_eq!(
            resolve_in_root(d.path(), Path::new("abs/f")).unwrap(),
            PathBuf::from("real/f")
        );
        assert_eq!(
            resolve_in_root(d.path(), Path::new("up/passwd")).unwrap(),
            PathBuf::from("etc/passwd")
        );
    }
}
