//! Errors of the Engine API client.

use berth_types::{ErrorKind, Kinded};

/// Everything that can go wrong between the client and a daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered with an error status; `message` is the `{"message": …}` of its body
    /// (or the raw body when that is not JSON).
    #[error("{message}")]
    Api { status: u16, message: String },
    /// Nothing answers at the host address.
    #[error("Cannot connect to the Berth daemon at {host}. Is the berth daemon running?")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The host address has a scheme this client does not speak.
    #[error("unsupported host {0:?}: only unix:// sockets are supported")]
    UnsupportedHost(String),
    /// The HTTP exchange itself failed.
    #[error("error during connect: {0}")]
    Http(#[from] hyper::Error),
    /// A request could not be built (bad header or URI).
    #[error("invalid request: {0}")]
    Request(String),
    /// Reading or writing a stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A response body was not the JSON we expected.
    #[error("error decoding response: {0}")]
    Decode(#[from] serde_json::Error),
    /// The daemon broke the protocol (e.g. no `101` on a hijack, a truncated stdcopy frame).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// The HTTP status of a daemon-side error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the daemon said the object does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { status, .. } => match status {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                400 => ErrorKind::InvalidArgument,
                412 => ErrorKind::FailedPrecondition,
                501 => ErrorKind::NotImplemented,
                503 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            Error::Connect { .. } => ErrorKind::Unavailable,
            Error::UnsupportedHost(_) | Error::Request(_) => ErrorKind::InvalidArgument,
            Error::Http(_) | Error::Io(_) => ErrorKind::Unavailable,
            Error::Decode(_) | Error::Protocol(_) => ErrorKind::Internal,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_status_maps_to_kind() {
        let e = Error::Api {
            status: 404,
            message: "No such container: x".into(),
        };
        assert!(e.is_not_found());
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "No such container: x");
        let e = Error::Api {
            status: 409,
            message: "conflict".into(),
        };
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
}
