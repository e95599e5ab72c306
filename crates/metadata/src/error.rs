use berth_types::{ErrorKind, Kinded};

/// Errors of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is taken by another object (Docker: "Conflict. The container name ... is
    /// already in use").
    #[error("name {0:?} is already in use")]
    NameInUse(String),
    /// An object with this ID exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// No object has this ID or name.
    #[error("{0} not found")]
    NotFound(String),
    /// The requested IP address is held by another container.
    #[error("Address already in use: {0}")]
    AddressInUse(String),
    /// No free address is left in the network's range.
    #[error("no available IPv4 addresses on network {0}")]
    Exhausted(String),
    /// The database was written by a newer schema than this build knows.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    UnknownSchema { found: u32, supported: u32 },
    /// The database could not be configured as required.
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NameInUse(_) => ErrorKind::Conflict,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AddressInUse(_) => ErrorKind::Conflict,
            Error::Exhausted(_) => ErrorKind::Unavailable,
            Error::UnknownSchema { .. } => ErrorKind::FailedPrecondition,
            Error::Config(_) => ErrorKind::Unavailable,
            Error::Sqlite(e) if is_busy(e) => ErrorKind::Unavailable,
            Error::Sqlite(_) => ErrorKind::Internal,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
