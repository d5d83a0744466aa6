//! The NSQ message layout: 8-byte timestamp (ns), 2-byte attempts, 16-byte id, body.
//!
//! The same layout is the data of a message frame and the payload of a go-diskqueue record.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

/// Length of the fixed message header: timestamp (8) + attempts (2) + id (16).
pub const MESSAGE_HEADER_LEN: usize = 26;

/// Length of a message id in bytes.
pub const MESSAGE_ID_LEN: usize = 16;

/// A message id: 16 printable ASCII bytes (nsqd uses 16 lowercase hex digits).
///
/// ```
/// use nsq_wire::message::MessageId;
/// let id = MessageId::from_u64(0x0a1b2c3d4e5f6071);
/// assert_eq!(id.as_bytes(), b"0a1b2c3d4e5f6071");
/// assert_eq!(id.to_string(), "0a1b2c3d4e5f6071");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageId(pub [u8; MESSAGE_ID_LEN]);

impl MessageId {
    /// Hex-encodes a 64-bit value big-endian into 16 lowercase hex digits (nsqd's scheme).
    pub fn from_u64(value: u64) -> Self {
        // Eight hex digits per half, computed in parallel in the bytes of a u64: this runs
        // for every message a broker delivers.
        let mut out = [0u8; MESSAGE_ID_LEN];
        out[..8].copy_from_slice(&hex_digits((value >> 32) as u32).to_be_bytes());
        out[8..].copy_from_slice(&hex_digits(value as u32).to_be_bytes());
        MessageId(out)
    }

    /// Takes an id from a command parameter; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; MESSAGE_ID_LEN]>::try_from(bytes).ok().map(MessageId)
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.0
    }
}

/// The 8 lowercase hex digits of `value`, most significant digit in the highest byte.
fn hex_digits(value: u32) -> u64 {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Spread nibble k of `value` into byte k.
    let mut x = u64::from(value);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & LOW_NIBBLES;
    // Bytes holding 10..=15 get bit 4 set by adding 6; those then take 'a' - '0' - 10 extra.
    let letters = ((x + 6 * ONES) >> 4) & ONES;
    x + u64::from(b'0') * ONES + letters * u64::from(b'a' - b'0' - 10)
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// One NSQ message.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use nsq_wire::message::{Message, MessageId};
///
/// let msg = Message {
///     timestamp: 1_700_000_000_000_000_000,
///     attempts: 1,
///     id: MessageId::from_u64(7),
///     body: Bytes::from_static(b"hi"),
/// };
/// let mut buf = BytesMut::new();
/// msg.encode(&mut buf);
/// assert_eq!(Message::decode(buf.freeze()).unwrap(), msg);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Publish time in nanoseconds since the Unix epoch; never changes after creation.
    pub timestamp: i64,
    /// Delivery attempts including the current one (first delivery = 1).
    pub attempts: u16,
    /// The id, unique within its topic.
    pub id: MessageId,
    /// The opaque body, shared (not copied) between channel copies.
    pub body: Bytes,
}

/// Why bytes could not be decoded as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message of {0} bytes is shorter than the 26-byte header")]
    TooShort(usize),
}

impl Message {
    /// Encoded length: header plus body.
    pub fn encoded_len(&self) -> usize {
        MESSAGE_HEADER_LEN + self.body.len()
    }

    /// Appends the 26-byte header and the body to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        self.encode_header(dst);
        dst.put_slice(&self.body);
    }

    /// Appends only the 26-byte header (timestamp, attempts, id).
    pub fn encode_header<B: BufMut>(&self, dst: &mut B) {
        dst.put_i64(self.timestamp);
        dst.put_u16(self.attempts);
        dst.put_slice(&self.id.0);
    }

    /// Decodes a message; the body is a zero-copy slice of `data`.
    pub fn decode(mut data: Bytes) -> Result<Message, MessageError> {
        if data.len() < MESSAGE_HEADER_LEN {
            return Err(MessageError::TooShort(data.len()));
        }
        let timestamp = data.get_i64();
        let attempts = data.get_u16();
        let mut id = [0u8; MESSAGE_ID_LEN];
        data.copy_to_slice(&mut id);
        Ok(Message {
            timestamp,
            attempts,
            id: MessageId(id),
            body: data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn ids_are_the_lowercase_hex_of_the_value() {
        let mut value: u64 = 0x9e37_79b9_7f4a_7c15;
        for edge in [
            0,
            1,
            9,
            10,
            15,
            16,
            u64::MAX,
            0x0123_4567_89ab_cdef,
            0xa0a0_a0a0_9f9f_9f9f,
        ] {
            assert_eq!(
                MessageId::from_u64(edge).to_string(),
                format!("{edge:016x}")
            );
        }
        for _ in 0..10_000 {
            value = value
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            assert_eq!(
                MessageId::from_u64(value).to_string(),
                format!("{value:016x}")
            );
        }
    }

    /// The spec's example: body `hi`, attempts 1, id `0a1b2c3d4e5f6071`.
    const EXAMPLE_DATA: [u8; 28] = [
        0x17, 0x97, 0x9C, 0xFE, 0x36, 0x2A, 0x00, 0x00, 0x00, 0x01, 0x30, 0x61, 0x31, 0x62, 0x32,
        0x63, 0x33, 0x64, 0x34, 0x65, 0x35, 0x66, 0x36, 0x30, 0x37, 0x31, 0x68, 0x69,
    ];

    fn example() -> Message {
        Message {
            timestamp: 0x1797_9CFE_362A_0000,
            attempts: 1,
            id: MessageId(*b"0a1b2c3d4e5f6071"),
            body: Bytes::from_static(b"hi"),
        }
    }

    #[test]
    fn encodes_spec_example() {
        let mut buf = BytesMut::new();
        example().encode(&mut buf);
        assert_eq!(&buf[..], &EXAMPLE_DATA[..]);
        assert_eq!(example().encoded_len(), 28);
    }

    #[test]
    fn decodes_spec_example() {
        let msg = Message::decode(Bytes::copy_from_slice(&EXAMPLE_DATA)).unwrap();
        assert_eq!(msg, example());
    }

    #[test]
    fn rejects_short_data() {
        assert_eq!(
            Message::decode(Bytes::from_static(&[0; 25])),
            Err(MessageError::TooShort(25))
        );
    }

    #[test]
    fn id_from_u64_is_big_endian_lower_hex() {
        assert_eq!(MessageId::from_u64(0).as_bytes(), b"0000000000000000");
        assert_eq!(
            MessageId::from_u64(u64::MAX).as_bytes(),
            b"ffffffffffffffff"
        );
        assert_eq!(MessageId::from_slice(b"short"), None);
        assert_eq!(
            MessageId::from_slice(b"0a1b2c3d4e5f6071"),
            Some(MessageId(*b"0a1b2c3d4e5f6071"))
        );
    }
}
