//! Errors of the runtime crate.

use berth_types::{ErrorKind, Kinded};

/// Everything that can go wrong while building a spec, resolving a user or driving a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A `SpecInput` field holds a value the spec cannot express (bad capability, bad rlimit,
    /// relative path...).
    #[error("invalid container configuration: {0}")]
    InvalidSpec(String),
    /// `--user` names a user or group that the image does not define.
    #[error("unable to find {what} {name}: no matching entries in {file} file")]
    UnknownUser {
        what: &'static str,
        name: String,
        file: &'static str,
    },
    /// `--user` is malformed.
    #[error("invalid user specification {0:?}")]
    InvalidUser(String),
    /// An rlimit above the host's hard limit: we cannot raise it (no CAP_SYS_RESOURCE).
    #[error("ulimit {name}: requested {requested} is above the host's hard limit {host_hard}")]
    RlimitTooHigh {
        name: String,
        requested: u64,
        host_hard: u64,
    },
    /// The container command does not exist: Docker exits 127.
    #[error("{0}")]
    CommandNotFound(String),
    /// The container command exists but cannot be executed: Docker exits 126.
    #[error("{0}")]
    CommandNotInvokable(String),
    /// The runtime knows no container of that ID.
    #[error("container {0} not found in the runtime")]
    NotFound(String),
    /// The operation does not fit the container's state (start twice, pause a stopped one).
    #[error("{0}")]
    Conflict(String),
    /// The runtime failed for another reason; the message is the runtime's.
    #[error("OCI runtime {op} failed: {message}")]
    Runtime { op: &'static str, message: String },
    /// An I/O error of ours (files in the bundle or the rootfs, spawning the runtime binary).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }

    /// Classify a runtime's failure message the way Docker does (moby's
    /// `translateContainerdStartErr`): a missing command becomes [`RuntimeError::CommandNotFound`]
    /// (exit 127), one that cannot be executed [`RuntimeError::CommandNotInvokable`] (126).
    pub fn classify(op: &'static str, message: String) -> Self {
        let m = message.to_ascii_lowercase();
        let about_exec =
            m.contains("exec:") || m.contains("executable") || m.contains("exec format");
        if m.contains("executable file not found")
            || (about_exec && m.contains("no such file or directory"))
        {
            RuntimeError::CommandNotFound(message)
        } else if about_exec
            && (m.contains("permission denied")
                || m.contains("is a directory")
                || m.contains("exec format error"))
        {
            RuntimeError::CommandNotInvokable(message)
        } else {
            RuntimeError::Runtime { op, message }
        }
    }
}

impl Kinded for RuntimeError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::InvalidSpec(_)
            | RuntimeError::InvalidUser(_)
            | RuntimeError::RlimitTooHigh { .. } => ErrorKind::InvalidArgument,
            RuntimeError::UnknownUser { .. } => ErrorKind::InvalidArgument,
            RuntimeError::CommandNotFound(_) | RuntimeError::CommandNotInvokable(_) => {
                ErrorKind::InvalidArgument
            }
            RuntimeError::NotFound(_) => ErrorKind::NotFound,
            RuntimeError::Conflict(_) => ErrorKind::Conflict,
            RuntimeError::Runtime { .. } | RuntimeError::Io { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_docker() {
        let e = RuntimeError::classify(
            "create",
            "unable to start container process: exec: \"nope\": executable file not found in $PATH"
                .into(),
        );
        assert!(matches!(e, RuntimeError::CommandNotFound(_)));
        let e = RuntimeError::classify("create", "exec: \"/etc\": is a directory".into());
        assert!(matches!(e, RuntimeError::CommandNotInvokable(_)));
        let e = RuntimeError::classify("create", "exec: \"/x\": permission denied".into());
        assert!(matches!(e, RuntimeError::CommandNotInvokable(_)));
        let e = RuntimeError::classify("create", "cgroup mount failed".into());
        assert!(matches!(e, RuntimeError::Runtime { .. }));
    }
}
