//! Body codecs: [`Json`] (serde) and [`Protobuf`] (prost). A codec is chosen per publish
//! or subscription by type, and names its media type for the `content-type` header.

use bytes::Bytes;

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// JSON (de)serialization failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Protobuf decoding failed.
    #[error("protobuf decode: {0}")]
    ProtobufDecode(#[from] prost::DecodeError),
    /// Protobuf encoding failed.
    #[error("protobuf encode: {0}")]
    ProtobufEncode(#[from] prost::EncodeError),
    /// The message's `content-type` names a different codec.
    #[error("content-type is {actual:?}, expected {expected:?}")]
    ContentTypeMismatch {
        /// What the codec handles.
        expected: &'static str,
        /// What the message said.
        actual: String,
    },
}

/// A body format, named by its media type.
pub trait Codec {
    /// The media type written to the `content-type` header.
    const CONTENT_TYPE: &'static str;

    /// Whether a message with this `content-type` can be decoded by this codec
    /// (parameters such as `; charset=utf-8` are ignored).
    fn accepts(content_type: &str) -> bool {
        media_type(content_type).eq_ignore_ascii_case(Self::CONTENT_TYPE)
    }
}

/// A codec that can encode values of `T`.
pub trait Encode<T: ?Sized>: Codec {
    /// Encodes a value.
    fn encode(value: &T) -> Result<Bytes, CodecError>;
}

/// A codec that can decode values of `T`.
pub trait Decode<T>: Codec {
    /// Decodes a value.
    fn decode(bytes: &[u8]) -> Result<T, CodecError>;
}

/// JSON via serde: `application/json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl<T: serde::Serialize + ?Sized> Encode<T> for Json {
    fn encode(value: &T) -> Result<Bytes, CodecError> {
        Ok(serde_json::to_vec(value)?.into())
    }
}

impl<T: serde::de::DeserializeOwned> Decode<T> for Json {
    fn decode(bytes: &[u8]) -> Result<T, CodecError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Protocol buffers via prost: `application/x-protobuf` (also accepts
/// `application/protobuf`, `application/x-proto` and `application/proto`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Protobuf;

const PROTOBUF_ALIASES: [&str; 4] = [
    "application/x-protobuf",
    "application/protobuf",
    "application/x-proto",
    "application/proto",
];

impl Codec for Protobuf {
    const CONTENT_TYPE: &'static str = "application/x-protobuf";

    fn accepts(content_type: &str) -> bool {
        let media = media_type(content_type);
        PROTOBUF_ALIASES
            .iter()
            .any(|alias| media.eq_ignore_ascii_case(alias))
    }
}

impl<T: prost::Message> Encode<T> for Protobuf {
    fn encode(value: &T) -> Result<Bytes, CodecError> {
        Ok(value.encode_to_vec().into())
    }
}

impl<T: prost::Message + Default> Decode<T> for Protobuf {
    fn decode(bytes: &[u8]) -> Result<T, CodecError> {
        Ok(T::decode(bytes)?)
    }
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Ping {
        #[prost(string, tag = "1")]
        text: String,
    }

    #[test]
    fn protobuf_round_trip_sets_content_type() {
        let msg = Message::protobuf(&Ping { text: "hi".into() }).unwrap();
        assert_eq!(msg.content_type(), Some("application/x-protobuf"));
        assert_eq!(msg.body.as_ref(), b"\x0a\x02hi");
        assert_eq!(msg.decode_protobuf::<Ping>().unwrap().text, "hi");
    }

    #[test]
    fn json_with_charset_parameter_is_accepted() {
        let msg = Message::new(&b"{\"a\":1}"[..])
            .with_header("Content-Type", "application/json; charset=utf-8");
        let value: serde_json::Value = msg.decode_json().unwrap();
        assert_eq!(value["a"], 1);
    }

    #[test]
    fn content_type_mismatch_is_an_error() {
        let msg = Message::json(&serde_json::json!({"a": 1})).unwrap();
        let err = msg.decode_protobuf::<Ping>().unwrap_err();
        assert!(
            matches!(err, CodecError::ContentTypeMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn message_without_content_type_is_decoded_as_asked() {
        let msg = Message::new(&b"\x0a\x02yo"[..]);
        assert_eq!(msg.decode_protobuf::<Ping>().unwrap().text, "yo");
    }
}
