//! The wire protocol between the daemon and a shim.
//!
//! The shim listens on a unix socket (`<state dir>/shim.sock`). Every connection starts with one
//! request: a single line of JSON ([`Request`]) terminated by `\n`. The shim answers with one line
//! of JSON ([`Response`]). For the *stream* requests ([`Request::Attach`] and
//! [`Request::ExecStart`] without `detach`), after a successful response the connection becomes a
//! raw byte stream:
//!
//! * shim → client: the process's output. Without a TTY it is framed exactly as Docker's
//!   multiplexed stream (8-byte header: stream type 1 = stdout / 2 = stderr, three zero bytes, a
//!   big-endian u32 length; then the payload), so the daemon copies it to an API client
//!   unchanged. With a TTY it is the raw PTY output.
//! * client → shim: raw stdin bytes (only when `stdin` was asked for). A half-close (EOF) from the
//!   client ends stdin for the process when the container has `StdinOnce` (attach) or always for
//!   an exec; it is not a disconnect, output keeps flowing.
//! * the shim closes the stream when the process has exited and all of its output has been
//!   written.
//!
//! [`Request::Wait`] is a long poll: the response line is sent when the container's init exits.
//!
//! Durable state lives in files in the state dir, so the daemon can be killed and restarted at any
//! moment: `shim.pid` (the shim's pid), `init.pid` (the container init's host pid, once created),
//! and `exit.json` ([`ExitStatus`], written to a temporary name, fsynced, renamed).

use serde::{Deserialize, Serialize};

/// Name of the options file the daemon writes into the state dir before it spawns the shim.
pub const OPTIONS_FILE: &str = "shim.json";
/// Name of the shim's socket inside the state dir.
pub const SOCKET_FILE: &str = "shim.sock";
/// Name of the file holding the shim's own pid.
pub const SHIM_PID_FILE: &str = "shim.pid";
/// Name of the file holding the container init's host pid.
pub const INIT_PID_FILE: &str = "init.pid";
/// Name of the exit status file ([`ExitStatus`] as JSON).
pub const EXIT_FILE: &str = "exit.json";

/// What the shim needs to know, written by the daemon as `shim.json` in the state dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimOptions {
    /// The container's full ID (also the OCI container ID given to the runtime).
    pub id: String,
    /// The OCI bundle directory (holds `config.json` and `rootfs/`).
    pub bundle: std::path::PathBuf,
    /// Which OCI runtime runs the container.
    pub runtime: RuntimeChoice,
    /// Root directory for the runtime's own state (`--root` of runc), one per daemon.
    pub runtime_root: std::path::PathBuf,
    /// Allocate a PTY for the init process (the spec's `process.terminal` says the same).
    pub tty: bool,
    /// Keep stdin open for attach (`OpenStdin`).
    pub open_stdin: bool,
    /// Close the container's stdin after the first attached client detaches (`StdinOnce`).
    pub stdin_once: bool,
    /// json-file logging.
    pub log: LogOptions,
}

/// The OCI runtime that runs a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeChoice {
    /// youki's libcontainer, in-process in the shim.
    Builtin,
    /// An external binary with runc's command line (`runc`, `crun`, `youki`).
    External {
        path: std::path::PathBuf,
        args: Vec<String>,
    },
}

/// Docker's json-file log driver options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogOptions {
    /// Path of the current log file (`<id>-json.log`); rotated files get `.1`, `.2`, ….
    pub path: std::path::PathBuf,
    /// Rotate when the file would exceed this many bytes (`max-size`); 0 = never.
    pub max_size: u64,
    /// How many files to keep, the current one included (`max-file`), at least 1.
    pub max_file: u32,
}

/// A request: the first line on a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the created container's init process. Answered with [`Response::Started`].
    Start,
    /// Current state. Answered with [`Response::State`].
    State,
    /// Send a signal to the init (`all`: to every process of the container).
    Kill {
        signal: i32,
        all: bool,
    },
    /// Freeze / thaw the container's cgroup.
    Pause,
    Resume,
    /// Resize the init's PTY.
    Resize {
        height: u16,
        width: u16,
    },
    /// Attach to the init's stdio; the connection becomes a stream (see module docs).
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Long poll until the init exits; answered with [`Response::Exited`].
    Wait,
    /// Register an exec process (not started yet). `process` is an OCI `Process` object.
    ExecCreate {
        exec_id: String,
        process: serde_json::Value,
    },
    /// Start a registered exec. Unless `detach`, the connection becomes its stream. With
    /// `process`, the exec is registered first (as by `ExecCreate`): one round trip, not two.
    ExecStart {
        exec_id: String,
        detach: bool,
        stdin: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        process: Option<serde_json::Value>,
    },
    /// Resize an exec's PTY.
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
    /// State of an exec; answered with [`Response::Exec`].
    ExecState {
        exec_id: String,
    },
    /// Forget an exec, SIGKILLing it first if it still runs (a timed-out healthcheck). Execs
    /// are otherwise kept until the shim exits, so frequent ones (healthchecks) delete theirs.
    ExecDelete {
        exec_id: String,
    },
    /// Tear down: runtime delete (killing the container if it still runs), remove the socket,
    /// and exit. Answered before the shim exits.
    Shutdown,
}

/// A response line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Success with nothing to report (also sent before a stream begins).
    Ok,
    Started {
        pid: i32,
    },
    State(ShimState),
    Exited(ExitStatus),
    Exec(ExecState),
    Error(ShimError),
}

/// The container as the shim sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimState {
    pub status: ContainerStatus,
    /// Host pid of the init, when it exists.
    pub pid: Option<i32>,
    pub exit: Option<ExitStatus>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Stopped,
}

/// How the init ended; stored in `exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    /// Exit code, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecState {
    pub running: bool,
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
}

/// A failure reported by the shim, classified so the daemon can give Docker's exit codes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimError {
    pub kind: ShimErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShimErrorKind {
    /// The command was not found (`executable file not found in $PATH`): Docker exits 127.
    CommandNotFound,
    /// The command exists but cannot be invoked (permission denied, not executable): 126.
    CommandNotInvokable,
    /// The request names something unknown (an exec ID).
    NotFound,
    /// The request does not fit the current state (start twice, pause a stopped container).
    Conflict,
    /// Anything else the runtime reported.
    Runtime,
}
