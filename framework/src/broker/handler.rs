//! Subscriber handlers: a tower service from [`Delivery`] to `()`, so the shared middleware
//! stack (tracing, recovery, metrics, timeout) wraps broker handlers like gRPC methods.

use super::Message;
use crate::codec::Decode;
use crate::middleware::{BoxService, Stack};
use crate::transport::{Context, Transported};
use crate::BoxError;
use std::future::Future;
use std::marker::PhantomData;

/// One message handed to a subscriber.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The message (headers from the envelope, body).
    pub message: Message,
    /// The topic it was published to.
    pub topic: String,
    /// The channel delivering it.
    pub channel: String,
    /// Delivery attempts so far, counting this one (starts at 1).
    pub attempts: u16,
    /// Transport context: kind, operation `topic/channel`, headers.
    pub context: Context,
    /// Transport-specific extras (e.g. a handle to touch an NSQ message).
    pub extensions: http::Extensions,
}

impl Delivery {
    /// A delivery of `message` on `(topic, channel)` through transport `kind`; the context's
    /// operation is `topic/channel` and its headers are the message's.
    pub fn new(
        kind: crate::Kind,
        topic: impl Into<String>,
        channel: impl Into<String>,
        message: Message,
        attempts: u16,
    ) -> Self {
        let (topic, channel) = (topic.into(), channel.into());
        let context = Context::new(kind, format!("{topic}/{channel}"), message.headers.clone());
        Delivery {
            message,
            topic,
            channel,
            attempts,
            context,
            extensions: http::Extensions::new(),
        }
    }
}

impl Transported for Delivery {
    fn transport_context(&self) -> Option<&Context> {
        Some(&self.context)
    }
}

/// A subscriber handler: `Ok(())` acknowledges (NSQ `FIN`), an error retries with backoff
/// (NSQ `REQ`) until attempts run out, a [`Permanent`] error gives up at once.
pub type Handler = BoxService<Delivery, ()>;

/// A middleware stack for handlers; see [`Stack`].
pub type HandlerStack = Stack<Delivery, ()>;

/// Marks an error as not worth retrying (e.g. a body that does not decode): the message
/// goes straight to the dead-letter topic.
#[derive(Debug, thiserror::Error)]
#[error("permanent failure: {0}")]
pub struct Permanent(#[source] pub BoxError);

impl Permanent {
    /// Wraps an error.
    pub fn new(err: impl Into<BoxError>) -> Self {
        Permanent(err.into())
    }
}

/// Whether `err` (or an error it wraps) is [`Permanent`].
pub fn is_permanent(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<Permanent>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// A handler from an async function of the delivery.
///
/// ```
/// use framework::broker::{handler_fn, Delivery};
/// let handler = handler_fn(|delivery: Delivery| async move {
///     tracing::info!(len = delivery.message.body.len(), "got a message");
///     Ok(())
/// });
/// # drop(handler);
/// ```
pub fn handler_fn<F, Fut>(f: F) -> Handler
where
    F: Fn(Delivery) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Handler::new(tower::service_fn(f))
}

/// A handler that decodes the body with codec `C` into `T` (honouring `content-type`) and
/// calls `f` with the value and the transport context. A body that does not decode is a
/// [`Permanent`] failure.
///
/// ```
/// use framework::{Json, Context};
/// use framework::broker::typed_handler;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct OrderCreated { id: String }
///
/// let handler = typed_handler::<Json, _, _, _>(|order: OrderCreated, ctx: Context| async move {
///     tracing::info!(id = %order.id, op = ctx.operation(), "order created");
///     Ok(())
/// });
/// # drop(handler);
/// ```
pub fn typed_handler<C, T, F, Fut>(f: F) -> Handler
where
    C: Decode<T> + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(T, Context) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let codec = PhantomData::<fn() -> C>;
    handler_fn(move |delivery: Delivery| {
        let f = f.clone();
        let _ = codec;
        async move {
            let value = delivery.message.decode::<C, T>().map_err(Permanent::new)?;
            f(value, delivery.context).await
        }
    })
}

/// A handler for an [`Event`](super::Event) type: decodes with the event's own codec
/// (honouring `content-type`) and calls `f` with the event and the transport context.
/// A body that does not decode is a [`Permanent`] failure.
///
/// ```
/// use framework::broker::event_handler;
/// use framework::{Context, Event};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(topic = "order.created")]
/// struct OrderCreated { id: String }
///
/// let handler = event_handler(|order: OrderCreated, _ctx: Context| async move {
///     tracing::info!(id = %order.id, "sending receipt");
///     Ok(())
/// });
/// # drop(handler);
/// ```
pub fn event_handler<E, F, Fut>(f: F) -> Handler
where
    E: super::Event + Send + 'static,
    F: Fn(E, Context) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    handler_fn(move |delivery: Delivery| {
        let f = f.clone();
        async move {
            let event = E::from_message(&delivery.message).map_err(Permanent::new)?;
            f(event, delivery.context).await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_is_found_through_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Permanent);
        let err = Outer(Permanent::new("bad body"));
        assert!(is_permanent(&err));
        let plain: BoxError = "transient".into();
        assert!(!is_permanent(plain.as_ref()));
    }
}
