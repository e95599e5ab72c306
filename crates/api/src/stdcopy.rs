//! Docker's multiplexed stream framing ("stdcopy"): each frame is an 8-byte header — the stream
//! (0 stdin, 1 stdout, 2 stderr), three zero bytes, the payload length as a big-endian u32 —
//! followed by the payload. Used when a container has no TTY, so that stdout and stderr can
//! share one connection.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// One frame holding `payload` for `stream`.
pub fn frame(stream: StreamType, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(8 + payload.len());
    buf.put_u8(stream as u8);
    buf.put_bytes(0, 3);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_has_docker_header() {
        let f = frame(StreamType::Stderr, b"hi\n");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        let empty = frame(StreamType::Stdout, b"");
        assert_eq!(&empty[..], &[1, 0, 0, 0, 0, 0, 0, 0]);
    }
}
