//! Docker's multiplexed stream framing ("stdcopy"): each frame is an 8-byte header —
//! stream type (0 stdin, 1 stdout, 2 stderr, 3 system error), three zero bytes, a big-endian u32
//! payload length — followed by the payload. Used on attach/exec/logs without a TTY.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Stdin,
    Stdout,
    Stderr,
    /// A daemon-side error message delivered in-band.
    Systemerr,
}

/// An incremental demultiplexer: push bytes as they arrive, pull whole frames out.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: BytesMut,
}

/// Frames larger than this are taken as corruption rather than buffered without bound.
const MAX_FRAME: usize = 64 << 20;

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends raw bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<(StreamType, Bytes)>> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let kind = match self.buf[0] {
            0 => StreamType::Stdin,
            1 => StreamType::Stdout,
            2 => StreamType::Stderr,
            3 => StreamType::Systemerr,
            b => {
                return Err(Error::Protocol(format!(
                    "unrecognized stream type {b} in stdcopy header"
                )))
            }
        };
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if len > MAX_FRAME {
            return Err(Error::Protocol(format!(
                "stdcopy frame of {len} bytes is too large"
            )));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        self.buf.advance(8);
        Ok(Some((kind, self.buf.split_to(len).freeze())))
    }

    /// Whether a partial frame is still buffered (a truncated stream at EOF).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// Encodes one frame; the inverse of [`Demuxer`], used by tests and servers.
pub fn encode_frame(kind: StreamType, payload: &[u8]) -> Vec<u8> {
    let b = match kind {
        StreamType::Stdin => 0,
        StreamType::Stdout => 1,
        StreamType::Stderr => 2,
        StreamType::Systemerr => 3,
    };
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[b, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_frames_split_across_reads() {
        let mut wire = encode_frame(StreamType::Stdout, b"hello\n");
        wire.extend(encode_frame(StreamType::Stderr, b"oops"));
        let mut d = Demuxer::new();
        let mut out = Vec::new();
        for byte in &wire {
            d.push(std::slice::from_ref(byte));
            while let Some(f) = d.next_frame().unwrap() {
                out.push(f);
            }
        }
        assert_eq!(
            out,
            vec![
                (StreamType::Stdout, Bytes::from_static(b"hello\n")),
                (StreamType::Stderr, Bytes::from_static(b"oops"))
            ]
        );
        assert!(!d.has_partial());
    }

    #[test]
    fn rejects_bad_stream_type_and_reports_partial() {
        let mut d = Demuxer::new();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert!(d.next_frame().is_err());
        let mut d = Demuxer::new();
        d.push(&[1, 0, 0, 0, 0, 0, 0, 5, b'x']);
        assert!(d.next_frame().unwrap().is_none());
        assert!(d.has_partial());
    }
}
