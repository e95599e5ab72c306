//! `attach`: a stream to the init's stdio through the shim.
//!
//! For a running container the API connection is spliced straight to a shim connection. For a
//! container that is only created (as with `docker run` and `docker start -a`, which attach
//! before they start), the attach is parked and connected by `start` right before the init is
//! released; meanwhile the API side holds one end of an in-memory pipe.

use berth_api::backend::{AttachOptions, AttachedStream};

use super::{PendingAttach, Status};
use crate::error::{Error, Result};
use crate::Daemon;

/// Buffer of the in-memory pipe that stands in for a parked attach.
const PARKED_PIPE_BUFFER: usize = 64 * 1024;

impl Daemon {
    pub async fn attach_container(&self, key: &str, opts: AttachOptions) -> Result<AttachedStream> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let tty = c.tty();
        let stdin = opts.stdin && c.config.open_stdin.unwrap_or(false);
        // `logs=1` replays what the container wrote so far before the live output.
        let replay = if opts.logs {
            self.log_replay(&c.id, tty, opts.stdout, opts.stderr)
                .await?
        } else {
            Vec::new()
        };
        if !opts.stream {
            return Ok(finished_stream(replay, tty));
        }
        match c.state.status {
            Status::Running | Status::Paused => {
                let shim = berth_shim::client::ShimClient::new(self.state_dir(&c.id));
                let stream = shim
                    .attach(stdin, opts.stdout, opts.stderr)
                    .await
                    .map_err(|e| Error::Shim(format!("attaching to {}: {e}", c.id)))?;
                if replay.is_empty() {
                    return Ok(AttachedStream {
                        tty,
                        stream: Box::pin(stream),
                        on_upgraded: None,
                    });
                }
                let (deliver, delivered) = tokio::sync::oneshot::channel();
                let _ = deliver.send(stream);
                Ok(spliced(replay, delivered, tty))
            }
            Status::Created | Status::Exited => {
                let (deliver, delivered) = tokio::sync::oneshot::channel();
                entry
                    .pending_attaches
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(PendingAttach {
                        stdin,
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        deliver,
                    });
                Ok(spliced(replay, delivered, tty))
            }
            other => Err(Error::Conflict(format!(
                "cannot attach to a container in state {}",
                other.as_str()
            ))),
        }
    }
}

/// An API-side stream that first carries `replay`, then is spliced to the shim connection
/// once `delivered` yields it (at once for a running container, at start for a parked one).
fn spliced(
    replay: Vec<bytes::Bytes>,
    delivered: tokio::sync::oneshot::Receiver<tokio::net::UnixStream>,
    tty: bool,
) -> AttachedStream {
    let (api_side, mut engine_side) = tokio::io::duplex(PARKED_PIPE_BUFFER);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for chunk in replay {
            if engine_side.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let Ok(mut shim_stream) = delivered.await else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut engine_side, &mut shim_stream).await;
    });
    AttachedStream {
        tty,
        stream: Box::pin(api_side),
        on_upgraded: None,
    }
}

/// A stream that carries `chunks` and ends.
fn finished_stream(chunks: Vec<bytes::Bytes>, tty: bool) -> AttachedStream {
    let (deliver, delivered) = tokio::sync::oneshot::channel::<tokio::net::UnixStream>();
    drop(deliver);
    spliced(chunks, delivered, tty)
}
