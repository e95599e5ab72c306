//! Configuration: a YAML file shaped like distribution's `config.yml` (so an existing registry
//! configuration mostly carries over), with Berth's extensions, and flags that override it.
//!
//! ```yaml
//! http:
//!   addr: 127.0.0.1:5000
//!   tls: { certificate: /etc/berth/registry.crt, key: /etc/berth/registry.key }
//! storage:
//!   filesystem: { rootdirectory: /var/lib/berth/registry }
//!   delete: { enabled: true }
//!   maintenance:
//!     readonly: { enabled: false }
//!     uploadpurging: { age: 24h, maxuploads: 1000 }
//! auth:
//!   htpasswd: { realm: berth-registry, path: /etc/berth/htpasswd }
//!   token:                      # Berth's built-in token service (users from htpasswd)
//!     service: berth-registry
//!     expiration: 5m
//!     acl:
//!       - { account: alice, name: "alice/*", actions: [pull, push, delete] }
//!       - { account: "*", name: "*", actions: [pull] }
//! proxy:                        # distribution's single upstream ...
//!   remoteurl: http://127.0.0.1:5001
//!   ttl: 10m
//! proxies:                      # ... or several, chosen by the repository name's prefix
//!   - { prefix: hub/, remoteurl: http://127.0.0.1:5002, username: u, password: p }
//! gc: { interval: 24h, grace: 1h, dryrun: false, deleteuntagged: false }
//! limits: { idletimeout: 60s, maxmanifestbytes: 4194304 }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The whole configuration, after the file and the flags are merged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// distribution's `version: 0.1`, accepted and ignored.
    pub version: Option<serde_norway::Value>,
    /// distribution's `log:` section: `formatter: text|json` is honoured (see
    /// [`Config::log_formatter`]); the level comes from `--log-level`/`RUST_LOG`.
    pub log: Option<serde_norway::Value>,
    pub http: Http,
    pub storage: Storage,
    pub auth: Auth,
    pub proxy: Option<ProxyRemote>,
    pub proxies: Vec<ProxyRemote>,
    pub gc: Gc,
    pub limits: Limits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Http {
    pub addr: Option<String>,
    pub tls: Option<Tls>,
    /// distribution's other http keys (secret, headers, debug...), accepted and ignored.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Storage {
    pub filesystem: Filesystem,
    pub delete: Enabled,
    pub maintenance: Maintenance,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    pub rootdirectory: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Enabled {
    pub enabled: bool,
}

impl Default for Enabled {
    fn default() -> Self {
        // Deletion is part of the protocol Berth serves, so it is on unless switched off
        // (distribution defaults it off).
        Enabled { enabled: true }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Maintenance {
    pub readonly: ReadOnly,
    pub uploadpurging: UploadPurging,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReadOnly {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct UploadPurging {
    /// An upload untouched for this long is discarded.
    pub age: String,
    /// At most this many uploads in progress (each holds a file open); more are refused with
    /// `TOOMANYREQUESTS`.
    pub maxuploads: usize,
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_norway::Value>,
}

impl Default for UploadPurging {
    fn default() -> Self {
        UploadPurging {
            age: "24h".into(),
            maxuploads: 1000,
            other: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub htpasswd: Option<Htpasswd>,
    pub token: Option<Token>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Htpasswd {
    #[serde(default = "default_realm")]
    pub realm: String,
    pub path: PathBuf,
}

fn default_realm() -> String {
    "berth-registry".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Token {
    /// The URL clients fetch tokens from; by default this server's own `/token`.
    pub realm: Option<String>,
    pub service: String,
    pub issuer: String,
    pub expiration: String,
    /// Hex HMAC key; random at start when absent (tokens then die with the process).
    pub secret: Option<String>,
    /// Who may do what where; the first rule whose account and name match decides. With no
    /// rules, every authenticated user may do everything.
    pub acl: Vec<AclRule>,
}

impl Default for Token {
    fn default() -> Self {
        Token {
            realm: None,
            service: "berth-registry".into(),
            issuer: "berth-registry".into(),
            expiration: "5m".into(),
            secret: None,
            acl: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AclRule {
    /// A user name, or `*` for every authenticated user.
    pub account: String,
    /// A repository name, a prefix ending in `*`, or `*`.
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRemote {
    /// Repositories whose name starts with this are mirrored from this upstream, the prefix
    /// removed (`hub/library/busybox` → `library/busybox`). Empty for distribution's `proxy:`.
    #[serde(default)]
    pub prefix: String,
    pub remoteurl: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// PEM CA certificates to verify an https upstream with (default: the system's).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// How long a tag fetched from upstream is served before it is checked again.
    #[serde(default = "default_ttl")]
    pub ttl: String,
}

fn default_ttl() -> String {
    "10m".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gc {
    /// Run garbage collection this often while serving ("0" or absent: never on its own).
    pub interval: Option<String>,
    /// Blobs younger than this are kept even if unreferenced: a client may be between pushing
    /// its layers and pushing the manifest that references them.
    pub grace: String,
    pub dryrun: bool,
    /// Also remove manifests that no tag, index or referrer subject keeps (distribution's
    /// `garbage-collect --delete-untagged`).
    pub deleteuntagged: bool,
}

impl Default for Gc {
    fn default() -> Self {
        Gc {
            interval: None,
            grace: "1h".into(),
            dryrun: false,
            deleteuntagged: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// A request whose headers or body stall for this long is dropped.
    pub idletimeout: String,
    pub maxmanifestbytes: usize,
    /// Simultaneous connections; more wait in the kernel's backlog.
    pub maxconnections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idletimeout: "60s".into(),
            maxmanifestbytes: 4 << 20,
            maxconnections: 4096,
        }
    }
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";
pub const DEFAULT_STORAGE: &str = "/var/lib/berth/registry";

impl Config {
    /// `log.formatter` (`text`, `json`; distribution's `logstash` is read as `json`).
    pub fn log_formatter(&self) -> Option<&str> {
        match self.log.as_ref()?.get("formatter")?.as_str()? {
            "logstash" => Some("json"),
            f => Some(f),
        }
    }

    /// Reads a YAML file. Unknown top-level keys are refused so a typo is not silently ignored.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Internal(format!("read {}: {e}", path.display())))?;
        Config::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config> {
        serde_norway::from_str(text).map_err(|e| Error::Internal(format!("config: {e}")))
    }

    pub fn addr(&self) -> &str {
        self.http.addr.as_deref().unwrap_or(DEFAULT_ADDR)
    }

    pub fn root(&self) -> PathBuf {
        self.storage
            .filesystem
            .rootdirectory
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE))
    }

    /// Every upstream, the longest prefix first so the most specific one wins.
    pub fn upstreams(&self) -> Vec<ProxyRemote> {
        let mut v: Vec<ProxyRemote> = self.proxy.iter().chain(&self.proxies).cloned().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        v
    }
}

/// Parses `90s`, `10m`, `24h`, `7d`, `250ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let bad = || Error::Internal(format!("invalid duration {s:?}"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Ok(Duration::from_millis(n)),
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("x").is_err() && parse_duration("5y").is_err());
    }

    #[test]
    fn distribution_shaped_yaml() {
        let c = Config::parse(
            "version: 0.1\nhttp:\n  addr: 127.0.0.1:6000\n  secret: x\nstorage:\n  filesystem:\n    rootdirectory: /tmp/r\n  maintenance:\n    readonly:\n      enabled: true\nauth:\n  htpasswd:\n    realm: r\n    path: /tmp/h\nproxy:\n  remoteurl: http://127.0.0.1:1\nproxies:\n  - prefix: hub/\n    remoteurl: http://127.0.0.1:2\n",
        )
        .unwrap();
        assert_eq!(c.addr(), "127.0.0.1:6000");
        assert_eq!(c.root(), PathBuf::from("/tmp/r"));
        assert!(c.storage.maintenance.readonly.enabled);
        assert!(c.storage.delete.enabled);
        assert_eq!(c.upstreams()[0].prefix, "hub/");
        assert!(Config::parse("bogus: 1\n").is_err());
    }
}
