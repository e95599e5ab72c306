//! The Dockerfile build engine.
//!
//! Lifecycle of a build ([`build`]):
//!
//! 1. **Context received**: the daemon hands over the extracted, `.dockerignore`d context
//!    directory, the Dockerfile (parsed with `berth_dockerfile::parse`) and any secrets.
//! 2. **Stages planned**: meta `ARG`s and every `FROM` are expanded; from `--target` (default:
//!    the last stage) only the stages it needs (`FROM <stage>`, `COPY --from`,
//!    `RUN --mount=from=`) are kept.
//! 3. **Stages dispatched**: every needed stage starts at once and waits only for the stages
//!    it uses, so independent stages build in parallel; their output is shown stage by stage.
//! 4. **Each instruction**: expanded with the stage's `ARG`/`ENV`; its cache key computed
//!    (parent image, instruction after expansion, build args in scope, and for `COPY`/`ADD`
//!    the checksums of exactly the files it copies); on a hit the recorded image is reused,
//!    else the step executes — `RUN` in a fresh container through the daemon, `COPY`/`ADD` as
//!    a layer tar written here, metadata steps as a config change — and the new image and its
//!    cache record are stored.
//! 5. **Final image tagged**, and its ID reported.
//!
//! What the daemon provides is the [`Worker`] trait.

mod chown;
mod copy;
mod engine;
mod error;
mod expand;
mod lock;
mod output;
mod paths;
mod plan;
mod stage;
mod worker;

#[cfg(test)]
mod tests;

pub use engine::{build, short, BuildRequest, MAX_LAYERS, PROXY_ARGS};
pub use error::{Error, Result};
pub use expand::parse;
pub use output::{Message, Output};
pub use worker::{BaseImage, MountedImage, NewLayer, RunMountSpec, RunNetwork, RunRequest, Worker};
