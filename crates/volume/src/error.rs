//! Errors of the volume crate, with the wording Docker uses where clients show it verbatim.

use berth_types::{ErrorKind, Kinded};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `get NAME: no such volume` (404).
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// `remove NAME: volume is in use - [ids]` (409).
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    /// A name, option or mount specification the caller can fix (400).
    #[error("{0}")]
    Invalid(String),
    /// A volume of that name exists with another driver or options (409).
    #[error("{0}")]
    Conflict(String),
    /// A request Berth does not implement (501): other volume drivers, cluster volumes.
    #[error("{0}")]
    NotImplemented(String),
    /// The host's mounts forbid what was asked (propagation on a private mount) (400).
    #[error("{0}")]
    HostMount(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    pub(crate) fn pathrs(context: impl Into<String>) -> impl FnOnce(pathrs::error::Error) -> Error {
        let context = context.into();
        move |e| Error::Io {
            source: match e.kind() {
                pathrs::error::ErrorKind::OsError(Some(errno)) => {
                    std::io::Error::from_raw_os_error(errno)
                }
                _ => std::io::Error::other(e.to_string()),
            },
            context,
        }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::InUse { .. } | Error::Conflict(_) => ErrorKind::Conflict,
            Error::Invalid(_) | Error::HostMount(_) => ErrorKind::InvalidArgument,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
