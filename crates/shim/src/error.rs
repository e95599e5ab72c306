//! Errors of the shim client and of spawning a shim.

use berth_types::{ErrorKind, Kinded};

use crate::protocol::{ShimError, ShimErrorKind};

fn shim_kind(kind: ShimErrorKind) -> ErrorKind {
    match kind {
        ShimErrorKind::CommandNotFound | ShimErrorKind::CommandNotInvokable => {
            ErrorKind::InvalidArgument
        }
        ShimErrorKind::NotFound => ErrorKind::NotFound,
        ShimErrorKind::Conflict => ErrorKind::Conflict,
        ShimErrorKind::Runtime => ErrorKind::Internal,
    }
}

/// A failed call to a running shim ([`crate::client::ShimClient`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The shim is not running (no socket, or nobody listening): the container has exited or
    /// its shim died. [`crate::client::read_exit_status`] tells which.
    #[error("shim is not running: {0}")]
    NotRunning(#[source] std::io::Error),
    /// The connection broke.
    #[error("shim connection: {0}")]
    Io(#[from] std::io::Error),
    /// The shim answered something that is not the protocol.
    #[error("shim protocol error: {0}")]
    Protocol(String),
    /// The shim reported a failure.
    #[error("{}", .0.message)]
    Shim(ShimError),
}

impl ClientError {
    /// The shim's classification, when the shim itself reported the error.
    pub fn shim_error(&self) -> Option<&ShimError> {
        match self {
            ClientError::Shim(e) => Some(e),
            _ => None,
        }
    }
}

impl Kinded for ClientError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClientError::NotRunning(_) => ErrorKind::Conflict,
            ClientError::Io(_) => ErrorKind::Unavailable,
            ClientError::Protocol(_) => ErrorKind::Internal,
            ClientError::Shim(e) => shim_kind(e.kind),
        }
    }
}

/// A failed `berth shim <state dir>` ([`crate::client::spawn`]).
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The shim binary could not be run.
    #[error("cannot run the shim {path}: {source}")]
    Exec {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shim ran and reported why the container could not be created.
    #[error("{}", .0.message)]
    Shim(ShimError),
    /// The shim died or printed something unexpected.
    #[error("shim failed: {0}")]
    Protocol(String),
}

impl SpawnError {
    /// The shim's classification (127/126 cases), when the shim reported the failure.
    pub fn shim_error(&self) -> Option<&ShimError> {
        match self {
            SpawnError::Shim(e) => Some(e),
            _ => None,
        }
    }
}

impl Kinded for SpawnError {
    fn kind(&self) -> ErrorKind {
        match self {
            SpawnError::Exec { .. } => ErrorKind::Internal,
            SpawnError::Shim(e) => shim_kind(e.kind),
            SpawnError::Protocol(_) => ErrorKind::Internal,
        }
    }
}

/// Failures inside the shim process; reported to the daemon as a [`ShimError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

impl ServeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServeError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn to_shim_error(&self) -> ShimError {
        use berth_runtime::RuntimeError as R;
        let kind = match self {
            ServeError::Runtime(R::CommandNotFound(_)) => ShimErrorKind::CommandNotFound,
            ServeError::Runtime(R::CommandNotInvokable(_)) => ShimErrorKind::CommandNotInvokable,
            ServeError::Runtime(R::NotFound(_)) | ServeError::NotFound(_) => {
                ShimErrorKind::NotFound
            }
            ServeError::Runtime(R::Conflict(_)) | ServeError::Conflict(_) => {
                ShimErrorKind::Conflict
            }
            _ => ShimErrorKind::Runtime,
        };
        ShimError {
            kind,
            message: self.to_string(),
        }
    }
}
