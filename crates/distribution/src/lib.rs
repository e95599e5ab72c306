//! The registry client: pull and push over the Docker Registry HTTP API v2 / OCI distribution.
//!
//! * [`Client`] holds the transport (TCP, or TLS through rustls) and the registries
//!   configuration ([`RegistryConfig`]: insecure registries — loopback always is — and mirrors
//!   for any registry). [`Client::repository`] opens a [`Repository`] session: the `/v2/` ping
//!   picks the auth scheme, then basic credentials or a bearer token from the challenge's realm
//!   authorize every request.
//! * [`Puller`] pulls in two steps so that the API can answer "not found" with a status code
//!   before streaming: [`Puller::resolve`] finds the manifest (an index resolved to one
//!   [`berth_image::platform::Platform`]), [`Puller::run`] downloads every missing layer in
//!   parallel and unpacks each straight from its download stream, parent before child, into the
//!   [`berth_image::ImageStore`] through an [`berth_image::Ingest`] that records the image only
//!   when all of it is verified.
//! * [`push`] uploads an image's blobs in parallel (skipping what the registry has, mounting
//!   what another repository of the registry holds), then its manifest.
//! * [`progress`] writes Docker's JSON progress messages exactly as dockerd does.

mod error;
pub mod manifest;
pub mod progress;
mod pull;
pub mod push;
mod registry;
pub mod search;
mod transport;

pub use error::{Error, Result};
pub use pull::{Plan, Pulled, Puller};
pub use push::{push, PushSource};
pub use registry::{Client, Credentials, RegistryConfig, Repository};
pub use transport::Endpoint;
