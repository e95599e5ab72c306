use berth_types::{ErrorKind, Kinded};

/// Errors of the registry client. Messages follow Docker's wording where clients match on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// `manifest unknown`, `name unknown`, a missing tag.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    /// The registry could not be reached or answered something we cannot use.
    #[error("{0}")]
    Registry(String),
    /// A manifest, index or config that does not parse or breaks the rules.
    #[error("{0}")]
    InvalidManifest(String),
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NoMatchingPlatform(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Content(#[from] berth_content::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidReference(_) | Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NotFound(_) | Error::NoMatchingPlatform(_) => ErrorKind::NotFound,
            Error::Unauthorized(_) => ErrorKind::InvalidArgument,
            Error::Registry(_) => ErrorKind::Internal,
            Error::InvalidManifest(_)
            | Error::UnsupportedMediaType(_)
            | Error::DigestMismatch { .. } => ErrorKind::InvalidArgument,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Image(e) => e.kind(),
            Error::Content(e) => e.kind(),
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}
