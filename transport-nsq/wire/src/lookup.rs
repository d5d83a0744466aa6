//! The lookup protocol "V1" framing spoken between nsqd and nsqlookupd.
//!
//! The client (nsqd) sends [`MAGIC_V1`], then newline-terminated commands (`IDENTIFY` is
//! followed by a 4-byte big-endian size and a JSON body). Every server reply is
//! `[u32 BE length][data]` with no frame type: data is `OK`, a JSON document, or an error
//! text `"<CODE> <description>"`. [`ClientCodec`] writes [`LookupCommand`]s and reads those
//! replies on the client side; [`encode_response`] writes replies on the server side.
//!
//! ```
//! use bytes::BytesMut;
//! use nsq_wire::lookup::{encode_response, ClientCodec, LookupCommand};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = ClientCodec::new(1024);
//! let mut out = BytesMut::new();
//! codec.encode(LookupCommand::register("t", Some("c")), &mut out).unwrap();
//! assert_eq!(&out[..], b"REGISTER t c\n");
//!
//! let mut buf = BytesMut::from(&encode_response(b"OK")[..]);
//! assert_eq!(&buf[..], b"\x00\x00\x00\x02OK");
//! let reply = codec.decode(&mut buf).unwrap().unwrap();
//! assert_eq!(&reply[..], b"OK");
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

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

/// A command an nsqd sends to nsqlookupd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupCommand {
    /// `PING`: keeps the producer active.
    Ping,
    /// `IDENTIFY` with its JSON body (peer info).
    Identify(Bytes),
    /// `REGISTER <topic> [<channel>]`.
    Register {
        /// Topic name.
        topic: String,
        /// Channel name, if registering a channel.
        channel: Option<String>,
    },
    /// `UNREGISTER <topic> [<channel>]`.
    Unregister {
        /// Topic name.
        topic: String,
        /// Channel name, if unregistering a channel.
        channel: Option<String>,
    },
}

impl LookupCommand {
    /// `REGISTER topic [channel]`.
    pub fn register(topic: &str, channel: Option<&str>) -> Self {
        LookupCommand::Register {
            topic: topic.to_owned(),
            channel: channel.map(str::to_owned),
        }
    }

    /// `UNREGISTER topic [channel]`.
    pub fn unregister(topic: &str, channel: Option<&str>) -> Self {
        LookupCommand::Unregister {
            topic: topic.to_owned(),
            channel: channel.map(str::to_owned),
        }
    }

    /// Appends the wire form to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            LookupCommand::Ping => dst.put_slice(b"PING\n"),
            LookupCommand::Identify(body) => {
                dst.put_slice(b"IDENTIFY\n");
                dst.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
                dst.put_slice(body);
            }
            LookupCommand::Register { topic, channel } => {
                put_line(dst, "REGISTER", topic, channel.as_deref())
            }
            LookupCommand::Unregister { topic, channel } => {
                put_line(dst, "UNREGISTER", topic, channel.as_deref())
            }
        }
    }
}

impl std::fmt::Display for LookupCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = BytesMut::new();
        match self {
            LookupCommand::Identify(_) => line.put_slice(b"IDENTIFY"),
            other => other.encode(&mut line),
        }
        f.write_str(String::from_utf8_lossy(&line).trim_end())
    }
}

fn put_line(dst: &mut BytesMut, name: &str, topic: &str, channel: Option<&str>) {
    dst.put_slice(name.as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(topic.as_bytes());
    if let Some(channel) = channel.filter(|c| !c.is_empty()) {
        dst.put_u8(b' ');
        dst.put_slice(channel.as_bytes());
    }
    dst.put_u8(b'\n');
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

/// Client-side codec: encodes [`LookupCommand`]s, decodes `[u32 BE length][data]` replies
/// with a size bound.
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_size: usize,
}

impl ClientCodec {
    /// A codec rejecting replies larger than `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Self { max_size }
    }
}

impl Encoder<LookupCommand> for ClientCodec {
    type Error = ResponseError;

    fn encode(&mut self, command: LookupCommand, dst: &mut BytesMut) -> Result<(), ResponseError> {
        command.encode(dst);
        Ok(())
    }
}

impl Decoder for ClientCodec {
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
        let mut decoder = ClientCodec::new(64);
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
        let err = ClientCodec::new(255).decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            ResponseError::TooLarge {
                size: 256,
                max: 255
            }
        ));
    }

    #[test]
    fn commands_encode_like_go_nsq() {
        let mut out = BytesMut::new();
        LookupCommand::Ping.encode(&mut out);
        LookupCommand::register("t", None).encode(&mut out);
        LookupCommand::unregister("t", Some("c")).encode(&mut out);
        LookupCommand::register("t", Some("")).encode(&mut out);
        LookupCommand::Identify(Bytes::from_static(b"{}")).encode(&mut out);
        assert_eq!(
            &out[..],
            b"PING\nREGISTER t\nUNREGISTER t c\nREGISTER t\nIDENTIFY\n\x00\x00\x00\x02{}"
        );
        assert_eq!(
            LookupCommand::unregister("t", Some("c")).to_string(),
            "UNREGISTER t c"
        );
        assert_eq!(
            LookupCommand::Identify(Bytes::new()).to_string(),
            "IDENTIFY"
        );
    }

    #[test]
    fn error_replies_are_recognised() {
        assert!(is_error_response(b"E_INVALID client must IDENTIFY"));
        assert!(!is_error_response(b"OK"));
        assert!(!is_error_response(b"{}"));
    }
}
