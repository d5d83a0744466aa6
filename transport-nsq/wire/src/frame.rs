//! Server → client frames: `[size u32 BE = 4 + len(data)][frame type i32 BE][data]`.
//!
//! Encoders are used by the broker; [`FrameDecoder`] is the client side's
//! [`tokio_util::codec::Decoder`] with a maximum frame size.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::message::{Message, MessageError, MESSAGE_HEADER_LEN};

/// Length of the size field plus the frame-type field.
pub const FRAME_HEADER_LEN: usize = 8;

/// The value of a size field that spells `"HTTP"`: the peer is an HTTP server.
const HTTP_MARKER: u32 = u32::from_be_bytes(*b"HTTP");

/// Default limit of [`FrameDecoder::default`]: room for a message of nsqd's maximum
/// `--max-msg-size` default (1 MiB) with lots of headroom for brokers configured larger.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// The frame type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Response = 0,
    Error = 1,
    Message = 2,
}

impl FrameType {
    /// Maps the wire value to a frame type.
    pub fn from_i32(value: i32) -> Option<FrameType> {
        match value {
            0 => Some(FrameType::Response),
            1 => Some(FrameType::Error),
            2 => Some(FrameType::Message),
            _ => None,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `OK`, `CLOSE_WAIT`, `_heartbeat_` or a JSON document.
    Response(Bytes),
    /// `"<CODE> <description>"`.
    Error(Bytes),
    /// A message delivered to a consumer.
    Message(Message),
}

impl Frame {
    /// The frame type of this frame.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Response(_) => FrameType::Response,
            Frame::Error(_) => FrameType::Error,
            Frame::Message(_) => FrameType::Message,
        }
    }

    /// Appends the encoded frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Response(data) => encode_response(dst, data),
            Frame::Error(data) => encode_error(dst, data),
            Frame::Message(msg) => encode_message(dst, msg),
        }
    }

    /// Whether this is the heartbeat response frame.
    pub fn is_heartbeat(&self) -> bool {
        matches!(self, Frame::Response(data) if data.as_ref() == crate::HEARTBEAT)
    }
}

/// Appends a response frame (type 0) with `data`.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// nsq_wire::frame::encode_response(&mut buf, b"OK");
/// assert_eq!(&buf[..], b"\x00\x00\x00\x06\x00\x00\x00\x00OK");
/// ```
pub fn encode_response(dst: &mut BytesMut, data: &[u8]) {
    encode_raw(dst, FrameType::Response, data);
}

/// Appends an error frame (type 1) with `data` (`"<CODE> <description>"`).
pub fn encode_error(dst: &mut BytesMut, data: &[u8]) {
    encode_raw(dst, FrameType::Error, data);
}

/// Appends a message frame (type 2).
pub fn encode_message(dst: &mut BytesMut, msg: &Message) {
    let len = msg.encoded_len();
    dst.reserve(FRAME_HEADER_LEN + len);
    dst.put_u32(frame_size(len));
    dst.put_i32(FrameType::Message as i32);
    msg.encode(dst);
}

fn encode_raw(dst: &mut BytesMut, frame_type: FrameType, data: &[u8]) {
    dst.reserve(FRAME_HEADER_LEN + data.len());
    dst.put_u32(frame_size(data.len()));
    dst.put_i32(frame_type as i32);
    dst.put_slice(data);
}

/// The size field for `data_len` bytes of data. Frames are bounded by the broker's limits
/// (far below 2 GiB), so the value never has its top bit set.
fn frame_size(data_len: usize) -> u32 {
    u32::try_from(4 + data_len).unwrap_or(u32::MAX >> 1)
}

/// Why a byte stream could not be decoded into frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame size {0} is negative")]
    NegativeSize(i32),
    #[error("frame size {0} is smaller than the 4-byte frame type")]
    TooSmall(u32),
    #[error("frame size {size} exceeds the maximum of {max}")]
    TooBig { size: usize, max: usize },
    #[error("the peer is an HTTP server, not an NSQ TCP endpoint")]
    Http,
    #[error("unknown frame type {0}")]
    UnknownFrameType(i32),
    #[error("bad message frame: {0}")]
    BadMessage(#[from] MessageError),
}

/// Client-side decoder of server frames.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
/// use nsq_wire::frame::{Frame, FrameDecoder};
///
/// let mut buf = BytesMut::from(&b"\x00\x00\x00\x06\x00\x00\x00\x00OK"[..]);
/// let frame = FrameDecoder::default().decode(&mut buf).unwrap();
/// assert_eq!(frame, Some(Frame::Response(bytes::Bytes::from_static(b"OK"))));
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frames whose size field exceeds `max_frame_size`.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder { max_frame_size }
    }

    /// The configured limit.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let raw = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if raw == HTTP_MARKER {
            return Err(FrameError::Http);
        }
        if raw > i32::MAX as u32 {
            return Err(FrameError::NegativeSize(raw as i32));
        }
        if raw < 4 {
            return Err(FrameError::TooSmall(raw));
        }
        let size = raw as usize;
        if size > self.max_frame_size {
            return Err(FrameError::TooBig {
                size,
                max: self.max_frame_size,
            });
        }
        if src.len() < 4 + size {
            src.reserve(4 + size - src.len());
            return Ok(None);
        }
        src.advance(4);
        let frame_type = src.get_i32();
        let data = src.split_to(size - 4).freeze();
        match FrameType::from_i32(frame_type) {
            Some(FrameType::Response) => Ok(Some(Frame::Response(data))),
            Some(FrameType::Error) => Ok(Some(Frame::Error(data))),
            Some(FrameType::Message) => {
                if data.len() < MESSAGE_HEADER_LEN {
                    return Err(MessageError::TooShort(data.len()).into());
                }
                Ok(Some(Frame::Message(Message::decode(data)?)))
            }
            None => Err(FrameError::UnknownFrameType(frame_type)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageId;

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn ok_frame_bytes() {
        let bytes = encoded(&Frame::Response(Bytes::from_static(b"OK")));
        assert_eq!(bytes, [0, 0, 0, 6, 0, 0, 0, 0, 0x4F, 0x4B]);
    }

    #[test]
    fn heartbeat_frame_bytes() {
        let frame = Frame::Response(Bytes::from_static(crate::HEARTBEAT));
        assert!(frame.is_heartbeat());
        let mut expected = vec![0, 0, 0, 0x0F, 0, 0, 0, 0];
        expected.extend_from_slice(b"_heartbeat_");
        assert_eq!(encoded(&frame), expected);
    }

    #[test]
    fn close_wait_frame_bytes() {
        let bytes = encoded(&Frame::Response(Bytes::from_static(crate::CLOSE_WAIT)));
        let mut expected = vec![0, 0, 0, 0x0E, 0, 0, 0, 0];
        expected.extend_from_slice(b"CLOSE_WAIT");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn bad_protocol_error_frame_bytes() {
        let bytes = encoded(&Frame::Error(Bytes::from_static(b"E_BAD_PROTOCOL")));
        assert_eq!(
            bytes,
            [
                0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x01, 0x45, 0x5F, 0x42, 0x41, 0x44, 0x5F,
                0x50, 0x52, 0x4F, 0x54, 0x4F, 0x43, 0x4F, 0x4C
            ]
        );
    }

    #[test]
    fn invalid_command_error_frame_size() {
        let bytes = encoded(&Frame::Error(Bytes::from_static(
            b"E_INVALID invalid command ASDF",
        )));
        assert_eq!(&bytes[..8], &[0, 0, 0, 0x22, 0, 0, 0, 1]);
        assert_eq!(bytes.len(), 8 + 30);
    }

    #[test]
    fn example_message_frame_bytes() {
        let msg = Message {
            timestamp: 0x1797_9CFE_362A_0000,
            attempts: 1,
            id: MessageId(*b"0a1b2c3d4e5f6071"),
            body: Bytes::from_static(b"hi"),
        };
        let expected: Vec<u8> = [
            &[0x00, 0x00, 0x00, 0x20][..],
            &[0x00, 0x00, 0x00, 0x02],
            &[0x17, 0x97, 0x9C, 0xFE, 0x36, 0x2A, 0x00, 0x00],
            &[0x00, 0x01],
            b"0a1b2c3d4e5f6071",
            b"hi",
        ]
        .concat();
        let frame = Frame::Message(msg);
        assert_eq!(encoded(&frame), expected);
        let mut buf = BytesMut::from(&expected[..]);
        assert_eq!(
            FrameDecoder::default().decode(&mut buf).unwrap(),
            Some(frame)
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn decoder_waits_for_complete_frames() {
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x06\x00\x00\x00\x00O"[..]);
        let mut decoder = FrameDecoder::default();
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"K");
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Frame::Response(Bytes::from_static(b"OK")))
        );
    }

    #[test]
    fn decoder_rejects_bad_sizes() {
        let mut decoder = FrameDecoder::new(100);
        let cases: [(&[u8], &str); 4] = [
            (b"\xff\xff\xff\xfe", "negative"),
            (b"\x00\x00\x00\x02", "small"),
            (b"\x00\x00\x00\x65", "big"),
            (b"HTTP/1.1 400", "http"),
        ];
        for (bytes, what) in cases {
            let mut buf = BytesMut::from(bytes);
            let err = decoder.decode(&mut buf).unwrap_err();
            let ok = match what {
                "negative" => matches!(err, FrameError::NegativeSize(-2)),
                "small" => matches!(err, FrameError::TooSmall(2)),
                "big" => matches!(
                    err,
                    FrameError::TooBig {
                        size: 101,
                        max: 100
                    }
                ),
                _ => matches!(err, FrameError::Http),
            };
            assert!(ok, "{what}: {err:?}");
        }
    }

    #[test]
    fn decoder_rejects_unknown_type_and_short_message() {
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x04\x00\x00\x00\x07"[..]);
        assert!(matches!(
            FrameDecoder::default().decode(&mut buf),
            Err(FrameError::UnknownFrameType(7))
        ));
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x06\x00\x00\x00\x02hi"[..]);
        assert!(matches!(
            FrameDecoder::default().decode(&mut buf),
            Err(FrameError::BadMessage(_))
        ));
    }
}
