use berth_types::{ErrorKind, Kinded};

/// Errors of the build context. Messages follow Docker's wording where users know it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `.dockerignore` pattern that does not parse (Go's `filepath.ErrBadPattern`).
    #[error("syntax error in pattern: {0:?}")]
    BadPattern(String),
    /// `!` alone in a `.dockerignore`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// The Dockerfile named by `-f` / `dockerfile` is not in the context.
    #[error("Cannot locate specified Dockerfile: {0}")]
    DockerfileNotFound(String),
    /// Bad input from the user: a malformed URL, a context that is not a directory, ...
    #[error("{0}")]
    InvalidArgument(String),
    /// The context archive is unacceptable (a path or symlink escape, corruption).
    #[error("invalid build context: {0}")]
    UnsafeContext(String),
    /// The context (or a download) exceeds its size cap.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// A git context could not be cloned or checked out.
    #[error("unable to prepare git context: {0}")]
    Git(String),
    /// A remote context or `ADD <url>` could not be downloaded.
    #[error("{0}")]
    Http(String),
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

impl From<berth_archive::Error> for Error {
    fn from(e: berth_archive::Error) -> Error {
        match e {
            berth_archive::Error::Io { op, path, source } => Error::Io { op, path, source },
            berth_archive::Error::TooLarge { limit } => Error::TooLarge {
                what: "build context".into(),
                limit,
            },
            e => Error::UnsafeContext(e.to_string()),
        }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::BadPattern(_)
            | Error::IllegalExclusion
            | Error::DockerfileNotFound(_)
            | Error::InvalidArgument(_)
            | Error::UnsafeContext(_)
            | Error::TooLarge { .. }
            | Error::Git(_)
            | Error::Http(_) => ErrorKind::InvalidArgument,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
