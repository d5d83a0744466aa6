//! [`MemoryBroker`]: an in-process [`Broker`] with NSQ's delivery model, for unit tests of
//! code that publishes and subscribes.
//!
//! - Every channel of a topic gets every message; messages published to a topic with no
//!   channel wait in the topic and go to the first channel subscribed (as in nsqd).
//! - Messages go through the [envelope](crate::envelope) like on a real transport, and the
//!   current trace context is injected into their headers.
//! - Each channel runs up to `min(concurrency, max_in_flight)` handlers at once; a failure
//!   is retried after the [`Backoff`](super::Backoff) delay until `max_attempts`, then the
//!   message goes to the dead-letter topic (or is dropped with a log line).
//! - [`MemoryBroker::wait_idle`] waits until every delivered message is settled.

use super::handler::{is_permanent, Delivery, Handler, HandlerStack};
use super::message::{header, Message};
use super::options::{PublishOptions, SubscribeOptions, SubscriptionKey};
use super::{wire_bytes, Broker, BrokerError};
use crate::app::AppInfo;
use crate::transport::Kind;
use crate::BoxError;
use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// An in-process broker; clones share the same topics.
///
/// ```
/// use framework::{Broker, BrokerExt, Message, PublishOptions, SubscribeOptions};
/// use framework::broker::{handler_fn, Delivery, MemoryBroker};
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let broker = MemoryBroker::new();
/// broker.connect().await.unwrap();
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = seen.clone();
/// broker.subscribe("orders", SubscribeOptions::new("email"), handler_fn(move |_d: Delivery| {
///     let counter = counter.clone();
///     async move { counter.fetch_add(1, Ordering::SeqCst); Ok(()) }
/// })).await.unwrap();
/// broker.publish_json("orders", &serde_json::json!({"id": 1})).await.unwrap();
/// broker.wait_idle().await;
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    connected: AtomicBool,
    topics: Mutex<HashMap<String, Topic>>,
    stack: HandlerStack,
    outstanding: AtomicUsize,
    idle: Notify,
}

#[derive(Default)]
struct Topic {
    channels: HashMap<String, Channel>,
    /// Messages published while the topic had no channel.
    backlog: Vec<Bytes>,
}

struct Channel {
    queue: mpsc::UnboundedSender<Pending>,
    cancel: CancellationToken,
    dispatcher: JoinHandle<()>,
}

/// A message waiting in a channel, with the attempts already made.
struct Pending {
    wire: Bytes,
    attempts: u16,
}

impl MemoryBroker {
    /// A broker with no middleware.
    pub fn new() -> Self {
        MemoryBroker::default()
    }

    /// A broker that wraps every subscribed handler in `stack`.
    pub fn with_middleware(stack: HandlerStack) -> Self {
        MemoryBroker {
            inner: Arc::new(Inner {
                stack,
                ..Inner::default()
            }),
        }
    }

    /// Waits until every message delivered to a channel (including delayed and retried
    /// ones) has been acknowledged, dead-lettered or dropped.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.outstanding.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Messages waiting in `topic` because it has no channel yet.
    pub fn backlog(&self, topic: &str) -> usize {
        self.inner
            .topics
            .lock()
            .get(topic)
            .map_or(0, |t| t.backlog.len())
    }

    fn ensure_connected(&self) -> Result<(), BrokerError> {
        if self.inner.connected.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(BrokerError::NotConnected)
        }
    }
}

impl Inner {
    fn acquire(&self, count: usize) {
        self.outstanding.fetch_add(count, Ordering::SeqCst);
    }

    fn settle(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Hands `wire` to every channel of `topic`, or keeps it in the topic's backlog.
    fn fan_out(&self, topic: &str, wire: Bytes) {
        let mut topics = self.topics.lock();
        let topic = topics.entry(topic.to_string()).or_default();
        if topic.channels.is_empty() {
            topic.backlog.push(wire);
            return;
        }
        for channel in topic.channels.values() {
            self.acquire(1);
            let pending = Pending {
                wire: wire.clone(),
                attempts: 0,
            };
            if channel.queue.send(pending).is_err() {
                self.settle();
            }
        }
    }
}

fn validate_name(name: &str) -> Result<(), BrokerError> {
    let base = name.strip_suffix("#ephemeral").unwrap_or(name);
    let valid = (1..=64).contains(&name.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(BrokerError::InvalidName(name.to_string()))
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn name(&self) -> &str {
        "memory"
    }

    async fn connect(&self) -> Result<(), BrokerError> {
        self.inner.connected.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn disconnect(&self) -> Result<(), BrokerError> {
        self.inner.connected.store(false, Ordering::SeqCst);
        let channels: Vec<Channel> = {
            let mut topics = self.inner.topics.lock();
            topics
                .values_mut()
                .flat_map(|topic| topic.channels.drain().map(|(_, channel)| channel))
                .collect()
        };
        for channel in channels {
            stop_channel(channel).await;
        }
        Ok(())
    }

    async fn publish(
        &self,
        topic: &str,
        message: Message,
        options: PublishOptions,
    ) -> Result<(), BrokerError> {
        self.ensure_connected()?;
        validate_name(topic)?;
        let wire = wire_bytes(message, &options)?;
        match options.delay {
            Some(delay) if !delay.is_zero() => {
                let inner = self.inner.clone();
                let topic = topic.to_string();
                inner.acquire(1);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    inner.fan_out(&topic, wire);
                    inner.settle();
                });
            }
            _ => self.inner.fan_out(topic, wire),
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: Handler,
    ) -> Result<(), BrokerError> {
        self.ensure_connected()?;
        validate_name(topic)?;
        validate_name(&options.channel)?;
        if options.concurrency == 0 || options.max_in_flight == 0 {
            return Err(BrokerError::InvalidOptions(
                "concurrency and max_in_flight must be at least 1".into(),
            ));
        }
        let key = SubscriptionKey::new(topic, options.channel.clone());
        let mut topics = self.inner.topics.lock();
        let entry = topics.entry(topic.to_string()).or_default();
        if entry.channels.contains_key(&key.channel) {
            return Err(BrokerError::AlreadySubscribed {
                topic: key.topic,
                channel: key.channel,
            });
        }
        let (queue, receiver) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let backlog = std::mem::take(&mut entry.backlog);
        self.inner.acquire(backlog.len());
        for wire in backlog {
            // The receiver is alive: it is in this scope.
            let _ = queue.send(Pending { wire, attempts: 0 });
        }
        let consumer = Consumer {
            broker: self.clone(),
            key: key.clone(),
            handler: self.inner.stack.apply(handler),
            options,
            queue: queue.clone(),
            app: AppInfo::current(),
        };
        let dispatcher = tokio::spawn(consumer.run(receiver, cancel.clone()));
        entry.channels.insert(
            key.channel,
            Channel {
                queue,
                cancel,
                dispatcher,
            },
        );
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, channel: &str) -> Result<(), BrokerError> {
        let removed = self
            .inner
            .topics
            .lock()
            .get_mut(topic)
            .and_then(|t| t.channels.remove(channel));
        match removed {
            Some(channel) => {
                stop_channel(channel).await;
                Ok(())
            }
            None => Err(BrokerError::NotSubscribed {
                topic: topic.to_string(),
                channel: channel.to_string(),
            }),
        }
    }
}

async fn stop_channel(channel: Channel) {
    channel.cancel.cancel();
    if let Err(err) = channel.dispatcher.await {
        tracing::error!(%err, "memory broker dispatcher failed");
    }
}

/// The dispatcher of one `(topic, channel)` subscription.
struct Consumer {
    broker: MemoryBroker,
    key: SubscriptionKey,
    handler: Handler,
    options: SubscribeOptions,
    queue: mpsc::UnboundedSender<Pending>,
    app: Option<AppInfo>,
}

impl Consumer {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<Pending>, cancel: CancellationToken) {
        let this = Arc::new(self);
        let slots = this.options.concurrency.min(this.options.max_in_flight);
        let permits = Arc::new(Semaphore::new(slots));
        let mut in_flight = JoinSet::new();
        loop {
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break };
            let pending = tokio::select! {
                _ = cancel.cancelled() => break,
                pending = receiver.recv() => pending,
            };
            let Some(pending) = pending else { break };
            let consumer = this.clone();
            let cancel = cancel.clone();
            in_flight.spawn(async move {
                consumer.handle(pending, cancel).await;
                drop(permit);
            });
            while in_flight.try_join_next().is_some() {}
        }
        // Drain: finish what is in flight, then drop what is still queued.
        while in_flight.join_next().await.is_some() {}
        receiver.close();
        while receiver.try_recv().is_ok() {
            this.broker.inner.settle();
        }
    }

    async fn handle(&self, pending: Pending, cancel: CancellationToken) {
        let attempts = pending.attempts.saturating_add(1);
        let outcome = match Message::from_wire(pending.wire.clone()) {
            Ok(message) => self.call_handler(message, attempts).await,
            Err(err) => Err(Box::new(super::Permanent::new(err)) as BoxError),
        };
        let inner = &self.broker.inner;
        let Err(err) = outcome else {
            inner.settle();
            return;
        };
        if is_permanent(err.as_ref()) || !self.options.may_retry(attempts) {
            self.give_up(pending.wire, attempts, &err).await;
            inner.settle();
            return;
        }
        tracing::debug!(operation = %self.key.operation(), attempts, %err, "handler failed; retrying");
        let delay = self.options.backoff.delay(attempts);
        let queue = self.queue.clone();
        let broker = self.broker.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => broker.inner.settle(),
                _ = tokio::time::sleep(delay) => {
                    let retry = Pending { wire: pending.wire, attempts };
                    if queue.send(retry).is_err() {
                        broker.inner.settle();
                    }
                }
            }
        });
    }

    async fn call_handler(&self, message: Message, attempts: u16) -> Result<(), BoxError> {
        let mut delivery = Delivery::new(
            Kind::MEMORY,
            &self.key.topic,
            &self.key.channel,
            message,
            attempts,
        );
        delivery.context = delivery.context.with_app(self.app.clone());
        let context = delivery.context.clone();
        let call = tower::ServiceExt::oneshot(self.handler.clone(), delivery);
        match AssertUnwindSafe(context.scope(call)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => Err("handler panicked".into()),
        }
    }

    /// After the last attempt: publish to the dead-letter topic with failure headers, or
    /// drop with a log line.
    async fn give_up(&self, wire: Bytes, attempts: u16, err: &BoxError) {
        let operation = self.key.operation();
        let Some(dead_letter) = &self.options.dead_letter else {
            tracing::warn!(%operation, attempts, %err, "giving up on message; no dead-letter topic, dropped");
            return;
        };
        let mut message = Message::from_wire(wire.clone()).unwrap_or_else(|_| Message::new(wire));
        let headers = &mut message.headers;
        headers.insert(header::DEAD_LETTER_REASON, err.to_string());
        headers.insert(header::DEAD_LETTER_ATTEMPTS, attempts.to_string());
        headers.insert(header::ORIGINAL_TOPIC, self.key.topic.clone());
        headers.insert(header::ORIGINAL_CHANNEL, self.key.channel.clone());
        tracing::warn!(%operation, attempts, %err, %dead_letter, "giving up on message; dead-lettered");
        match message.to_wire() {
            Ok(bytes) => self.broker.inner.fan_out(dead_letter, bytes),
            Err(err) => {
                tracing::error!(%operation, %err, "dead-letter message does not fit the envelope; dropped")
            }
        }
    }
}
