//! The one error type of the crate: a message and the line it belongs to.

use berth_types::{ErrorKind, Kinded};

/// A parse or expansion error. `line` is 1-based; 0 when the error comes from [`crate::ShellLex`]
/// used on its own (the caller knows the line; [`crate::Instruction::expand`] fills it in).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl Error {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            message: message.into(),
        }
    }

    /// The same error attributed to `line` (if it has none yet).
    pub(crate) fn at(mut self, line: usize) -> Error {
        if self.line == 0 {
            self.line = line;
        }
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "dockerfile parse error on line {}: {}",
                self.line, self.message
            )
        }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}
