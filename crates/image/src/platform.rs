//! Platforms (`os/arch[/variant]`) in OCI's vocabulary.

use crate::error::{Error, Result};

/// This host's OS and architecture as OCI names them.
pub fn host() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    ("linux", arch)
}

/// A parsed `os[/arch[/variant]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This host's platform.
    pub fn host() -> Platform {
        let (os, arch) = host();
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    /// Parses `os[/arch[/variant]]`; a missing architecture is the host's.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        if parts.len() > 3 || !parts.iter().all(|p| ok(p)) {
            return Err(Error::InvalidPlatform(s.to_string()));
        }
        let os = parts[0].to_ascii_lowercase();
        if os != "linux" {
            return Err(Error::InvalidPlatform(s.to_string()));
        }
        Ok(Platform {
            os,
            architecture: parts
                .get(1)
                .map_or_else(|| host().1.to_string(), |a| a.to_ascii_lowercase()),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}
