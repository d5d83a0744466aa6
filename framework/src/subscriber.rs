//! Declared subscribers: the [`Subscriber`] trait that `#[subscriber]` implements, the
//! [`Inject`] parameter that pulls a provided value into a handler, and the small decoding
//! helpers the macro's expansion calls.
//!
//! An annotated function becomes a unit value of the same name that a server registers in
//! one call (`NsqServer::new(&config).subscribe(send_receipt)`); the function itself stays
//! callable as `send_receipt::call(..)` for unit tests.
//!
//! ```
//! use framework::{subscriber, Event, Context};
//! use framework::subscriber::{Inject, Subscriber};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "order.created")]
//! pub struct OrderCreated { pub id: String }
//!
//! pub struct Mailer;
//!
//! // The topic comes from the event type; channel and policy from the annotation.
//! #[subscriber(channel = "email", max_attempts = 3, dead_letter = "order.created.dlq")]
//! async fn send_receipt(ctx: Context, ev: OrderCreated, _mailer: Inject<Mailer>) -> Result<(), std::io::Error> {
//!     tracing::info!(id = %ev.id, op = ctx.operation(), "receipt sent");
//!     Ok(())
//! }
//!
//! assert_eq!(send_receipt.topic(), "order.created");
//! assert_eq!(send_receipt.options().channel, "email");
//! assert_eq!(send_receipt.options().max_attempts, 3);
//! ```
//!
//! Topic and channel names are checked against NSQ's rules when the code compiles:
//!
//! ```compile_fail
//! #[framework::subscriber(topic = "bad topic!", channel = "email")]
//! async fn handler(body: bytes::Bytes) -> Result<(), std::io::Error> { Ok(()) }
//! ```

use crate::broker::{Delivery, Handler, Message, Permanent, SubscribeOptions};
use crate::codec::{Decode, Json, Protobuf};
use crate::provider::{Container, ProvideError};
use crate::BoxError;
use bytes::Bytes;
use std::ops::Deref;
use std::sync::Arc;

/// A subscriber declared with `#[subscriber]` (or written by hand): where it listens, with
/// which policy, and how to build its handler from the provided values.
pub trait Subscriber: Send + Sync + 'static {
    /// The subscriber's name (the function name); configuration overrides are keyed by it.
    fn name(&self) -> &'static str;

    /// The topic it consumes.
    fn topic(&self) -> &'static str;

    /// Channel and policy as annotated (configuration may override them).
    fn options(&self) -> SubscribeOptions;

    /// Builds the handler, resolving [`Inject`]ed values from `container`.
    fn handler(&self, container: &Container) -> Result<Handler, ProvideError>;
}

impl<S: Subscriber + ?Sized> Subscriber for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn topic(&self) -> &'static str {
        (**self).topic()
    }
    fn options(&self) -> SubscribeOptions {
        (**self).options()
    }
    fn handler(&self, container: &Container) -> Result<Handler, ProvideError> {
        (**self).handler(container)
    }
}

/// A handler parameter filled from the provider container (resolved once, when the
/// handler is built, so a missing provider fails at start, not on the first message).
#[derive(Debug)]
pub struct Inject<T>(Arc<T>);

impl<T> Clone for Inject<T> {
    fn clone(&self) -> Self {
        Inject(self.0.clone())
    }
}

impl<T> Deref for Inject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> Inject<T> {
    /// The provided `T` from `container`.
    pub fn resolve(container: &Container) -> Result<Self, ProvideError> {
        container.get::<T>().map(Inject)
    }

    /// The shared value.
    pub fn arc(&self) -> Arc<T> {
        self.0.clone()
    }
}

/// A body taken as is (`codec = "raw"`): [`Bytes`], `Vec<u8>`, `String` (UTF-8) or the
/// whole [`Message`] with its headers.
pub trait RawBody: Sized {
    /// Takes the body out of a delivered message.
    fn from_message(message: &Message) -> Result<Self, BoxError>;
}

impl RawBody for Bytes {
    fn from_message(message: &Message) -> Result<Self, BoxError> {
        Ok(message.body.clone())
    }
}

impl RawBody for Vec<u8> {
    fn from_message(message: &Message) -> Result<Self, BoxError> {
        Ok(message.body.to_vec())
    }
}

impl RawBody for String {
    fn from_message(message: &Message) -> Result<Self, BoxError> {
        Ok(String::from_utf8(message.body.to_vec())?)
    }
}

impl RawBody for Message {
    fn from_message(message: &Message) -> Result<Self, BoxError> {
        Ok(message.clone())
    }
}

/// Decodes the delivery's body as JSON; a failure is [`Permanent`] (retrying cannot help).
pub fn decode_json<T: serde::de::DeserializeOwned>(delivery: &Delivery) -> Result<T, BoxError> {
    permanent(delivery.message.decode::<Json, T>())
}

/// Decodes the delivery's body as protobuf; a failure is [`Permanent`].
pub fn decode_protobuf<T: prost::Message + Default>(delivery: &Delivery) -> Result<T, BoxError> {
    permanent(delivery.message.decode::<Protobuf, T>())
}

/// Decodes an [`Event`](crate::Event) with its own codec; a failure is [`Permanent`].
pub fn decode_event<T: crate::Event>(delivery: &Delivery) -> Result<T, BoxError> {
    permanent(T::from_message(&delivery.message))
}

/// Takes the raw body; a failure (e.g. not UTF-8 for `String`) is [`Permanent`].
pub fn decode_raw<T: RawBody>(delivery: &Delivery) -> Result<T, BoxError> {
    T::from_message(&delivery.message).map_err(|err| Box::new(Permanent(err)) as BoxError)
}

/// Decodes with any codec `C`; a failure is [`Permanent`].
pub fn decode_with<C: Decode<T>, T>(delivery: &Delivery) -> Result<T, BoxError> {
    permanent(delivery.message.decode::<C, T>())
}

fn permanent<T, E: Into<BoxError>>(result: Result<T, E>) -> Result<T, BoxError> {
    result.map_err(|err| Box::new(Permanent::new(err)) as BoxError)
}

/// Converts a handler's error into a [`BoxError`] (used by the macro expansion).
pub fn into_box_error<E: Into<BoxError>>(err: E) -> BoxError {
    err.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::is_permanent;
    use crate::transport::Kind;

    fn delivery(message: Message) -> Delivery {
        Delivery::new(Kind::MEMORY, "t", "c", message, 1)
    }

    #[test]
    fn bad_json_is_permanent() {
        let d = delivery(Message::new("not json"));
        let err = decode_json::<serde_json::Value>(&d).unwrap_err();
        assert!(is_permanent(err.as_ref()), "{err}");
    }

    #[test]
    fn raw_bodies() {
        let d = delivery(Message::new("hi"));
        assert_eq!(decode_raw::<Bytes>(&d).unwrap(), "hi");
        assert_eq!(decode_raw::<String>(&d).unwrap(), "hi");
        let bad = delivery(Message::new(vec![0xff, 0xfe]));
        assert!(is_permanent(
            decode_raw::<String>(&bad).unwrap_err().as_ref()
        ));
    }

    #[test]
    fn inject_names_the_missing_type() {
        #[derive(Debug)]
        struct Mailer;
        let err = Inject::<Mailer>::resolve(&Container::empty()).unwrap_err();
        assert!(err.to_string().contains("Mailer"), "{err}");
    }
}
