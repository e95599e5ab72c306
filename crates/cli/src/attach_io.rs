//! Moving bytes between the local terminal and a hijacked attach/exec connection: stdin to the
//! connection (half-closing it at end of input), the connection to stdout/stderr (demultiplexed
//! when there is no TTY), detach keys, and terminal resizes.

use std::io::{Read, Write};
use std::sync::Arc;

use berth_client::{Client, Demuxer, HijackedStream, StreamType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::{CliError, Result};
use crate::terminal::EscapeDetector;

/// How a streaming session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server closed the output.
    Eof,
    /// The user typed the detach sequence.
    Detached,
}

/// What to stream.
pub struct StreamOptions {
    pub tty: bool,
    pub stdin: bool,
    /// Detach sequence (recognised only with a TTY, where such bytes cannot be data).
    pub detach_keys: Vec<u8>,
}

/// Reads stdin on a thread of its own: a blocked `read(0)` must never hold up the async runtime
/// or its shutdown, and the thread simply dies with the process.
fn stdin_channel() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn write_out(kind: StreamType, data: &[u8]) {
    // A closed stdout (e.g. `| head`) ends our interest in output, not the container.
    match kind {
        StreamType::Stderr | StreamType::Systemerr => {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(data);
            let _ = e.flush();
        }
        _ => {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(data);
            let _ = o.flush();
        }
    }
}

/// Streams until the output ends or the user detaches.
pub async fn stream(conn: HijackedStream, opts: StreamOptions) -> Result<StreamEnd> {
    let (mut rd, mut wr) = tokio::io::split(conn);
    let tty = opts.tty;
    let output = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut demux = Demuxer::new();
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if tty {
                write_out(StreamType::Stdout, &buf[..n]);
                continue;
            }
            demux.push(&buf[..n]);
            while let Some((kind, data)) = demux.next_frame().map_err(std::io::Error::other)? {
                write_out(kind, &data);
            }
        }
        Ok::<(), std::io::Error>(())
    });

    let detached = Arc::new(tokio::sync::Notify::new());
    let input = if opts.stdin {
        let detached = detached.clone();
        let mut detector = EscapeDetector::new(if tty { opts.detach_keys } else { Vec::new() });
        Some(tokio::spawn(async move {
            let mut rx = stdin_channel();
            while let Some(chunk) = rx.recv().await {
                let (fwd, hit) = detector.feed(&chunk);
                if !fwd.is_empty() && wr.write_all(&fwd).await.is_err() {
                    return;
                }
                if hit {
                    detached.notify_one();
                    return;
                }
            }
            // End of stdin: half-close so the container sees EOF while output keeps coming.
            let _ = wr.shutdown().await;
        }))
    } else {
        None
    };

    let end = tokio::select! {
        r = output => {
            match r {
                Ok(Ok(())) => StreamEnd::Eof,
                Ok(Err(e)) => return Err(CliError::local(e.to_string())),
                Err(e) => return Err(CliError::local(e.to_string())),
            }
        }
        _ = detached.notified() => StreamEnd::Detached,
    };
    if let Some(i) = input {
        i.abort();
    }
    Ok(end)
}

/// What to resize when the local terminal changes.
#[derive(Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

/// Sends the current size now and on every SIGWINCH, until the returned task is aborted.
pub fn monitor_resize(client: Arc<Client>, target: ResizeTarget) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Ok(true): resized; Ok(false): no local terminal size to send.
        let resize = |client: Arc<Client>, target: ResizeTarget| async move {
            let Some((h, w)) = crate::terminal::size() else {
                return Ok(false);
            };
            match &target {
                ResizeTarget::Container(id) => client.container_resize(id, h, w).await,
                ResizeTarget::Exec(id) => client.exec_resize(id, h, w).await,
            }
            .map(|_| true)
        };
        // The process may not be running yet when the first resize arrives: retry a few
        // times, as docker's CLI does.
        for _ in 0..10 {
            if resize(client.clone(), target.clone()).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            let _ = resize(client.clone(), target.clone()).await;
        }
    })
}

/// Forwards the usual terminating signals to the container (`--sig-proxy`), until aborted.
pub fn proxy_signals(client: Arc<Client>, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        // A JoinSet aborts its tasks when dropped, so aborting this task stops every forwarder.
        let mut tasks = tokio::task::JoinSet::new();
        for (kind, name) in kinds {
            let Ok(mut sig) = signal(kind) else { continue };
            let client = client.clone();
            let id = id.clone();
            tasks.spawn(async move {
                while sig.recv().await.is_some() {
                    let _ = client.container_kill(&id, Some(name)).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    })
}
