//! `#[subscriber]` and `#[derive(Event)]` end to end on the in-memory broker: the topic comes
//! from the event type, injected values come from the providers, a body that does not
//! decode is dead-lettered at once, and the function stays callable as `name::call`.

mod support;

use framework::broker::MemoryBroker;
use framework::provider::ProviderSet;
use framework::subscriber::{Inject, Subscriber};
use framework::{subscriber, Broker, BrokerExt, Context, Event, Message, PublishOptions};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use support::broker::{connected, publish, record, settle, subscribe};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(topic = "pings")]
struct Ping {
    n: u32,
}

#[derive(Default)]
struct Seen(Mutex<Vec<(u32, String)>>);

/// Records pings.
#[subscriber(
    channel = "recorder",
    max_attempts = 2,
    dead_letter = "pings.dlq",
    concurrency = 2
)]
async fn record_ping(ctx: Context, ping: Ping, seen: Inject<Seen>) -> Result<(), std::io::Error> {
    seen.0.lock().push((ping.n, ctx.operation().to_string()));
    Ok(())
}

#[subscriber(topic = "raw.bytes", channel = "c", codec = "raw")]
async fn raw_text(text: String, seen: Inject<Seen>) -> Result<(), std::io::Error> {
    seen.0.lock().push((0, text));
    Ok(())
}

async fn register(broker: &MemoryBroker, s: &dyn Subscriber, container: &framework::Container) {
    subscribe(
        broker,
        s.topic(),
        s.options(),
        s.handler(container).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn annotated_subscribers_run_on_a_broker() {
    let container = ProviderSet::new()
        .value(Seen::default())
        .build()
        .await
        .unwrap();
    let seen = container.get::<Seen>().unwrap();
    assert_eq!(record_ping.name(), "record_ping");
    assert_eq!(record_ping.topic(), "pings");
    let options = record_ping.options();
    assert_eq!(options.channel, "recorder");
    assert_eq!(options.max_attempts, 2);
    assert_eq!(options.concurrency, 2);
    assert_eq!(options.dead_letter.as_deref(), Some("pings.dlq"));

    let broker = connected().await;
    register(&broker, &record_ping, &container).await;
    register(&broker, &raw_text, &container).await;
    let dead = record(&broker, "pings.dlq", "inspect").await;

    broker.publish_event(&Ping { n: 7 }).await.unwrap();
    publish(&broker, "pings", Message::new("not json")).await;
    broker
        .publish(
            "raw.bytes",
            Message::new("plain text"),
            PublishOptions::default().raw(),
        )
        .await
        .unwrap();
    settle(&broker).await;

    let mut got = seen.0.lock().clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, "plain text".to_string()),
            (7, "pings/recorder".to_string())
        ]
    );
    let dead = dead.lock().clone();
    assert_eq!(
        dead.len(),
        1,
        "undecodable body dead-lettered without retries"
    );
    assert_eq!(dead[0].message.body, "not json");
    assert_eq!(
        dead[0].message.headers.get("x-dead-letter-attempts"),
        Some("1")
    );

    // The function itself is still there.
    record_ping::call(
        Context::new(framework::Kind::MEMORY, "direct", Default::default()),
        Ping { n: 1 },
        Inject::resolve(&container).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(seen.0.lock().len(), 3);
}

#[tokio::test]
async fn missing_injected_provider_is_an_error_naming_the_type() {
    let err = record_ping
        .handler(&framework::Container::empty())
        .unwrap_err();
    assert!(err.to_string().contains("Seen"), "{err}");
}
