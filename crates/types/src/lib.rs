//! The shared vocabulary of Berth.
//!
//! Every subsystem crate speaks in these types so that the daemon can compose them without
//! translation layers:
//!
//! * [`api`] — the Docker Engine API models (request and response bodies). They come from
//!   `bollard-stubs`, which is generated from Docker's own swagger file, so field names and JSON
//!   shapes are Docker's by construction rather than by our transcription.
//! * [`image`] — the image configuration document (OCI image config plus Docker's extensions such
//!   as `Healthcheck`, `OnBuild` and `Shell`).
//! * [`units`] — durations as Docker prints them.
//! * [`id`] — identifiers: 64-hex object IDs, short (12-character) forms, name validation.
//! * [`ErrorKind`] — the few kinds that every crate's typed errors map onto, and that the Engine
//!   API turns into HTTP status codes.

pub mod id;
pub mod idmap;
pub mod image;
pub mod reference;
pub mod units;
pub mod waste;

/// Docker Engine API models, re-exported so that crates depend on one name.
pub use bollard_stubs::models as api;

/// The version of the Engine API that Berth advertises.
pub const API_VERSION: &str = "1.51";
/// The oldest versioned API path that Berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// The kinds of failure that matter to a caller. Each crate has its own `thiserror` enum; each
/// variant of those maps onto one of these through [`Kinded::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist (HTTP 404).
    NotFound,
    /// An object with that name or ID exists already (HTTP 409).
    AlreadyExists,
    /// The request itself is malformed or names impossible values (HTTP 400).
    InvalidArgument,
    /// The object is in a state that forbids the operation, e.g. removing a running container
    /// (HTTP 409).
    Conflict,
    /// A precondition the caller can fix is missing (HTTP 412 in Docker's few uses; we use 409
    /// where Docker does).
    FailedPrecondition,
    /// A dependency (runtime, disk, shim) is unavailable right now (HTTP 503).
    Unavailable,
    /// Berth does not implement this (HTTP 501).
    NotImplemented,
    /// A bug or an unexpected system failure (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code the Engine API answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::FailedPrecondition => 412,
            ErrorKind::Unavailable => 503,
            ErrorKind::NotImplemented => 501,
            ErrorKind::Internal => 500,
        }
    }
}

/// Implemented by every crate's error type, so that the API layer can pick a status code
/// without knowing the crate.
pub trait Kinded {
    fn kind(&self) -> ErrorKind;
}
