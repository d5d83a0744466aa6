//! [`Message`]: what a broker carries, a set of [`Headers`] and a body.

use crate::codec::{CodecError, Decode, Encode, Json, Protobuf};
use crate::envelope::{self, EnvelopeError};
use bytes::Bytes;
use std::collections::BTreeMap;

/// Well-known header names (all lower-case).
pub mod header {
    /// Media type of the body, e.g. `application/json`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// A unique id the publisher gives the message.
    pub const MESSAGE_ID: &str = "message-id";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C trace state.
    pub const TRACESTATE: &str = "tracestate";
    /// W3C baggage.
    pub const BAGGAGE: &str = "baggage";
    /// Set on dead-lettered messages: why the last attempt failed.
    pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";
    /// Set on dead-lettered messages: how many attempts were made.
    pub const DEAD_LETTER_ATTEMPTS: &str = "x-dead-letter-attempts";
    /// Set on dead-lettered messages: the topic the message was consumed from.
    pub const ORIGINAL_TOPIC: &str = "x-original-topic";
    /// Set on dead-lettered messages: the channel that gave up on it.
    pub const ORIGINAL_CHANNEL: &str = "x-original-channel";
}

/// Message headers: string keys (stored lower-case) to string values, in key order so
/// encodings are deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Sets `key` (lower-cased) to `value`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into().to_ascii_lowercase(), value.into())
    }

    /// The value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(value) => Some(value),
            None => self.0.get(&key.to_ascii_lowercase()).map(String::as_str),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(&key.to_ascii_lowercase())
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The header names in key order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (key, value) in iter {
            headers.insert(key, value);
        }
        headers
    }
}

/// A broker message: headers plus a body.
///
/// ```
/// use framework::Message;
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct OrderCreated { id: String }
///
/// let msg = Message::json(&OrderCreated { id: "o-1".into() }).unwrap();
/// assert_eq!(msg.content_type(), Some("application/json"));
/// let back: OrderCreated = msg.decode_json().unwrap();
/// assert_eq!(back.id, "o-1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The headers (trace context, content type, message id, your own).
    pub headers: Headers,
    /// The payload.
    pub body: Bytes,
}

impl Message {
    /// A message with `body` and no headers.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Message {
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key, value);
        self
    }

    /// Encodes `value` with codec `C` and sets the `content-type` header.
    pub fn encode<C: Encode<T>, T: ?Sized>(value: &T) -> Result<Self, CodecError> {
        Ok(Message::new(C::encode(value)?).with_header(header::CONTENT_TYPE, C::CONTENT_TYPE))
    }

    /// Decodes the body with codec `C`; fails if the `content-type` header names another
    /// media type (a message without the header is decoded as is).
    pub fn decode<C: Decode<T>, T>(&self) -> Result<T, CodecError> {
        if let Some(content_type) = self.content_type() {
            if !C::accepts(content_type) {
                return Err(CodecError::ContentTypeMismatch {
                    expected: C::CONTENT_TYPE,
                    actual: content_type.to_string(),
                });
            }
        }
        C::decode(&self.body)
    }

    /// A JSON message (`application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, CodecError> {
        Message::encode::<Json, T>(value)
    }

    /// A protobuf message (`application/x-protobuf`).
    pub fn protobuf<T: prost::Message>(value: &T) -> Result<Self, CodecError> {
        Message::encode::<Protobuf, T>(value)
    }

    /// Decodes a JSON body.
    pub fn decode_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CodecError> {
        self.decode::<Json, T>()
    }

    /// Decodes a protobuf body.
    pub fn decode_protobuf<T: prost::Message + Default>(&self) -> Result<T, CodecError> {
        self.decode::<Protobuf, T>()
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(header::CONTENT_TYPE)
    }

    /// The `message-id` header.
    pub fn id(&self) -> Option<&str> {
        self.headers.get(header::MESSAGE_ID)
    }

    /// Sets a fresh random `message-id` unless one is set; returns the id.
    pub fn ensure_id(&mut self) -> &str {
        if !self.headers.contains(header::MESSAGE_ID) {
            self.headers.insert(header::MESSAGE_ID, new_message_id());
        }
        self.headers.get(header::MESSAGE_ID).unwrap_or_default()
    }

    /// The bytes to put on the wire: the envelope (see `ENVELOPE.md`).
    pub fn to_wire(&self) -> Result<Bytes, EnvelopeError> {
        envelope::encode(&self.headers, &self.body)
    }

    /// Parses bytes from the wire: an envelope, or a raw payload with no headers when the
    /// bytes do not start with the envelope's magic.
    pub fn from_wire(bytes: Bytes) -> Result<Self, EnvelopeError> {
        let (headers, body) = envelope::decode(bytes)?;
        Ok(Message { headers, body })
    }
}

/// A random 128-bit id as 32 lower-case hex digits.
pub fn new_message_id() -> String {
    let id: u128 = rand::random();
    format!("{id:032x}")
}
