//! `logs`: read the json-file log the shim writes (rotated files oldest first), filter it, and
//! with `follow` keep reading until the container stops.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_api::backend::{ByteStream, LogsOptions};
use berth_api::stdcopy::{frame, StreamType};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::error::Result;
use crate::Daemon;

/// How often a follower looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

#[derive(Deserialize)]
struct LogLine {
    log: String,
    stream: String,
    time: String,
}

/// One decoded log line, ready to send.
struct Rendered {
    time_ns: i128,
    bytes: Bytes,
}

fn render(line: &[u8], opts: &LogsOptions, tty: bool) -> Option<Rendered> {
    let l: LogLine = serde_json::from_slice(line).ok()?;
    let stream = match l.stream.as_str() {
        "stdout" if opts.stdout => StreamType::Stdout,
        "stderr" if opts.stderr => StreamType::Stderr,
        _ => return None,
    };
    let t = super::parse_rfc3339(&l.time)?;
    let time_ns = t.unix_timestamp_nanos();
    if opts.since > 0.0 && (time_ns as f64) < opts.since * 1e9 {
        return None;
    }
    if opts.until > 0.0 && (time_ns as f64) > opts.until * 1e9 {
        return None;
    }
    let mut payload = Vec::with_capacity(l.log.len() + 32);
    if opts.timestamps {
        payload.extend_from_slice(super::format_rfc3339(t).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(l.log.as_bytes());
    let bytes = if tty {
        Bytes::from(payload)
    } else {
        frame(stream, &payload)
    };
    Some(Rendered { time_ns, bytes })
}

/// Reads whole lines from `reader`'s position to its end, passing each to `each`; a last line
/// without its newline is still being written and is left for the next read. Returns the
/// number of bytes consumed.
fn read_complete_lines(reader: impl std::io::Read, mut each: impl FnMut(&[u8])) -> u64 {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut consumed = 0;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(n) if n > 0 && buf.last() == Some(&b'\n') => {
                consumed += n as u64;
                each(&buf);
            }
            _ => return consumed,
        }
    }
}

/// The log files of a container, oldest first: `x.log.N` … `x.log.1`, `x.log`.
fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let fname = e.file_name();
                let Some(f) = fname.to_str() else { continue };
                if let Some(n) = f
                    .strip_prefix(name)
                    .and_then(|s| s.strip_prefix('.'))
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    rotated.push((n, e.path()));
                }
            }
        }
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(path.to_path_buf());
    files
}

/// Everything currently in the log, filtered, with `tail` applied; also the current file, held
/// open, and how far into it the lines went.
fn read_existing(
    path: &Path,
    opts: &LogsOptions,
    tty: bool,
) -> (Vec<Bytes>, u64, Option<std::fs::File>) {
    let mut out: Vec<Rendered> = Vec::new();
    let mut end_offset = 0;
    let mut current = None;
    for file in log_files(path) {
        let Ok(f) = std::fs::File::open(&file) else {
            continue;
        };
        if file == path {
            current = f.try_clone().ok();
        }
        let offset = read_complete_lines(f, |line| {
            if let Some(r) = render(line, opts, tty) {
                out.push(r);
            }
        });
        if file == path {
            end_offset = offset;
        }
    }
    out.sort_by_key(|r| r.time_ns);
    if let Some(tail) = opts.tail {
        let skip = out.len().saturating_sub(tail);
        out.drain(..skip);
    }
    (
        out.into_iter().map(|r| r.bytes).collect(),
        end_offset,
        current,
    )
}

struct Follower {
    path: PathBuf,
    /// The current log file, held open: a reader keeps reading it even after rotation renames
    /// it or `rm` deletes it (as `docker run --rm` with a late reader does).
    file: Option<std::fs::File>,
    offset: u64,
    opts: LogsOptions,
    tty: bool,
    pending: std::collections::VecDeque<Bytes>,
    running: tokio::sync::watch::Receiver<super::WaitState>,
    finishing: bool,
}

impl Follower {
    /// New complete lines since the last read. When the path names another file than the one
    /// held (rotation), the held one is read to its end first.
    fn poll_file(&mut self) {
        self.read_held();
        let held_ino = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino());
        let path_ino = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        if path_ino.is_some() && path_ino != held_ino {
            self.file = std::fs::File::open(&self.path).ok();
            self.offset = 0;
            self.read_held();
        }
    }

    fn read_held(&mut self) {
        let Some(f) = self.file.as_mut() else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let (opts, tty, pending) = (&self.opts, self.tty, &mut self.pending);
        self.offset += read_complete_lines(f, |line| {
            if let Some(r) = render(line, opts, tty) {
                pending.push_back(r.bytes);
            }
        });
    }
}

impl Daemon {
    /// The log so far, rendered for an attach with `logs=1`.
    pub(crate) async fn log_replay(
        &self,
        id: &str,
        tty: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<Vec<Bytes>> {
        let opts = LogsOptions {
            stdout,
            stderr,
            ..LogsOptions::default()
        };
        let path = self.log_path(id);
        let (chunks, _, _) = tokio::task::spawn_blocking(move || read_existing(&path, &opts, tty))
            .await
            .map_err(|e| crate::error::Error::Internal(format!("log reader task: {e}")))?;
        Ok(chunks)
    }

    pub async fn container_logs(&self, key: &str, opts: LogsOptions) -> Result<(bool, ByteStream)> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let tty = c.tty();
        let path = self.log_path(&c.id);
        let follow = opts.follow && c.state.status.is_running();
        let running = entry.wait_tx.subscribe();
        let (p, o) = (path.clone(), opts.clone());
        let (existing, offset, file) =
            tokio::task::spawn_blocking(move || read_existing(&p, &o, tty))
                .await
                .map_err(|e| crate::error::Error::Internal(format!("log reader task: {e}")))?;
        let head = futures_util::stream::iter(existing);
        if !follow {
            return Ok((tty, head.boxed()));
        }
        let follower = Follower {
            path,
            file,
            offset,
            opts,
            tty,
            pending: Default::default(),
            running,
            finishing: false,
        };
        let tail = futures_util::stream::unfold(follower, |mut f| async move {
            loop {
                if let Some(b) = f.pending.pop_front() {
                    return Some((b, f));
                }
                if f.finishing {
                    return None;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
                if !f.running.borrow().running
                    || f.opts.until > 0.0
                        && (time::OffsetDateTime::now_utc().unix_timestamp() as f64) > f.opts.until
                {
                    // One last read picks up what was written before the exit.
                    f.finishing = true;
                }
                f.poll_file();
            }
        });
        Ok((tty, head.chain(tail).boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LogsOptions {
        LogsOptions {
            stdout: true,
            stderr: true,
            ..LogsOptions::default()
        }
    }

    #[test]
    fn reads_rotated_files_in_order_with_tail_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        std::fs::write(path.with_file_name("c-json.log.1"), "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:01.000000001Z\"}\n").unwrap();
        std::fs::write(
            &path,
            "{\"log\":\"two\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:02Z\"}\n{\"log\":\"three\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:03Z\"}\n{\"log\":\"partial",
        )
        .unwrap();
        let (all, offset, _) = read_existing(&path, &opts(), true);
        assert_eq!(
            all,
            vec![
                Bytes::from("one\n"),
                Bytes::from("two\n"),
                Bytes::from("three\n")
            ]
        );
        assert!(offset > 0);
        let (tail, _, _) = read_existing(
            &path,
            &LogsOptions {
                tail: Some(1),
                ..opts()
            },
            true,
        );
        assert_eq!(tail, vec![Bytes::from("three\n")]);
        let (out, _, _) = read_existing(
            &path,
            &LogsOptions {
                stderr: false,
                ..opts()
            },
            false,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][0], 1, "stdout frame");
        let (ts, _, _) = read_existing(
            &path,
            &LogsOptions {
                timestamps: true,
                tail: Some(1),
                ..opts()
            },
            true,
        );
        assert_eq!(ts[0], Bytes::from("2026-01-01T00:00:03.000000000Z three\n"));
        let since = time::macros::datetime!(2026-01-01 00:00:02 UTC).unix_timestamp() as f64;
        let (s, _, _) = read_existing(&path, &LogsOptions { since, ..opts() }, true);
        assert_eq!(s.len(), 2);
    }
}
