//! One `(topic, channel)` subscription: an NSQ [`Consumer`] whose messages go through the
//! framework's handler (with its middleware) and whose outcome becomes NSQ's answer:
//! `Ok` -> `FIN`; an error -> `REQ` after the subscription's backoff delay; a
//! [`Permanent`](framework::broker::Permanent) error or the last allowed attempt -> the
//! dead-letter topic with failure headers (or dropped with a log line), then `FIN`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use framework::broker::{
    header, is_permanent, Delivery, Handler, SubscribeOptions, SubscriptionKey,
};
use framework::{AppInfo, BoxError, Kind, Message as FrameworkMessage};
use futures::FutureExt;

use crate::config::Config;
use crate::consumer::{Consumer, ConsumerStats, DrainReport, HandlerError, Message};
use crate::error::Error;
use crate::producer::Producer;
use crate::server::topology::Nodes;

/// A subscription ready to start: its key, policy and (already wrapped) handler.
pub(crate) struct Spec {
    pub key: SubscriptionKey,
    pub options: SubscribeOptions,
    pub handler: Handler,
}

/// A running subscription.
pub(crate) struct Running {
    pub key: SubscriptionKey,
    consumer: Consumer,
}

impl Running {
    pub fn stats(&self) -> ConsumerStats {
        self.consumer.stats()
    }

    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), Error> {
        self.consumer.wait_for_connections(1, timeout).await
    }

    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        let report = self.consumer.drain(timeout).await;
        tracing::info!(operation = %self.key.operation(), requeued = report.requeued, "subscription drained");
        report
    }
}

/// Checks what NSQ would reject, before connecting.
pub(crate) fn validate(key: &SubscriptionKey, options: &SubscribeOptions) -> Result<(), String> {
    use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
    if !is_valid_topic_name(&key.topic) {
        return Err(format!("invalid topic name {:?}", key.topic));
    }
    if !is_valid_channel_name(&key.channel) {
        return Err(format!("invalid channel name {:?}", key.channel));
    }
    if let Some(topic) = &options.dead_letter {
        if !is_valid_topic_name(topic) {
            return Err(format!("invalid dead-letter topic name {topic:?}"));
        }
    }
    if options.concurrency == 0 || options.max_in_flight == 0 {
        return Err(format!(
            "{}: concurrency and max_in_flight must be at least 1",
            key.operation()
        ));
    }
    Ok(())
}

/// Starts consuming `spec` from the nsqd in `nodes` (directly) and the lookupds of
/// `lookupd` (discovery). `dead_letters` publishes to dead-letter topics.
pub(crate) async fn start(
    spec: Spec,
    client: &Config,
    nodes: &Nodes,
    lookupd: &[String],
    app: Option<AppInfo>,
    dead_letters: Option<Producer>,
) -> Result<Running, Error> {
    let mut config = client.clone();
    config.max_in_flight = spec.options.max_in_flight;
    // Attempts are counted here, so the last failure can be dead-lettered with its reason.
    config.max_attempts = 0;
    config.auto_touch = spec.options.auto_touch;
    let adapter = Arc::new(Adapter {
        key: spec.key.clone(),
        options: spec.options.clone(),
        handler: spec.handler,
        app,
        dead_letters,
    });
    let mut builder = Consumer::builder(spec.key.topic.clone(), spec.key.channel.clone())
        .config(config)
        .concurrency(spec.options.concurrency)
        .handler(move |message: Message| {
            let adapter = adapter.clone();
            async move { adapter.handle(message).await }
        });
    // With lookupd, nsqd are discovered (and rediscovered); without it, connect directly.
    if lookupd.is_empty() {
        builder = builder.nsqd_addresses(nodes.tcp.iter().cloned());
    } else {
        builder = builder.lookupd_addresses(lookupd.iter().cloned());
    }
    let consumer = builder.start().await?;
    Ok(Running {
        key: spec.key,
        consumer,
    })
}

struct Adapter {
    key: SubscriptionKey,
    options: SubscribeOptions,
    handler: Handler,
    app: Option<AppInfo>,
    dead_letters: Option<Producer>,
}

impl Adapter {
    async fn handle(&self, message: Message) -> Result<(), HandlerError> {
        let attempts = message.attempts();
        let outcome = if !self.options.may_retry(attempts.saturating_sub(1)) {
            // Redelivered past the limit without a failure of ours (nsqd timed it out).
            Err(format!("exceeded max_attempts {}", self.options.max_attempts).into())
        } else {
            match FrameworkMessage::from_wire(message.body().clone()) {
                Ok(decoded) => self.call(decoded, &message).await,
                Err(err) => Err(Box::new(framework::broker::Permanent::new(err)) as BoxError),
            }
        };
        let Err(err) = outcome else {
            return Ok(());
        };
        if is_permanent(err.as_ref()) || !self.options.may_retry(attempts) {
            return self.give_up(&message, attempts, &err).await;
        }
        let delay = self.options.backoff.delay(attempts);
        tracing::debug!(operation = %self.key.operation(), attempts, ?delay, %err, "handler failed; requeueing");
        Err(HandlerError::from_boxed(err).requeue_after(delay))
    }

    /// Runs the handler; the NSQ [`Message`] rides in the delivery's extensions (e.g. to
    /// `touch` it from a long handler).
    async fn call(&self, message: FrameworkMessage, nsq: &Message) -> Result<(), BoxError> {
        let mut delivery = Delivery::new(
            Kind::NSQ,
            self.key.topic.clone(),
            self.key.channel.clone(),
            message,
            nsq.attempts(),
        );
        delivery.context = delivery.context.clone().with_app(self.app.clone());
        delivery.extensions.insert(nsq.clone());
        let context = delivery.context.clone();
        let call = tower::ServiceExt::oneshot(self.handler.clone(), delivery);
        match AssertUnwindSafe(context.scope(call)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => Err("handler panicked".into()),
        }
    }

    /// After the last attempt: to the dead-letter topic (the message is finished only once
    /// that publish succeeded), or dropped with a log line.
    async fn give_up(
        &self,
        message: &Message,
        attempts: u16,
        err: &BoxError,
    ) -> Result<(), HandlerError> {
        let operation = self.key.operation();
        let Some(topic) = &self.options.dead_letter else {
            tracing::warn!(%operation, attempts, %err, id = %message.id(), "giving up on message; no dead-letter topic, dropped");
            return Ok(());
        };
        let Some(producer) = &self.dead_letters else {
            tracing::error!(%operation, "dead-letter topic set but no producer; requeueing");
            return Err(HandlerError::msg("no dead-letter producer")
                .requeue_after(self.options.backoff.delay(attempts)));
        };
        let wire = message.body().clone();
        let mut dead = FrameworkMessage::from_wire(wire.clone())
            .unwrap_or_else(|_| FrameworkMessage::new(wire));
        let headers = &mut dead.headers;
        headers.insert(header::DEAD_LETTER_REASON, err.to_string());
        headers.insert(header::DEAD_LETTER_ATTEMPTS, attempts.to_string());
        headers.insert(header::ORIGINAL_TOPIC, self.key.topic.clone());
        headers.insert(header::ORIGINAL_CHANNEL, self.key.channel.clone());
        let bytes = match dead.to_wire() {
            Ok(bytes) => bytes,
            Err(encode_err) => {
                tracing::error!(%operation, %encode_err, "dead-letter message does not fit the envelope; dropped");
                return Ok(());
            }
        };
        match producer.publish(topic, bytes).await {
            Ok(()) => {
                tracing::warn!(%operation, attempts, %err, dead_letter = %topic, "giving up on message; dead-lettered");
                Ok(())
            }
            Err(publish_err) => {
                // Keep the message in NSQ rather than lose it.
                tracing::error!(%operation, %publish_err, dead_letter = %topic, "dead-letter publish failed; requeueing");
                Err(HandlerError::from(publish_err)
                    .requeue_after(self.options.backoff.delay(attempts)))
            }
        }
    }
}
