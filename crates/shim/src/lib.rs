//! The per-container shim and the daemon's client for it.
//!
//! One shim process runs per container, started by the daemon as `berth shim <state dir>`
//! ([`client::spawn`]). It is the parent and subreaper of the container's init, holds its stdio
//! (pipes, or the PTY master), writes the json-file log ([`jsonlog`]), serves the
//! [`protocol`] on `<state dir>/shim.sock`, and records the init's exit status in `exit.json`.
//! The daemon can die and restart at any moment: everything it needs is in the state dir.
//!
//! # Lifecycle
//!
//! ```text
//! daemon: write shim.json ─► spawn(berth, dir) ─────────────► returns Ok (created) or ShimError
//!   berth shim dir: fork ─► child: setsid, subreaper, shim.pid, bind shim.sock,
//!                                  runtime create (init waits for start), init.pid,
//!                                  report "ok" on the pipe ─► parent prints it and exits
//!   shim: serve Start/Attach/Exec*/Kill/Pause/Resume/Resize/State/Wait
//!   init exits ─► drain output ─► exit.json (durable) ─► answer Wait pollers ─► close streams
//!             ─► runtime delete ─► remove shim.sock ─► shim exits
//! ```
//!
//! `Shutdown` kills a still-running container and goes through the same end.
//!
//! The shim is single-threaded (libcontainer forks inside it) and keeps its memory small.
//! [`init`] is the `docker-init` of `--init` containers, shipped in the same binary.

pub mod client;
pub mod error;
pub mod init;
pub mod jsonlog;
pub mod protocol;
mod server;
mod sockpath;

pub use client::{spawn, ShimClient};
pub use error::{ClientError, SpawnError};

/// Entry point of `berth shim <state dir>`: never returns.
///
/// Reads `<state dir>/shim.json`, creates the container and prints one [`protocol::Response`]
/// line on stdout — `{"result":"ok"}`, or `{"result":"error","kind":...,"message":...}` (which is
/// also a valid `ShimError`) — then exits 0 or 1, while a detached child serves the container.
/// Call it before anything starts threads (it forks).
pub fn main(state_dir: &std::path::Path) -> ! {
    server::run(state_dir)
}
