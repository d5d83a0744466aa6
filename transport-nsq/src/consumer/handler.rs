//! The message handler contract: an async function (or any type implementing [`Handler`])
//! that returns `Ok` to finish a message or a [`HandlerError`] to requeue it.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::message::Message;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Handles messages of one consumer. Implemented for every
/// `Fn(Message) -> impl Future<Output = Result<(), E>>` with `E: Into<HandlerError>`.
///
/// With auto-response (the default) `Ok` sends `FIN` and `Err` sends `REQ` (delay and
/// backoff taken from the [`HandlerError`]). A handler that calls
/// [`Message::disable_auto_response`] answers itself, possibly later.
pub trait Handler: Send + Sync + 'static {
    /// Handles one message.
    fn handle(&self, message: Message) -> BoxFuture<'static, Result<(), HandlerError>>;
}

impl<F, Fut, E> Handler for F
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<HandlerError>,
{
    fn handle(&self, message: Message) -> BoxFuture<'static, Result<(), HandlerError>> {
        (self)(message).map(|r| r.map_err(Into::into)).boxed()
    }
}

/// Called (instead of the handler) for a message whose attempts exceed `max_attempts`;
/// the message is finished afterwards (go-nsq's `LogFailedMessage`).
pub type ExhaustedHook = Arc<dyn Fn(Message) -> BoxFuture<'static, ()> + Send + Sync>;

/// A handler failure: the message is requeued.
pub struct HandlerError {
    source: BoxError,
    requeue_delay: Option<Duration>,
    backoff: bool,
}

impl HandlerError {
    /// A failure with a boxed cause.
    pub fn from_boxed(source: BoxError) -> Self {
        Self {
            source,
            requeue_delay: None,
            backoff: true,
        }
    }

    /// A failure described by a message.
    pub fn msg(text: impl fmt::Display) -> Self {
        Self::from_boxed(text.to_string().into())
    }

    /// Requeue after exactly `delay` instead of the computed
    /// `default_requeue_delay × attempts` (capped at `max_requeue_delay`).
    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_delay = Some(delay);
        self
    }

    /// Do not count this failure for backoff (go-nsq `RequeueWithoutBackoff`).
    pub fn without_backoff(mut self) -> Self {
        self.backoff = false;
        self
    }

    /// The explicit requeue delay, if any.
    pub fn requeue_delay(&self) -> Option<Duration> {
        self.requeue_delay
    }

    /// Whether the failure triggers backoff.
    pub fn backoff(&self) -> bool {
        self.backoff
    }

    /// The cause.
    pub fn source(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.source.as_ref()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        Self::from_boxed(Box::new(e))
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("source", &self.source)
            .field("requeue_delay", &self.requeue_delay)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}
