//! The build context: the files a `docker build` may `COPY`/`ADD`, and the Dockerfile.
//!
//! Lifecycle of one build's context:
//!
//! 1. **Client** ([`pack`]): `berth build DIR` resolves the Dockerfile ([`pack::plan_dir`]), reads
//!    `<Dockerfile>.dockerignore` or `.dockerignore` ([`DockerIgnore`], matched exactly as
//!    Docker's `patternmatcher`), and streams the directory as a tar (uid/gid 0, modes kept,
//!    excluded directories not walked unless a `!` exception needs them). The Dockerfile and
//!    the ignore file are always sent; a Dockerfile from outside the context or from stdin is
//!    added under a generated `.dockerfile.<hex>` name that the sent `.dockerignore` names, as
//!    the docker CLI does. `--secret`s travel as entries under [`SECRETS_DIR`]. A context on
//!    stdin ([`pack::stdin_context`]) is passed through when it is an archive (compression is
//!    left to the daemon) or wrapped into a tar when it is a lone Dockerfile.
//! 2. **Daemon** ([`receive()`]): the tar (plain, gzip, bzip2, xz or zstd, sniffed) is unpacked
//!    into a fresh directory under the daemon's scratch directory (`<data-root>/build/tmp`) with
//!    every path resolved inside that directory (no `..`, absolute or symlink escapes, a size
//!    cap); secrets are taken out first; the Dockerfile is read; the ignore file is applied
//!    (which also removes the Dockerfile and `.dockerignore` when they are ignored, as Docker
//!    does). Remote contexts ([`fetch_remote`]: a git URL with `#ref:subdir`, cloned shallowly
//!    by the host's `git` with hooks, prompts and local transports off; an http(s) tar or plain
//!    Dockerfile) end in the same [`ReceivedContext`].
//! 3. **Builder**: reads files from [`ReceivedContext::root`] (resolving paths inside it) and,
//!    for `ADD <url>`, downloads with [`fetch_url`]. Dropping the [`ReceivedContext`] deletes
//!    the directory.
//! 4. **Daemon start**: [`clean_scratch`] removes what a killed daemon left in the scratch
//!    directory; nothing else ever lives there.

pub mod dockerignore;
mod error;
pub mod fetch;
pub mod pack;
pub mod receive;
pub mod remote;

use std::collections::HashMap;
use std::path::Path;

pub use dockerignore::DockerIgnore;
pub use error::{Error, Result};
pub use fetch::{fetch_url, FetchedFile};
pub use receive::{receive, receive_with, Limits};
pub use remote::{fetch_remote, is_git_url, is_url};

/// The Dockerfile's name when none is given.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// The reserved context directory that carries `--secret` values from the client to the daemon;
/// [`receive()`] strips it before anything else sees the context.
pub const SECRETS_DIR: &str = ".berth-build-secrets";

/// A context ready for the builder, on the daemon's disk.
#[derive(Debug)]
pub struct ReceivedContext {
    /// The extracted context with `.dockerignore` applied; removed when dropped.
    pub root: tempfile::TempDir,
    /// The Dockerfile's bytes.
    pub dockerfile: Vec<u8>,
    /// The Dockerfile's path inside the context as it was found (`Dockerfile`, `dockerfile`, or
    /// the requested path).
    pub dockerfile_name: String,
    /// The ignore file that was applied, if any (`<Dockerfile>.dockerignore` or `.dockerignore`).
    pub dockerignore: Option<DockerIgnore>,
    /// `--secret` values by id.
    pub secrets: HashMap<String, Vec<u8>>,
}

/// Removes everything in `scratch_dir` (contexts of builds a killed daemon did not finish) and
/// creates it if missing. The daemon calls this once at start-up, before any build.
pub fn clean_scratch(scratch_dir: &Path) -> Result<()> {
    match std::fs::read_dir(scratch_dir) {
        Ok(entries) => {
            for e in entries {
                let e = e.map_err(Error::io("read", scratch_dir))?;
                let p = e.path();
                let is_dir = e.file_type().map_err(Error::io("stat", &p))?.is_dir();
                let r = if is_dir {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                match r {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &p)(e)),
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(scratch_dir).map_err(Error::io("create", scratch_dir))
        }
        Err(e) => Err(Error::io("read", scratch_dir)(e)),
    }
}

/// Checks a secret id: a single path component, as BuildKit requires of `--secret id=`.
pub fn validate_secret_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(Error::InvalidArgument(format!("invalid secret id {id:?}")));
    }
    Ok(())
}
