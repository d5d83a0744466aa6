//! A behaviour suite every [`Broker`] implementation should pass, shared so the NSQ broker
//! and the in-memory broker are held to the same contract. Each check uses fresh random
//! topic names, bounds every wait by `timeout`, and unsubscribes what it subscribed.
//!
//! ```
//! use framework::broker::{conformance, MemoryBroker};
//! use framework::Broker;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let broker = MemoryBroker::new();
//! broker.connect().await.unwrap();
//! conformance::run_all(&broker, Duration::from_secs(5)).await.unwrap();
//! # }
//! ```

use super::{
    handler_fn, header, Backoff, Broker, Delivery, Message, PublishOptions, SubscribeOptions,
};
use crate::BoxError;
use std::time::Duration;
use tokio::sync::mpsc;

/// A broken expectation, with what was expected and what happened.
#[derive(Debug, thiserror::Error)]
#[error("{check}: {problem}")]
pub struct ConformanceError {
    /// Which check.
    pub check: &'static str,
    /// What went wrong.
    pub problem: String,
}

fn fail(check: &'static str, problem: impl Into<String>) -> ConformanceError {
    ConformanceError {
        check,
        problem: problem.into(),
    }
}

fn unique(name: &str) -> String {
    format!("{name}.{:08x}", rand::random::<u32>())
}

type Received = mpsc::UnboundedReceiver<Delivery>;

fn forwarding(check: &'static str) -> (super::Handler, Received) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = handler_fn(move |delivery: Delivery| {
        let tx = tx.clone();
        async move {
            tx.send(delivery)
                .map_err(|_| -> BoxError { format!("{check}: receiver gone").into() })
        }
    });
    (handler, rx)
}

async fn next(
    check: &'static str,
    rx: &mut Received,
    timeout: Duration,
) -> Result<Delivery, ConformanceError> {
    match tokio::time::timeout(timeout, rx.recv()).await {
        Ok(Some(delivery)) => Ok(delivery),
        Ok(None) => Err(fail(check, "handler channel closed")),
        Err(_) => Err(fail(check, format!("no delivery within {timeout:?}"))),
    }
}

async fn nothing_more(
    check: &'static str,
    rx: &mut Received,
    quiet: Duration,
) -> Result<(), ConformanceError> {
    match tokio::time::timeout(quiet, rx.recv()).await {
        Ok(Some(extra)) => Err(fail(
            check,
            format!("unexpected delivery on {}/{}", extra.topic, extra.channel),
        )),
        _ => Ok(()),
    }
}

/// The broker calls of one check; a broker error fails the check.
struct Calls<'a> {
    check: &'static str,
    broker: &'a dyn Broker,
}

impl<'a> Calls<'a> {
    fn new(check: &'static str, broker: &'a dyn Broker) -> Self {
        Calls { check, broker }
    }

    fn error(&self, err: super::BrokerError) -> ConformanceError {
        fail(self.check, err.to_string())
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: super::Handler,
    ) -> Result<(), ConformanceError> {
        let subscribed = self.broker.subscribe(topic, options, handler).await;
        subscribed.map_err(|err| self.error(err))
    }

    /// Subscribes a [`forwarding`] handler; returns where its deliveries arrive.
    async fn forward(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Received, ConformanceError> {
        let (handler, rx) = forwarding(self.check);
        self.subscribe(topic, options, handler).await?;
        Ok(rx)
    }

    async fn publish(
        &self,
        topic: &str,
        message: Message,
        options: PublishOptions,
    ) -> Result<(), ConformanceError> {
        let published = self.broker.publish(topic, message, options).await;
        published.map_err(|err| self.error(err))
    }

    async fn unsubscribe(&self, topic: &str, channel: &str) -> Result<(), ConformanceError> {
        let unsubscribed = self.broker.unsubscribe(topic, channel).await;
        unsubscribed.map_err(|err| self.error(err))
    }
}

/// Runs every check.
pub async fn run_all(broker: &dyn Broker, timeout: Duration) -> Result<(), ConformanceError> {
    channels_each_get_every_message(broker, timeout).await?;
    headers_cross_the_broker(broker, timeout).await?;
    raw_publish_has_no_headers(broker, timeout).await?;
    failures_retry_then_dead_letter(broker, timeout).await?;
    Ok(())
}

/// Two channels of one topic each get every message; a channel of another topic gets none.
pub async fn channels_each_get_every_message(
    broker: &dyn Broker,
    timeout: Duration,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "channels each get every message";
    let calls = Calls::new(CHECK, broker);
    let (topic, other) = (unique("conformance.fanout"), unique("conformance.other"));
    let mut email_rx = calls
        .forward(&topic, SubscribeOptions::new("email"))
        .await?;
    let mut audit_rx = calls
        .forward(&topic, SubscribeOptions::new("audit"))
        .await?;
    let mut stray_rx = calls
        .forward(&other, SubscribeOptions::new("email"))
        .await?;
    let bodies = ["m1", "m2", "m3"];
    for body in bodies {
        calls
            .publish(&topic, Message::new(body), PublishOptions::default())
            .await?;
    }
    for (channel, rx) in [("email", &mut email_rx), ("audit", &mut audit_rx)] {
        let mut seen = Vec::new();
        for _ in bodies {
            let delivery = next(CHECK, rx, timeout).await?;
            if delivery.channel != channel || delivery.topic != topic {
                return Err(fail(
                    CHECK,
                    format!(
                        "{channel} got a delivery for {}/{}",
                        delivery.topic, delivery.channel
                    ),
                ));
            }
            seen.push(String::from_utf8_lossy(&delivery.message.body).into_owned());
        }
        seen.sort();
        if seen != bodies {
            return Err(fail(
                CHECK,
                format!("{channel} got {seen:?}, expected {bodies:?}"),
            ));
        }
    }
    nothing_more(CHECK, &mut stray_rx, Duration::from_millis(100)).await?;
    for (t, c) in [(&topic, "email"), (&topic, "audit"), (&other, "email")] {
        calls.unsubscribe(t, c).await?;
    }
    Ok(())
}

/// Headers set by the publisher (and a content type) arrive with the message, and the
/// context names the operation `topic/channel`.
pub async fn headers_cross_the_broker(
    broker: &dyn Broker,
    timeout: Duration,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "headers cross the broker";
    let calls = Calls::new(CHECK, broker);
    let topic = unique("conformance.headers");
    let mut rx = calls.forward(&topic, SubscribeOptions::new("c")).await?;
    let message = Message::json(&serde_json::json!({ "id": 7 }))
        .map_err(|e| fail(CHECK, e.to_string()))?
        .with_header("x-tenant", "acme");
    calls
        .publish(&topic, message, PublishOptions::default())
        .await?;
    let delivery = next(CHECK, &mut rx, timeout).await?;
    let headers = &delivery.message.headers;
    if headers.get("x-tenant") != Some("acme") {
        return Err(fail(CHECK, format!("x-tenant header lost: {headers:?}")));
    }
    if delivery.message.content_type() != Some("application/json") {
        return Err(fail(CHECK, format!("content-type lost: {headers:?}")));
    }
    if delivery.context.operation() != format!("{topic}/c") {
        return Err(fail(
            CHECK,
            format!("operation is {:?}", delivery.context.operation()),
        ));
    }
    calls.unsubscribe(&topic, "c").await?;
    Ok(())
}

/// A raw publish (no envelope) arrives as its bytes with no headers.
pub async fn raw_publish_has_no_headers(
    broker: &dyn Broker,
    timeout: Duration,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "raw publish has no headers";
    let calls = Calls::new(CHECK, broker);
    let topic = unique("conformance.raw");
    let mut rx = calls.forward(&topic, SubscribeOptions::new("c")).await?;
    calls
        .publish(
            &topic,
            Message::new("plain"),
            PublishOptions::default().raw(),
        )
        .await?;
    let delivery = next(CHECK, &mut rx, timeout).await?;
    if !delivery.message.headers.is_empty() || delivery.message.body != "plain" {
        return Err(fail(CHECK, format!("got {:?}", delivery.message)));
    }
    calls.unsubscribe(&topic, "c").await?;
    Ok(())
}

/// A handler that always fails runs `max_attempts` times, then the message reaches the
/// dead-letter topic with the failure headers.
pub async fn failures_retry_then_dead_letter(
    broker: &dyn Broker,
    timeout: Duration,
) -> Result<(), ConformanceError> {
    const CHECK: &str = "failures retry then dead-letter";
    let calls = Calls::new(CHECK, broker);
    let (topic, dead) = (unique("conformance.retry"), unique("conformance.dlq"));
    let (attempt_tx, mut attempts) = mpsc::unbounded_channel::<u16>();
    let failing = handler_fn(move |delivery: Delivery| {
        let attempt_tx = attempt_tx.clone();
        async move {
            let _ = attempt_tx.send(delivery.attempts);
            Err::<(), BoxError>("always fails".into())
        }
    });
    let options = SubscribeOptions::new("c")
        .max_attempts(3)
        .backoff(Backoff::Fixed(Duration::from_millis(10)))
        .dead_letter(dead.clone());
    let mut dead_rx = calls.forward(&dead, SubscribeOptions::new("ops")).await?;
    calls.subscribe(&topic, options, failing).await?;
    calls
        .publish(&topic, Message::new("doomed"), PublishOptions::default())
        .await?;
    let letter = next(CHECK, &mut dead_rx, timeout).await?;
    let mut seen = Vec::new();
    while let Ok(attempt) = attempts.try_recv() {
        seen.push(attempt);
    }
    if seen != [1, 2, 3] {
        return Err(fail(
            CHECK,
            format!("handler saw attempts {seen:?}, expected [1, 2, 3]"),
        ));
    }
    let headers = &letter.message.headers;
    let expected = [
        (header::DEAD_LETTER_REASON, "always fails".to_string()),
        (header::DEAD_LETTER_ATTEMPTS, "3".to_string()),
        (header::ORIGINAL_TOPIC, topic.clone()),
        (header::ORIGINAL_CHANNEL, "c".to_string()),
    ];
    for (key, value) in expected {
        if headers.get(key) != Some(value.as_str()) {
            return Err(fail(
                CHECK,
                format!(
                    "dead letter header {key} is {:?}, expected {value:?}",
                    headers.get(key)
                ),
            ));
        }
    }
    if letter.message.body != "doomed" {
        return Err(fail(CHECK, "dead letter body changed"));
    }
    calls.unsubscribe(&topic, "c").await?;
    calls.unsubscribe(&dead, "ops").await?;
    Ok(())
}
