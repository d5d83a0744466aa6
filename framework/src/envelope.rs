//! The envelope that carries [`Headers`] over brokers whose messages are only a body.
//!
//! Layout and rules are specified in `framework/ENVELOPE.md`: a 4-byte magic (`\0FWE`),
//! a version byte, a `u16` header count, length-prefixed UTF-8 keys and values, then the
//! body to the end. Bytes without the magic decode as a raw body with no headers.

use crate::broker::Headers;
use bytes::{BufMut, Bytes, BytesMut};

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = [0x00, b'F', b'W', b'E'];
/// The envelope version this crate writes and reads.
pub const VERSION: u8 = 1;

const FIXED_LEN: usize = MAGIC.len() + 1 + 2;

/// Why bytes that start with the magic are not a valid envelope, or headers cannot be
/// encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The version byte is not one this crate reads.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The input ends inside the fixed part or a header.
    #[error("truncated envelope")]
    Truncated,
    /// A header key is empty.
    #[error("empty header key in envelope")]
    EmptyKey,
    /// A header key or value is not UTF-8.
    #[error("header in envelope is not UTF-8")]
    NotUtf8,
    /// A header key appears twice.
    #[error("duplicate header {0:?} in envelope")]
    DuplicateKey(String),
    /// More than 65535 headers, or a key/value longer than 65535 bytes.
    #[error("header {0:?} does not fit the envelope (65535 headers, 65535 bytes each)")]
    TooLarge(String),
}

/// Whether `bytes` start with the envelope magic.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Encodes headers and body into one buffer.
pub fn encode(headers: &Headers, body: &[u8]) -> Result<Bytes, EnvelopeError> {
    let count = u16::try_from(headers.len())
        .map_err(|_| EnvelopeError::TooLarge(format!("{} headers", headers.len())))?;
    let headers_len: usize = headers.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
    let mut out = BytesMut::with_capacity(FIXED_LEN + headers_len + body.len());
    out.put_slice(&MAGIC);
    out.put_u8(VERSION);
    out.put_u16(count);
    for (key, value) in headers.iter() {
        if key.is_empty() {
            return Err(EnvelopeError::EmptyKey);
        }
        put_field(&mut out, key, key)?;
        put_field(&mut out, key, value)?;
    }
    out.put_slice(body);
    Ok(out.freeze())
}

fn put_field(out: &mut BytesMut, key: &str, field: &str) -> Result<(), EnvelopeError> {
    let len = u16::try_from(field.len()).map_err(|_| EnvelopeError::TooLarge(key.into()))?;
    out.put_u16(len);
    out.put_slice(field.as_bytes());
    Ok(())
}

/// Decodes bytes from the wire into headers and body. Bytes without the magic are a raw
/// body with no headers; the body is a zero-copy slice of `bytes`.
pub fn decode(bytes: Bytes) -> Result<(Headers, Bytes), EnvelopeError> {
    if !has_magic(&bytes) {
        return Ok((Headers::new(), bytes));
    }
    let mut reader = Reader {
        bytes: &bytes,
        pos: MAGIC.len(),
    };
    let version = reader.u8()?;
    if version != VERSION {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let count = reader.u16()?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let key = reader.string()?;
        if key.is_empty() {
            return Err(EnvelopeError::EmptyKey);
        }
        let value = reader.string()?;
        if headers.insert(key.clone(), value).is_some() {
            return Err(EnvelopeError::DuplicateKey(key.to_ascii_lowercase()));
        }
    }
    let body = bytes.slice(reader.pos..);
    Ok((headers, body))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], EnvelopeError> {
        let end = self.pos.checked_add(len).ok_or(EnvelopeError::Truncated)?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(EnvelopeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, EnvelopeError> {
        let raw = self.take(2)?;
        Ok(u16::from_be_bytes([raw[0], raw[1]]))
    }

    fn string(&mut self) -> Result<String, EnvelopeError> {
        let len = usize::from(self.u16()?);
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| EnvelopeError::NotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Bytes {
        let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn vector_no_headers() {
        let bytes = encode(&Headers::new(), b"hi").unwrap();
        assert_eq!(bytes, hex("00465745 01 0000 6869"));
        let (headers, body) = decode(bytes).unwrap();
        assert!(headers.is_empty());
        assert_eq!(body, "hi");
    }

    #[test]
    fn vector_content_type() {
        let headers: Headers = [("content-type", "application/json")].into_iter().collect();
        let bytes = encode(&headers, b"{}").unwrap();
        let expected = hex("00465745 01 0001 000c 636f6e74656e742d74797065 \
             0010 6170706c69636174696f6e2f6a736f6e 7b7d");
        assert_eq!(bytes, expected);
        assert_eq!(decode(bytes).unwrap(), (headers, Bytes::from_static(b"{}")));
    }

    #[test]
    fn round_trip_with_trace_headers_and_binary_body() {
        let headers: Headers = [
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("message-id", "abc"),
            ("x-empty", ""),
        ]
        .into_iter()
        .collect();
        let body = Bytes::from_static(&[0, 1, 2, 255, 0x00, b'F', b'W', b'E']);
        let (h, b) = decode(encode(&headers, &body).unwrap()).unwrap();
        assert_eq!(h, headers);
        assert_eq!(b, body);
    }

    #[test]
    fn raw_fallback_without_magic() {
        for raw in [&b"hello"[..], b"", b"\x00FW", b"{\"a\":1}", b"\x00FWX\x01"] {
            let (headers, body) = decode(Bytes::copy_from_slice(raw)).unwrap();
            assert!(headers.is_empty());
            assert_eq!(body, raw);
        }
    }

    #[test]
    fn unsupported_version_is_an_error() {
        assert_eq!(
            decode(hex("00465745 02 0000")),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn truncated_inputs_are_errors() {
        for input in [
            "00465745",
            "00465745 01",
            "00465745 01 00",
            "00465745 01 0001",
            "00465745 01 0001 0005 6162",
            "00465745 01 0001 0001 61 0003 6263",
        ] {
            assert_eq!(decode(hex(input)), Err(EnvelopeError::Truncated), "{input}");
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(
            decode(hex("00465745 01 0001 0000 0000")),
            Err(EnvelopeError::EmptyKey)
        );
        assert_eq!(
            decode(hex("00465745 01 0001 0001 ff 0000")),
            Err(EnvelopeError::NotUtf8)
        );
        assert_eq!(
            decode(hex("00465745 01 0002 0001 61 0000 0001 41 0000")),
            Err(EnvelopeError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn keys_are_lower_cased_on_decode() {
        let (headers, _) = decode(hex("00465745 01 0001 0001 41 0001 62")).unwrap();
        assert_eq!(headers.get("a"), Some("b"));
    }

    #[test]
    fn oversized_value_is_rejected() {
        let headers: Headers = [("big", "x".repeat(70_000))].into_iter().collect();
        assert!(matches!(
            encode(&headers, b""),
            Err(EnvelopeError::TooLarge(_))
        ));
    }
}
