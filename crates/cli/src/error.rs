//! Errors of the CLI and the exit codes they map to.

use berth_types::{ErrorKind, Kinded};

/// A failed command. Each variant knows its exit status and how docker prints it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon (or the connection to it) failed. Printed as `Error response from daemon: …`
    /// for daemon-side errors.
    #[error("{0}")]
    Client(#[from] berth_client::Error),
    /// Bad flags or arguments; `usage` is the command's usage line, shown after the message.
    #[error("{message}")]
    Usage {
        message: String,
        command: String,
        code: i32,
    },
    /// The command ran and wants this exit status (a container's exit code), printing `message`
    /// first when there is one.
    #[error("{}", message.as_deref().unwrap_or(""))]
    Status { code: i32, message: Option<String> },
    /// A local failure (reading an env file, a terminal ioctl…).
    #[error("{0}")]
    Local(String),
}

impl CliError {
    pub fn local(msg: impl Into<String>) -> Self {
        CliError::Local(msg.into())
    }

    /// An invalid flag value, exit 125 like docker's flag errors.
    pub fn invalid_flag(command: &str, message: impl Into<String>) -> Self {
        CliError::Usage {
            message: message.into(),
            command: command.to_string(),
            code: 125,
        }
    }

    /// The text docker prints for this error (without the `berth:` prefix some commands add).
    pub fn render(&self) -> String {
        match self {
            CliError::Client(e @ berth_client::Error::Api { .. }) => {
                format!("Error response from daemon: {e}")
            }
            other => other.to_string(),
        }
    }
}

impl Kinded for CliError {
    fn kind(&self) -> ErrorKind {
        match self {
            CliError::Client(e) => e.kind(),
            CliError::Usage { .. } => ErrorKind::InvalidArgument,
            CliError::Status { .. } | CliError::Local(_) => ErrorKind::Internal,
        }
    }
}

/// Shorthand for command results: the exit status on success.
pub type Result<T = i32, E = CliError> = std::result::Result<T, E>;

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Local(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_render_like_docker() {
        let e = CliError::from(berth_client::Error::Api {
            status: 404,
            message: "No such container: x".into(),
        });
        assert_eq!(
            e.render(),
            "Error response from daemon: No such container: x"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
