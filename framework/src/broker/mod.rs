//! The [`Broker`] trait (publish/subscribe over a message broker), the messages it carries
//! and the options of publishing and subscribing.
//!
//! Subscriptions are keyed by `(topic, channel)`: every channel of a topic gets its own copy
//! of each message (NSQ's model), and two channels of one topic in one service never see
//! each other's messages.

pub mod conformance;
mod handler;
pub mod memory;
mod message;
mod options;
mod server;

pub use handler::{
    event_handler, handler_fn, is_permanent, typed_handler, Delivery, Handler, HandlerStack,
    Permanent,
};
pub use memory::MemoryBroker;
pub use message::{header, new_message_id, Headers, Message};
pub use options::{Backoff, PublishOptions, SubscribeOptions, SubscriptionKey};
pub use server::BrokerServer;

use crate::codec::CodecError;
use crate::envelope::EnvelopeError;
use crate::BoxError;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// `publish`/`subscribe` before `connect` (or after `disconnect`).
    #[error("broker is not connected")]
    NotConnected,
    /// The `(topic, channel)` pair already has a handler.
    #[error("already subscribed to {topic}/{channel}")]
    AlreadySubscribed {
        /// Topic name.
        topic: String,
        /// Channel name.
        channel: String,
    },
    /// No handler for the `(topic, channel)` pair.
    #[error("not subscribed to {topic}/{channel}")]
    NotSubscribed {
        /// Topic name.
        topic: String,
        /// Channel name.
        channel: String,
    },
    /// A topic or channel name the broker does not accept.
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// Options the broker cannot honour (e.g. zero concurrency).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The message could not be wrapped in / read from the envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A value could not be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The operation did not finish within its timeout.
    #[error("broker operation timed out")]
    Timeout,
    /// The underlying transport failed.
    #[error("broker transport: {0}")]
    Transport(#[source] BoxError),
}

/// A message broker: connect, publish to topics, subscribe handlers to `(topic, channel)`.
///
/// Implementations: [`MemoryBroker`] (in-process, for tests) and `transport_nsq::NsqBroker`.
/// Publishing wraps the message in the [envelope](crate::envelope) (unless
/// [`PublishOptions::raw`]) and injects the current trace context into its headers.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Connects (idempotent).
    async fn connect(&self) -> Result<(), BrokerError>;

    /// Stops all subscriptions, draining in-flight handlers, and disconnects (idempotent).
    async fn disconnect(&self) -> Result<(), BrokerError>;

    /// Publishes one message to `topic`.
    async fn publish(
        &self,
        topic: &str,
        message: Message,
        options: PublishOptions,
    ) -> Result<(), BrokerError>;

    /// Publishes several messages to `topic`, in order. The default publishes one by one;
    /// brokers with a batch command (NSQ `MPUB`) override it to send them at once.
    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Message>,
        options: PublishOptions,
    ) -> Result<(), BrokerError> {
        for message in messages {
            self.publish(topic, message, options.clone()).await?;
        }
        Ok(())
    }

    /// Runs `handler` for every message on `(topic, options.channel)`.
    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: Handler,
    ) -> Result<(), BrokerError>;

    /// Stops the subscription on `(topic, channel)`, draining its in-flight handlers.
    async fn unsubscribe(&self, topic: &str, channel: &str) -> Result<(), BrokerError>;
}

/// The bytes a [`Broker`] puts on the wire for `message` published with `options`: the
/// [envelope](crate::envelope) with a message id and the current trace context (unless the
/// headers already carry a `traceparent`), or the bare body when [`PublishOptions::raw`].
/// Broker implementations call it in `publish`.
///
/// ```
/// use framework::broker::{wire_bytes, Message, PublishOptions};
///
/// let raw = wire_bytes(Message::new("plain"), &PublishOptions::default().raw()).unwrap();
/// assert_eq!(raw, "plain");
/// let wire = wire_bytes(Message::new("plain"), &PublishOptions::default()).unwrap();
/// let sent = Message::from_wire(wire).unwrap();
/// assert_eq!(sent.body, "plain");
/// assert_eq!(sent.id().map(str::len), Some(32));
/// ```
pub fn wire_bytes(mut message: Message, options: &PublishOptions) -> Result<Bytes, BrokerError> {
    if options.raw {
        return Ok(message.body);
    }
    message.ensure_id();
    if !message.headers.contains(header::TRACEPARENT) {
        crate::telemetry::inject_current(&mut message.headers);
    }
    Ok(message.to_wire()?)
}

/// A type published to a fixed topic; derive it with `#[derive(framework::Event)]`.
///
/// ```
/// #[derive(framework::Event, serde::Serialize, serde::Deserialize)]
/// #[event(topic = "order.created")]
/// struct OrderCreated { id: String }
///
/// use framework::Event;
/// assert_eq!(OrderCreated::TOPIC, "order.created");
/// ```
///
/// Topic names are checked against NSQ's rules when compiling:
///
/// ```compile_fail
/// #[derive(framework::Event, serde::Serialize, serde::Deserialize)]
/// #[event(topic = "not a valid topic")]
/// struct Bad { id: String }
/// ```
pub trait Event: Sized {
    /// The topic events of this type go to.
    const TOPIC: &'static str;

    /// Encodes the event as a message (sets `content-type`).
    fn to_message(&self) -> Result<Message, CodecError>;

    /// Decodes an event from a delivered message.
    fn from_message(message: &Message) -> Result<Self, CodecError>;
}

/// Conveniences on every [`Broker`]: typed publishing.
#[async_trait]
pub trait BrokerExt: Broker {
    /// Publishes `value` as JSON.
    async fn publish_json<T: serde::Serialize + Sync>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<(), BrokerError> {
        let message = Message::json(value)?;
        self.publish(topic, message, PublishOptions::default())
            .await
    }

    /// Publishes `value` as protobuf.
    async fn publish_protobuf<T: prost::Message + Sync>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<(), BrokerError> {
        let message = Message::protobuf(value)?;
        self.publish(topic, message, PublishOptions::default())
            .await
    }

    /// Publishes an [`Event`] to its topic.
    async fn publish_event<E: Event + Sync>(&self, event: &E) -> Result<(), BrokerError> {
        let message = event.to_message()?;
        self.publish(E::TOPIC, message, PublishOptions::default())
            .await
    }
}

impl<B: Broker + ?Sized> BrokerExt for B {}

/// A clonable handle for publishing through any [`Broker`]; provide it in the data layer.
/// Derefs to `dyn Broker`, so [`BrokerExt`]'s `publish_event` and friends work on it.
///
/// ```
/// use framework::broker::{MemoryBroker, Publisher};
/// use framework::{Broker, BrokerExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), framework::BoxError> {
/// let publisher = Publisher::new(MemoryBroker::new());
/// publisher.connect().await?;
/// publisher.publish_json("orders", &serde_json::json!({"id": 1})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Publisher {
    broker: Arc<dyn Broker>,
}

impl Publisher {
    /// Publishes through `broker`.
    pub fn new(broker: impl Broker) -> Self {
        Publisher {
            broker: Arc::new(broker),
        }
    }

    /// Publishes through a shared broker.
    pub fn from_shared(broker: Arc<dyn Broker>) -> Self {
        Publisher { broker }
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }
}

impl std::ops::Deref for Publisher {
    type Target = dyn Broker;

    fn deref(&self) -> &Self::Target {
        self.broker.as_ref()
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("broker", &self.broker.name())
            .finish()
    }
}
