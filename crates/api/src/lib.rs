//! The Docker Engine API, server side.
//!
//! This crate knows HTTP and Docker's wire conventions — versioned paths, `{"message": …}`
//! errors, hijacked attach/exec streams, the 8-byte multiplexed framing, streaming JSON — and
//! nothing about how containers are run. It calls a [`Backend`], which the daemon implements;
//! a test can implement it with a fake.
//!
//! Lifecycle of a request:
//! 1. [`server::serve`] accepts a connection on the unix socket and hands it to hyper (HTTP/1.1
//!    with upgrades enabled, so that attach and exec can take over the connection).
//! 2. The version layer strips an optional `/v1.xx` prefix, refusing versions older than
//!    [`berth_types::MIN_API_VERSION`] or newer than [`berth_types::API_VERSION`].
//! 3. A route in [`routes`] parses query and body, calls the backend, and renders the answer in
//!    Docker's shape; backend errors become [`ApiError`]s with the HTTP status of their
//!    [`berth_types::ErrorKind`].

pub mod backend;
pub mod error;
pub mod hijack;
pub mod routes;
pub mod server;
pub mod stdcopy;

pub use backend::Backend;
pub use error::ApiError;
