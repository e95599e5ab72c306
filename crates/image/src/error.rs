use berth_types::{ErrorKind, Kinded};

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker's wording, which clients match on.
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("multiple images found with prefix {0:?}; use more characters")]
    Ambiguous(String),
    /// The archive handed to load/import is malformed or inconsistent.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    #[error("invalid image config {id}: {reason}")]
    InvalidConfig { id: String, reason: String },
    #[error("layer {index} of image {image}: diff ID is {actual}, but the config says {expected}")]
    DiffIdMismatch {
        image: String,
        index: usize,
        expected: String,
        actual: String,
    },
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },
    /// A list or prune filter Berth cannot apply (Docker's wording is in the message).
    #[error("{0}")]
    InvalidFilter(String),
    /// The store failed a consistency check that the caller asked to be strict about.
    #[error("image store check: {0}")]
    Check(String),
    #[error("invalid platform {0:?}")]
    InvalidPlatform(String),
    /// Docker's "conflict: unable to delete ..." family.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Content(#[from] berth_content::Error),
    #[error(transparent)]
    Metadata(#[from] berth_metadata::Error),
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::Error),
    #[error(transparent)]
    Archive(#[from] berth_archive::Error),
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::InvalidReference { .. }
            | Error::Ambiguous(_)
            | Error::InvalidArchive(_)
            | Error::InvalidConfig { .. }
            | Error::DiffIdMismatch { .. }
            | Error::InvalidChange { .. }
            | Error::InvalidFilter(_)
            | Error::InvalidPlatform(_) => ErrorKind::InvalidArgument,
            Error::Check(_) => ErrorKind::Internal,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Content(e) => e.kind(),
            Error::Metadata(e) => e.kind(),
            Error::Snapshot(e) => e.kind(),
            Error::Archive(e) => e.kind(),
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
