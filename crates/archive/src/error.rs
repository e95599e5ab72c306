use berth_types::{ErrorKind, Kinded};

/// Errors of layer archive handling. Variants other than `Io` mean the archive itself is
/// unacceptable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry's path is absolute or climbs out with `..`.
    #[error("unsafe path {path:?} in archive: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    /// An entry would be written through a symlink that points outside the root.
    #[error("archive entry {path:?} passes through symlink {link:?} that escapes the root")]
    SymlinkEscape { path: String, link: String },
    /// Resolving an entry's directory takes more symlink hops than the kernel would allow.
    #[error("archive entry {path:?} resolves through a symlink loop")]
    SymlinkLoop { path: String },
    /// A hard link whose target is unusable (outside the root, missing, a directory).
    #[error("archive hard link {path:?} -> {target:?}: {reason}")]
    BadHardlink {
        path: String,
        target: String,
        reason: String,
    },
    /// A copy would replace a directory with a non-directory or the reverse.
    #[error("cannot overwrite directory with non-directory (or the reverse): {0}")]
    OverwriteDirNonDir(String),
    /// A copy's destination exists but is not a directory.
    #[error("extraction point is not a directory: {0}")]
    NotADirectory(String),
    /// The uncompressed stream exceeds the cap set against decompression bombs.
    #[error("layer exceeds the size limit of {limit} bytes uncompressed")]
    TooLarge { limit: u64 },
    /// An entry's owner lies outside the daemon's user-namespace mapping.
    #[error("archive entry {path:?}: container {what} {id} cannot be mapped to a host id")]
    Unmapped {
        path: String,
        what: &'static str,
        id: u32,
    },
    /// The tar stream is corrupt or truncated.
    #[error("malformed archive: {0}")]
    Malformed(String),
    #[error("{op} {path:?}: {source}")]
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
        path: impl std::fmt::Debug,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = format!("{path:?}").trim_matches('"').to_string();
        move |source| Error::Io { op, path, source }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}
