//! `berth registry`: a registry server speaking the Docker Registry HTTP API v2 and the OCI
//! distribution specification.
//!
//! # Model
//!
//! Every blob and manifest is a file in Berth's content store ([`berth_content::Store`]), named by
//! its sha256 and shared by all repositories. A repository is a set of small link files
//! ([`storage`]): which blobs it holds, which manifests (with the media type each was pushed
//! with), and what each tag points at. A client sees a blob or manifest only through its
//! repository's link, so it reads only what was pushed (or mounted) into that repository.
//!
//! # Lifecycle of an upload
//!
//! 1. `POST /v2/<name>/blobs/uploads/` opens an upload: a [`berth_content::Writer`] in the
//!    store's ingest area, hashed as bytes arrive, kept in memory under a random id
//!    ([`uploads`]). With `?digest=` the body is the whole blob and steps 2–3 happen at once; with
//!    `?mount=&from=` an existing blob of another repository is linked instead (201), or, if the
//!    client may not read it or it is absent, an ordinary upload is opened (202).
//! 2. `PATCH` appends a chunk; `Content-Range` must start where the upload stands (416 otherwise,
//!    with the `Range` the client should resume from; `GET` on the upload tells it too).
//! 3. `PUT ?digest=` appends the last bytes and commits: the store verifies the digest, fsyncs,
//!    renames the data into place and fsyncs the directory; only then is the repository's link
//!    written (itself by temp name, fsync, rename). A wrong digest discards the upload.
//! 4. `DELETE` cancels. Uploads idle longer than the purge age are discarded. Upload data are
//!    resumable ingests of the content store, so a restart keeps them: the first request for an
//!    upload the server does not hold takes it up from disk (re-hashing what arrived).
//!
//! A crash at any point leaves at most an ingest directory (removed at the next start) or a blob
//! no link names (removed by garbage collection): never a partial blob or manifest that a client
//! can see. Two clients pushing the same blob write separate ingests; the second rename finds the
//! blob present and discards its copy.
//!
//! A manifest `PUT` is checked (media type, JSON shape, ≤ 4 MiB, digest when pushed by digest,
//! every referenced blob or child manifest present in the repository), stored as a blob, then
//! linked as a revision, then tagged. Garbage collection ([`gc`]) runs while serving: see there
//! how it and pushes exclude each other only for the short sweep.

mod auth;
mod blobs;
mod body;
mod catalog;
pub mod config;
mod error;
mod gc;
mod manifests;
mod metrics;
mod names;
mod proxy;
mod ratelimit;
mod server;
mod storage;
mod tags;
mod uploads;

mod cli;

pub use cli::cli_main;
pub use config::Config;
pub use error::{Error, Result};
pub use gc::{collect_offline, GcReport};
pub use server::{Registry, Server};
