//! The lookup protocol "V1" framing spoken between nsqd and nsqlookupd.
//!
//! The client (nsqd) sends [`MAGIC_V1`], then newline-terminated commands (`IDENTIFY` is
//! followed by a 4-byte big-endian size and a JSON body). Every server reply is
//! `[u32 BE length][data]` with no frame type: data is `OK`, a JSON document, or an error
//! text `"<CODE> <description>"`. [`ResponseDecoder`] reads those replies on the client
//! side; [`encode_response`] writes them on the server side.
//!
//! ```
//! use bytes::BytesMut;
//! use nsq_wire::lookup::{encode_response, ResponseDecoder};
//! use tokio_util::codec::Decoder;
//!
//! let mut buf = BytesMut::from(&encode_response(b"OK")[..]);
//! assert_eq!(&buf[..], b"\x00\x00\x00\x02OK");
//! let reply = ResponseDecoder::new(1024).decode(&mut buf).unwrap().unwrap();
//! assert_eq!(&reply[..], b"OK");
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// The 4 bytes an nsqd sends first to speak the lookup protocol with nsqlookupd.
pub const MAGIC_V1: [u8; 4] = *b"  V1";

/// Encodes one server reply: `[u32 BE length][data]`.
pub fn encode_response(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    // Replies are small server-built texts; a length past u32 cannot occur.
    out.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(data);
    out
}

/// Whether a reply is an error text (the protocol has no other way to tell).
pub fn is_error_response(data: &[u8]) -> bool {
    data.starts_with(b"E_")
}

/// Errors reading lookup replies.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The announced reply size exceeds the configured maximum.
    #[error("lookup reply of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The underlying transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Client-side decoder of `[u32 BE length][data]` replies with a size bound.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    max_size: usize,
}

impl ResponseDecoder {
    /// A decoder rejecting replies larger than `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Self { max_size }
    }
}

impl Decoder for ResponseDecoder {
    type Item = Bytes;
    type Error = ResponseError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ResponseError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let size = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if size > self.max_size {
            return Err(ResponseError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        if src.len() < 4 + size {
            src.reserve(4 + size - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(size).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_partial_and_multiple_replies() {
        let mut decoder = ResponseDecoder::new(64);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&encode_response(b"OK"));
        buf.extend_from_slice(&encode_response(br#"{"a":1}"#)[..5]);
        assert_eq!(&decoder.decode(&mut buf).unwrap().unwrap()[..], b"OK");
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&encode_response(br#"{"a":1}"#)[5..]);
        assert_eq!(
            &decoder.decode(&mut buf).unwrap().unwrap()[..],
            br#"{"a":1}"#
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_oversized_reply() {
        let mut buf = BytesMut::from(&[0u8, 0, 1, 0][..]);
        let err = ResponseDecoder::new(255).decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            ResponseError::TooLarge {
                size: 256,
                max: 255
            }
        ));
    }

    #[test]
    fn error_replies_are_recognised() {
        assert!(is_error_response(b"E_INVALID client must IDENTIFY"));
        assert!(!is_error_response(b"OK"));
        assert!(!is_error_response(b"{}"));
    }
}
