//! Berth's content store: immutable blobs (manifests, configs, compressed layers) named by the
//! sha256 of their bytes, modelled on containerd's content store.
//!
//! Layout under the data root:
//!
//! ```text
//! content/blobs/sha256/<hex>   complete, verified blobs (read-only files)
//! content/ingest/<ref-hash>/   one in-progress write: `data`
//! ```
//!
//! Lifecycle of a blob:
//!
//! 1. [`Store::writer`] opens an ingest for a caller-chosen *ref* (any string naming the write,
//!    e.g. `layer-sha256:...`). Only one writer per ref at a time.
//! 2. The caller writes bytes; the [`Writer`] hashes them as they pass.
//! 3. [`Writer::commit`] checks the size and digest against what the caller expected, fsyncs the
//!    data, renames it into `blobs/` and fsyncs the directory. Only then does the blob exist under
//!    its name. Dropping a writer without committing discards the ingest.
//! 4. Readers open blobs by [`Digest`]; [`Store::delete`] removes one.
//!
//! Crash safety: a blob is visible only after a verified, durable rename; whatever a crash leaves
//! in `ingest/` is removed by the next [`Store::open`] — except *resumable* ingests
//! ([`Store::resumable_writer`], e.g. a registry's chunked uploads), which outlive their writer
//! and the process: [`Store::resume_writer`] reopens one where it stopped, and
//! [`Store::remove_stale_resumable`] clears those abandoned for too long.

mod digest;
mod error;
mod store;

pub use digest::{Digest, DigestWriter};
pub use error::{Error, Result};
pub use store::{Info, Store, Writer};
