//! The in-memory broker in tests: connect, record deliveries, wait until idle.

use framework::broker::{handler_fn, Delivery, MemoryBroker};
use framework::{Broker, Handler, Message, PublishOptions, SubscribeOptions};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// What a [`recorder`] handler has received.
pub type Seen = Arc<Mutex<Vec<Delivery>>>;

/// A handler that keeps every delivery in `seen`.
pub fn recorder(seen: &Seen) -> Handler {
    let seen = seen.clone();
    handler_fn(move |delivery: Delivery| {
        let seen = seen.clone();
        async move {
            seen.lock().push(delivery);
            Ok(())
        }
    })
}

/// A connected broker without middleware.
pub async fn connected() -> MemoryBroker {
    let broker = MemoryBroker::new();
    broker.connect().await.unwrap();
    broker
}

/// Waits (at most 5 s) until every published message has been handled.
pub async fn settle(broker: &MemoryBroker) {
    tokio::time::timeout(Duration::from_secs(5), broker.wait_idle())
        .await
        .unwrap();
}

/// Subscribes `handler` on `topic`; the subscription must succeed.
pub async fn subscribe(
    broker: &MemoryBroker,
    topic: &str,
    options: SubscribeOptions,
    handler: Handler,
) {
    broker.subscribe(topic, options, handler).await.unwrap();
}

/// Subscribes a [`recorder`] on `(topic, channel)` and returns what it will see.
pub async fn record(broker: &MemoryBroker, topic: &str, channel: &str) -> Seen {
    let seen = Seen::default();
    subscribe(
        broker,
        topic,
        SubscribeOptions::new(channel),
        recorder(&seen),
    )
    .await;
    seen
}

/// Publishes `message` to `topic` with default options; the publish must succeed.
pub async fn publish(broker: &MemoryBroker, topic: &str, message: Message) {
    broker
        .publish(topic, message, PublishOptions::default())
        .await
        .unwrap();
}

/// The bodies seen, in order of delivery.
pub fn bodies(seen: &Seen) -> Vec<bytes::Bytes> {
    seen.lock().iter().map(|d| d.message.body.clone()).collect()
}
