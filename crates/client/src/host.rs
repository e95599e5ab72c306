//! Which daemon to talk to: the `-H` flag, else `BERTH_HOST`, else the default socket.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The socket Berth's daemon listens on unless told otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// The environment variable that names the host when `-H` is absent.
pub const HOST_ENV: &str = "BERTH_HOST";

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket path.
    Unix(PathBuf),
}

impl Host {
    /// Parses `unix:///path` (or a bare absolute path). `tcp://` and others are refused with a
    /// clear error: this client speaks only unix sockets.
    pub fn parse(s: &str) -> Result<Host> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(Error::UnsupportedHost(s.to_string()));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if s.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(s)));
        }
        Err(Error::UnsupportedHost(s.to_string()))
    }

    /// The `unix://…` spelling, for messages.
    pub fn display(&self) -> String {
        match self {
            Host::Unix(p) => format!("unix://{}", p.display()),
        }
    }
}

/// Where a host address came from; only the default one may auto-start a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource {
    Flag,
    Env,
    Default,
}

/// Picks the host the way the CLI does: flag, then the environment value given (the caller reads
/// the environment, so that this stays free of process-global lookups), then the default.
pub fn select_host(flag: Option<&str>, env: Option<&str>) -> (String, HostSource) {
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return (h.to_string(), HostSource::Flag);
    }
    if let Some(h) = env.filter(|h| !h.is_empty()) {
        return (h.to_string(), HostSource::Env);
    }
    (DEFAULT_HOST.to_string(), HostSource::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_hosts_and_refuses_tcp() {
        assert_eq!(
            Host::parse("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("/run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert!(matches!(
            Host::parse("tcp://1.2.3.4:2375"),
            Err(Error::UnsupportedHost(_))
        ));
        assert!(matches!(
            Host::parse("unix://"),
            Err(Error::UnsupportedHost(_))
        ));
    }

    #[test]
    fn selection_order_is_flag_env_default() {
        assert_eq!(
            select_host(Some("unix:///a"), Some("unix:///b")).1,
            HostSource::Flag
        );
        assert_eq!(
            select_host(None, Some("unix:///b")),
            ("unix:///b".into(), HostSource::Env)
        );
        assert_eq!(
            select_host(None, None),
            (DEFAULT_HOST.into(), HostSource::Default)
        );
        assert_eq!(select_host(Some(""), Some("")).1, HostSource::Default);
    }
}
