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
        if opts.logs {
            return Err(Error::NotImplemented(
                "attach with logs=1 is not implemented in Berth yet; use `logs`".into(),
            ));
        }
        let tty = c.tty();
        let stdin = opts.stdin && c.config.open_stdin.unwrap_or(false);
        match c.state.status {
            Status::Running | Status::Paused => {
                let shim = berth_shim::client::ShimClient::new(self.state_dir(&c.id));
                let stream = shim
                    .attach(stdin, opts.stdout, opts.stderr)
                    .await
                    .map_err(|e| Error::Shim(format!("attaching to {}: {e}", c.id)))?;
                Ok(AttachedStream {
                    tty,
                    stream: Box::pin(stream),
                    on_upgraded: None,
                })
            }
            Status::Created | Status::Exited => {
                let (api_side, engine_side) = tokio::io::duplex(PARKED_PIPE_BUFFER);
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
                tokio::spawn(async move {
                    let Ok(mut shim_stream) = delivered.await else {
                        return;
                    };
                    let mut engine_side = engine_side;
                    let _ = tokio::io::copy_bidirectional(&mut engine_side, &mut shim_stream).await;
                });
                Ok(AttachedStream {
                    tty,
                    stream: Box::pin(api_side),
                    on_upgraded: None,
                })
            }
            other => Err(Error::Conflict(format!(
                "cannot attach to a container in state {}",
                other.as_str()
            ))),
        }
    }
}
