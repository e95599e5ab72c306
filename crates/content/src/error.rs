use berth_types::{ErrorKind, Kinded};

use crate::Digest;

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string that is not `sha256:` followed by 64 lowercase hex digits.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex>")]
    InvalidDigest(String),
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// Another writer holds this ingest ref.
    #[error("ingest {0:?} is already in progress")]
    IngestInUse(String),
    #[error("content size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A blob is larger than the caller is willing to read into memory.
    #[error("blob {digest} is {size} bytes, more than the {limit} allowed here")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("content store I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().display().to_string();
        move |source| Error::Io { path, source }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidDigest(_)
            | Error::SizeMismatch { .. }
            | Error::DigestMismatch { .. }
            | Error::TooLarge { .. } => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::IngestInUse(_) => ErrorKind::Unavailable,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
