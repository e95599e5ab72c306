//! The local terminal: raw mode (restored on drop), window size, and docker's detach-key
//! sequences (`ctrl-p,ctrl-q` by default) recognised in the input stream.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{self, SetArg, Termios};

/// Docker's default detach sequence: Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Whether fd is a terminal.
pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(std::os::fd::AsRawFd::as_raw_fd(&fd)).unwrap_or(false)
}

/// Puts a terminal into raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin, as docker's `term.MakeRaw`; `None` when stdin is not a terminal.
    pub fn enable_stdin() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// (rows, columns) of the terminal on stdout, else stdin.
pub fn size() -> Option<(u16, u16)> {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        if rc == 0 && ws.ws_row > 0 && ws.ws_col > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Parses docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(rest) = k.strip_prefix("ctrl-") {
            let b = match rest.as_bytes() {
                [c] if c.is_ascii_lowercase() => c - b'a' + 1,
                [c] if c.is_ascii_uppercase() => c - b'A' + 1,
                b"@" => 0,
                b"[" => 27,
                b"\\" => 28,
                b"]" => 29,
                b"^" => 30,
                b"_" => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// Watches input for the detach sequence, holding back a partial match until it is decided.
#[derive(Debug)]
pub struct EscapeDetector {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeDetector {
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeDetector { keys, matched: 0 }
    }

    /// Feeds input; returns the bytes to forward and whether the whole sequence was typed (bytes
    /// after the sequence are dropped, like docker).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                // Release what was held back, then test this byte as a fresh start.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        self.matched = 0;
                        return (out, true);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(
            parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(),
            vec![16, 17]
        );
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-]").unwrap(),
            vec![b'a', 0, 29]
        );
        assert!(parse_detach_keys("ctrl-ab").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn escape_sequence_is_detected_across_chunks() {
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(d.feed(b"ls\r\x10"), (b"ls\r".to_vec(), false));
        assert_eq!(d.feed(b"\x11rest"), (vec![], true));
    }

    #[test]
    fn partial_match_is_released() {
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(d.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        assert_eq!(d.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }
}
