use berth_types::{ErrorKind, Kinded};

/// Errors of the network subsystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a malformed subnet, port spec, address or option.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request contradicts the state: overlapping subnets, an address outside the
    /// network, a port already taken.
    #[error("{0}")]
    Conflict(String),
    /// No free subnet or address is left.
    #[error("{0}")]
    Exhausted(String),
    /// A kernel request over netlink failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Setting up a network namespace failed.
    #[error("network namespace {what}: {source}")]
    Netns {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The firewall (nft / iptables) refused the rules.
    #[error("firewall: {0}")]
    Firewall(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn netlink(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Netlink { what, source }
    }

    pub(crate) fn netns(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Netns { what, source }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Exhausted(_) => ErrorKind::Unavailable,
            Error::Netlink { .. } | Error::Netns { .. } | Error::Firewall(_) | Error::Io { .. } => {
                ErrorKind::Internal
            }
        }
    }
}
