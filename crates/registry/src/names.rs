//! The grammar of repository names, tags and references (distribution's `reference` package).
//!
//! Names become directory paths on disk, so the grammar is also the path-safety check: every
//! component starts and ends with `[a-z0-9]`, which excludes `.`, `..` and the `_`-prefixed
//! directories the storage keeps beside child repositories.

use berth_content::Digest;

use crate::error::{Error, Result};

/// Distribution's limit on the full name.
const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// Validates a repository name: `component(/component)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .split('/')
            .all(berth_types::reference::valid_path_component)
    {
        return Err(Error::NameInvalid(name.to_string()));
    }
    Ok(())
}

/// Whether `tag` matches `[\w][\w.-]{0,127}`.
pub fn tag_ok(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= MAX_TAG
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A manifest reference from a URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// Parses the last path segment of a manifest URL. Anything with a `:` is meant as a digest.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.contains(':') {
            return Digest::parse(s)
                .map(Reference::Digest)
                .map_err(|_| Error::DigestInvalid(format!("invalid digest {s:?}")));
        }
        if tag_ok(s) {
            Ok(Reference::Tag(s.to_string()))
        } else {
            Err(Error::TagInvalid(s.to_string()))
        }
    }
}

/// Parses a digest from a URL or query, answering the specification's `DIGEST_INVALID`.
pub fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|_| Error::DigestInvalid(format!("invalid digest {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "library/busybox",
            "a.b/c_d/e__f/g--h",
            "x0/y-1/z.2",
            "foo/manifests/bar",
        ] {
            check_name(ok).unwrap_or_else(|_| panic!("{ok} refused"));
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "..",
            "a/../b",
            "_a",
            "a_",
            "a___b",
            "a.-b",
            "-a",
            "a/.b",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags_and_refs() {
        assert!(tag_ok("latest") && tag_ok("_x") && tag_ok("v1.2-rc_3"));
        assert!(!tag_ok("") && !tag_ok(".x") && !tag_ok("-x") && !tag_ok(&"a".repeat(129)));
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(matches!(
            Reference::parse("sha256:abc"),
            Err(Error::DigestInvalid(_))
        ));
        assert!(matches!(Reference::parse("a/b"), Err(Error::TagInvalid(_))));
    }
}
