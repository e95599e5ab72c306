//! Image references: `[registry[:port]/][namespace/]name[:tag][@digest]`, normalised as Docker
//! does (no registry → `docker.io`, a one-part Docker Hub name → `library/<name>`, no tag and no
//! digest → `latest`) and printed back in the familiar short form.

use std::fmt;

use crate::error::{Error, Result};

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub domain: String,
    /// Repository path within the registry, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` manifest digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `s`, adding `latest` when it has neither tag nor digest.
    pub fn parse(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_bare(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses `s` without adding a default tag.
    pub fn parse_bare(s: &str) -> Result<Reference> {
        let invalid = |why: &str| Error::InvalidReference {
            reference: s.to_string(),
            reason: why.to_string(),
        };
        if s.is_empty() {
            return Err(invalid("empty reference"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                berth_content::Digest::parse(d).map_err(|_| invalid("invalid digest"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= MAX_TAG_LEN
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(invalid("invalid tag"));
            }
        }
        if name.is_empty() {
            return Err(invalid("empty repository name"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == LEGACY_DOMAIN {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if !valid_domain(&domain) {
            return Err(invalid("invalid registry host"));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase"));
        }
        if !path
            .split('/')
            .all(berth_types::reference::valid_path_component)
        {
            return Err(invalid("invalid repository name"));
        }
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid("repository name too long"));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `domain/path`, the full repository name.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository in Docker's short form (`busybox`, `user/app`, `localhost:5000/app`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    /// The reference in Docker's short form, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The repository with this reference's tag only (the key tags are stored under).
    pub fn tagged_name(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.repository()))
    }

    /// The repository with this reference's digest only.
    pub fn digest_name(&self) -> Option<String> {
        self.digest
            .as_ref()
            .map(|d| format!("{}@{d}", self.repository()))
    }
}

impl fmt::Display for Reference {
    /// The full normalised form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The familiar form of a stored, normalised name (`docker.io/library/busybox:latest` →
/// `busybox:latest`). Names that do not parse are returned unchanged.
pub fn familiar(normalised: &str) -> String {
    Reference::parse_bare(normalised)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| normalised.to_string())
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    // Host names and bracketed IPv6 literals.
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("user/app:v1").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app:v1");
        assert_eq!(r.familiar(), "user/app:v1");
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.to_string(), "localhost:5000/app:latest");
        assert_eq!(r.familiar(), "localhost:5000/app:latest");
        let r = Reference::parse("index.docker.io/library/busybox:1.36").unwrap();
        assert_eq!(r.familiar(), "busybox:1.36");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("quay.io/a/b@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest_name().unwrap(), format!("quay.io/a/b@{d}"));
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(
            Reference::parse("my-app__x.y:1.0-rc_1").unwrap().path,
            "library/my-app__x.y"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a/../b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "busybox@sha256:abc",
            "host:port/x",
            "a//b",
            "bad tag:x",
            ":tag",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
