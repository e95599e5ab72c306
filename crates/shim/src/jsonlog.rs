//! Docker's `json-file` log driver: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-22T07:34:38.123456789Z"}`, with rotation
//! by size into `<path>.1`, `<path>.2`, ...
//!
//! Output is split at newlines; a line longer than [`MAX_LINE`] is written in pieces without the
//! newline (as Docker's copier does), and a trailing partial line is written when its stream ends.
//! A failing disk (ENOSPC, EIO) never stops the container: the entry is dropped and the next one
//! tries again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Longest line kept whole; longer ones are split, like Docker's 16 KiB copier buffer.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// A json-file writer with rotation. Not thread-safe; the shim owns one per container.
pub struct JsonLog {
    path: PathBuf,
    max_size: u64,
    max_file: u32,
    file: Option<File>,
    size: u64,
    partial: [Vec<u8>; 2],
    /// Entries dropped because the disk refused them (for tests and diagnostics).
    pub dropped: u64,
}

/// The current time as Docker writes it: RFC 3339, UTC, always nine fractional digits.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond()
    )
}

impl JsonLog {
    /// Open (append to) the log at `path`. `max_size` 0 disables rotation; `max_file` is the
    /// number of files kept including the current one (0 is taken as 1).
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> std::io::Result<JsonLog> {
        let mut log = JsonLog {
            path: path.to_path_buf(),
            max_size,
            max_file: max_file.max(1),
            file: None,
            size: 0,
            partial: [Vec::new(), Vec::new()],
            dropped: 0,
        };
        log.reopen()?;
        Ok(log)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    /// Feed output bytes of `stream`; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.entry(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
    }

    /// The stream ended: write what is left of its last line.
    pub fn flush_stream(&mut self, stream: Stream) {
        let buf = std::mem::take(&mut self.partial[stream as usize]);
        if !buf.is_empty() {
            self.entry(stream, &buf);
        }
    }

    fn entry(&mut self, stream: Stream, msg: &[u8]) {
        let time = timestamp();
        let text = String::from_utf8_lossy(msg);
        let entry = Entry {
            log: &text,
            stream: stream.name(),
            time: &time,
        };
        let Ok(mut line) = serde_json::to_vec(&entry) else {
            return;
        };
        line.push(b'\n');
        if self.write_line(&line).is_err() {
            self.dropped += 1;
        }
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        if self.file.is_none() {
            self.reopen()?;
        }
        let file = self.file.as_mut().expect("opened above");
        match file.write_all(line) {
            Ok(()) => {
                self.size += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A short write leaves a torn line; start the next entry on a fresh line so the
                // file stays parseable once space returns.
                if let Ok(md) = file.metadata() {
                    if md.len() > self.size {
                        let _ = file.set_len(self.size);
                    }
                }
                Err(e)
            }
        }
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.max_file <= 1 {
            let f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&self.path)?;
            drop(f);
            return self.reopen();
        }
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(name(self.max_file - 1));
        for n in (1..self.max_file - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        std::fs::rename(&self.path, name(1))?;
        self.reopen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_flushes_partials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut log = JsonLog::open(&p, 0, 1).unwrap();
        log.write(Stream::Stdout, b"hello\nwor");
        log.write(Stream::Stderr, b"oops\n");
        log.write(Stream::Stdout, b"ld\npartial");
        log.flush_stream(Stream::Stdout);
        let l = lines(&p);
        let got: Vec<(&str, &str)> = l
            .iter()
            .map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("hello\n", "stdout"),
                ("oops\n", "stderr"),
                ("world\n", "stdout"),
                ("partial", "stdout")
            ]
        );
        let t = l[0]["time"].as_str().unwrap();
        assert_eq!(t.len(), "2026-11-22T07:34:38.123456789Z".len(), "{t}");
        assert!(t.ends_with('Z'));
        assert!(
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
        );
    }

    #[test]
    fn long_lines_are_split() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        let mut log = JsonLog::open(&p, 0, 1).unwrap();
        log.write(Stream::Stdout, &vec![b'a'; MAX_LINE + 10]);
        log.write(Stream::Stdout, b"\n");
        let l = lines(&p);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["log"].as_str().unwrap().len(), MAX_LINE);
        assert_eq!(
            l[1]["log"].as_str().unwrap(),
            format!("{}\n", "a".repeat(10))
        );
    }

    #[test]
    fn rotates_by_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.log");
        let mut log = JsonLog::open(&p, 200, 3).unwrap();
        for i in 0..30 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let cur = lines(&p);
        let one = lines(&PathBuf::from(format!("{}.1", p.display())));
        let two = lines(&PathBuf::from(format!("{}.2", p.display())));
        assert!(!PathBuf::from(format!("{}.3", p.display())).exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert!(!one.is_empty() && !two.is_empty());
        assert_eq!(cur.last().unwrap()["log"], "line 29\n");
        // Files are in order: .2 older than .1 older than current.
        let first = |v: &Vec<serde_json::Value>| {
            v[0]["log"]
                .as_str()
                .unwrap()
                .trim()
                .trim_start_matches("line ")
                .parse::<u32>()
                .unwrap()
        };
        assert!(first(&two) < first(&one) && first(&one) < first(&cur));
    }

    #[test]
    fn max_file_one_truncates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.log");
        let mut log = JsonLog::open(&p, 150, 1).unwrap();
        for i in 0..20 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 150);
        assert!(!PathBuf::from(format!("{}.1", p.display())).exists());
        assert_eq!(lines(&p).last().unwrap()["log"], "line 19\n");
    }

    #[test]
    fn full_disk_drops_entries_and_recovers() {
        // /dev/full fails every write with ENOSPC; point the writer at it, then back at a file.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.log");
        let mut log = JsonLog::open(&p, 0, 1).unwrap();
        log.file = Some(OpenOptions::new().write(true).open("/dev/full").unwrap());
        log.write(Stream::Stdout, b"lost\n");
        assert_eq!(log.dropped, 1);
        log.file = None;
        log.write(Stream::Stdout, b"kept\n");
        let l = lines(&p);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["log"], "kept\n");
    }
}
