//! Streams of JSON values as the Engine API sends them: concatenated or newline-separated
//! objects (events, pull/load progress), arriving in arbitrary chunks.

use bytes::BytesMut;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// An incremental JSON-stream splitter: push chunks, pull complete values.
#[derive(Debug, Default)]
pub struct JsonSplitter {
    buf: BytesMut,
}

impl JsonSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete value, `Ok(None)` when more bytes are needed.
    pub fn next_value<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        // Skip the whitespace between values ourselves so that a buffer holding only "\r\n"
        // counts as empty.
        let start = self
            .buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.buf.len());
        let _ = self.buf.split_to(start);
        if self.buf.is_empty() {
            return Ok(None);
        }
        let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<T>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                let _ = self.buf.split_to(used);
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(Error::Decode(e)),
            None => Ok(None),
        }
    }

    /// Whether unparsed bytes remain (a truncated value at EOF).
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn splits_values_across_chunks() {
        let mut s = JsonSplitter::new();
        s.push(b"{\"a\":1}\r\n{\"b\":");
        assert_eq!(s.next_value::<Value>().unwrap().unwrap()["a"], 1);
        assert!(s.next_value::<Value>().unwrap().is_none());
        assert!(s.has_partial());
        s.push(b"2}\n");
        assert_eq!(s.next_value::<Value>().unwrap().unwrap()["b"], 2);
        assert!(s.next_value::<Value>().unwrap().is_none());
        assert!(!s.has_partial());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut s = JsonSplitter::new();
        s.push(b"}{");
        assert!(s.next_value::<Value>().is_err());
    }
}
