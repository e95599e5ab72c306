//! The build engine's errors, mapped onto [`berth_types::ErrorKind`].

use berth_types::{ErrorKind, Kinded};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Dockerfile does not parse or an instruction is malformed after expansion.
    #[error("{0}")]
    Dockerfile(String),
    /// Bad build options or instruction arguments the user can fix.
    #[error("{0}")]
    Invalid(String),
    /// A `RUN` step exited non-zero: Docker's wording, with the code for `errorDetail.code`.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i64 },
    /// `COPY`/`ADD` failed (missing source, path outside the context, ...).
    #[error("{0}")]
    Copy(String),
    /// More than 127 layers.
    #[error("failed to register layer: max depth exceeded ({0} layers; at most 127)")]
    MaxDepth(usize),
    /// A feature Berth's builder does not have.
    #[error("{0} is not supported by Berth's builder")]
    NotImplemented(String),
    /// An image named by `FROM` or `--from` cannot be found or pulled.
    #[error("{0}")]
    NotFound(String),
    /// What the daemon reported (its kind is kept).
    #[error("{message}")]
    Worker { kind: ErrorKind, message: String },
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let op = op.into();
        move |source| Error::Io { op, source }
    }

    /// The exit code of a failed `RUN`, for the stream's `errorDetail.code`.
    pub fn exit_code(&self) -> Option<i64> {
        match self {
            Error::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Dockerfile(_) | Error::Invalid(_) | Error::Copy(_) | Error::MaxDepth(_) => {
                ErrorKind::InvalidArgument
            }
            Error::RunFailed { .. } => ErrorKind::InvalidArgument,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Worker { kind, .. } => *kind,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
