use berth_types::{ErrorKind, Kinded};

/// Errors of the daemon's own logic. Errors of the subsystems are wrapped with their kind kept.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// Any other missing object, with its full message (e.g. a path in a container).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotImplemented(String),
    /// The runtime failed to start the process; `message` follows Docker's wording so that
    /// clients can tell a missing command (127) from one that cannot be invoked (126).
    #[error("{0}")]
    StartFailed(String),
    #[error("invalid daemon configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metadata(#[from] berth_metadata::Error),
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Distribution(#[from] berth_distribution::Error),
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::Error),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    #[error(transparent)]
    Volume(#[from] berth_volume::Error),
    #[error(transparent)]
    Network(#[from] berth_network::Error),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("{0}")]
    Shim(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchContainer(_)
            | Error::NoSuchExec(_)
            | Error::NoSuchImage(_)
            | Error::NotFound(_)
            | Error::NoSuchNetwork(_) => ErrorKind::NotFound,
            Error::InvalidArgument(_) | Error::Config(_) => ErrorKind::InvalidArgument,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::StartFailed(_) | Error::Io { .. } | Error::Shim(_) | Error::Internal(_) => {
                ErrorKind::Internal
            }
            Error::Metadata(e) => e.kind(),
            Error::Image(e) => e.kind(),
            Error::Distribution(e) => e.kind(),
            Error::Snapshot(e) => e.kind(),
            Error::Runtime(e) => e.kind(),
            Error::Volume(e) => e.kind(),
            Error::Network(e) => e.kind(),
        }
    }
}

impl From<Error> for berth_api::ApiError {
    fn from(e: Error) -> Self {
        berth_api::ApiError::from_kinded(&e)
    }
}
