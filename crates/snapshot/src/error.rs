use berth_types::{ErrorKind, Kinded};

/// Errors of the snapshotters.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("snapshot {0:?} not found")]
    NotFound(String),
    #[error("snapshot {0:?} already exists")]
    AlreadyExists(String),
    /// The snapshot is of the wrong kind for the operation (e.g. committing a view).
    #[error("snapshot {key:?} is {actual}, not {wanted}")]
    WrongKind {
        key: String,
        actual: &'static str,
        wanted: &'static str,
    },
    /// Another snapshot depends on this one.
    #[error("snapshot {key:?} is the parent of {child:?}")]
    InUse { key: String, child: String },
    #[error("invalid snapshot key {0:?}")]
    InvalidKey(String),
    #[error("mount {what} on {target}: {source}")]
    Mount {
        what: String,
        target: String,
        source: std::io::Error,
    },
    #[error("snapshot metadata {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl AsRef<std::path::Path>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().display().to_string();
        move |source| Error::Io { op, path, source }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::WrongKind { .. } | Error::InUse { .. } => ErrorKind::FailedPrecondition,
            Error::InvalidKey(_) => ErrorKind::InvalidArgument,
            Error::Mount { .. } | Error::Corrupt { .. } | Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
