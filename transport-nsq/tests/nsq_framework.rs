//! The framework on NSQ, against an embedded nsqd: annotated subscribers on `NsqServer`,
//! events published with `NsqBroker`, retries and dead-lettering, pre-created topology,
//! draining stop, and trace propagation through the envelope.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use framework::broker::{handler_fn, Backoff, Delivery};
use framework::subscriber::Inject;
use framework::{
    subscriber, AppInfo, Broker, BrokerExt, Context, Event, Message, PublishOptions,
    SubscribeOptions,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use transport_nsq::{NsqBroker, NsqConfig, NsqServer};

use common::{connected_broker, container_with, init_tracing, settle, start_nsqd, stop_all};
use framework::Server;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(topic = "order.created")]
struct OrderCreated {
    id: String,
    amount_cents: u64,
}

/// One delivery a subscriber saw: (channel, order id, operation, kind, attempts).
type Sighting = (String, String, String, String, u16);

/// What subscribers saw.
#[derive(Default)]
struct Seen(Mutex<Vec<Sighting>>);

impl Seen {
    fn ids(&self, channel: &str) -> Vec<String> {
        self.0
            .lock()
            .iter()
            .filter(|s| s.0 == channel)
            .map(|s| s.1.clone())
            .collect()
    }
}

#[subscriber(channel = "email", max_attempts = 3)]
async fn send_receipt(
    ctx: Context,
    order: OrderCreated,
    delivery: Delivery,
    seen: Inject<Seen>,
) -> Result<(), std::io::Error> {
    seen.0.lock().push((
        delivery.channel.clone(),
        order.id,
        ctx.operation().to_string(),
        ctx.kind().to_string(),
        delivery.attempts,
    ));
    Ok(())
}

#[subscriber(topic = "order.created", channel = "analytics", codec = "json")]
async fn count_order(order: OrderCreated, seen: Inject<Seen>) -> Result<(), std::io::Error> {
    seen.0.lock().push((
        "analytics".into(),
        order.id,
        String::new(),
        String::new(),
        0,
    ));
    Ok(())
}

/// Client options that keep tests fast.
fn fast(mut config: NsqConfig) -> NsqConfig {
    for (name, value) in [
        ("reconnect_min_delay", "20ms"),
        ("reconnect_max_delay", "200ms"),
        ("backoff_multiplier", "10ms"),
        ("max_backoff_duration", "100ms"),
        ("rdy_redistribute_interval", "50ms"),
        ("lookupd_poll_interval", "100ms"),
        ("heartbeat_interval", "1s"),
        ("read_timeout", "5s"),
        ("close_timeout", "2s"),
        ("publish_timeout", "5s"),
    ] {
        config = config.client_option(name, value);
    }
    config
}

fn config_for(nsqd: &broker::nsqd::Nsqd) -> NsqConfig {
    fast(NsqConfig::nsqd(
        nsqd.tcp_addr().to_string(),
        nsqd.http_addr().to_string(),
    ))
}

/// An embedded nsqd and fast framework options for it.
async fn nsqd_and_config() -> (broker::nsqd::Nsqd, NsqConfig) {
    init_tracing();
    let nsqd = start_nsqd().await;
    let config = config_for(&nsqd);
    (nsqd, config)
}

fn app() -> AppInfo {
    AppInfo::new("test-1", "nsq-framework-test", "0.0.0", Default::default())
}

async fn seen_container() -> (framework::Container, Arc<Seen>) {
    container_with(Seen::default()).await
}

/// A server running both annotated subscribers (`send_receipt`, `count_order`) from
/// `container`.
fn receipt_and_count_server(config: &NsqConfig, container: &framework::Container) -> NsqServer {
    NsqServer::new(config)
        .container(container)
        .subscribe(send_receipt)
        .subscribe(count_order)
}

fn order(i: usize) -> OrderCreated {
    OrderCreated {
        id: format!("o-{i}"),
        amount_cents: 100 + i as u64,
    }
}

#[tokio::test]
async fn annotated_subscribers_get_typed_events_on_each_channel_without_cross_talk() {
    let (nsqd, config) = nsqd_and_config().await;
    let (container, seen) = seen_container().await;
    let server = receipt_and_count_server(&config, &container);
    server.start(&app()).await.unwrap();
    assert!(server.is_healthy(), "{:?}", server.health());

    let broker = connected_broker(&config).await;
    for i in 0..5 {
        broker.publish_event(&order(i)).await.unwrap();
    }
    let expected: Vec<String> = (0..5).map(|i| format!("o-{i}")).collect();
    settle(WAIT, || {
        seen.ids("email").len() >= 5 && seen.ids("analytics").len() >= 5
    })
    .await;
    // Give a stray cross-channel delivery a moment to show up before asserting exact counts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut email = seen.ids("email");
    let mut analytics = seen.ids("analytics");
    email.sort();
    analytics.sort();
    assert_eq!(email, expected);
    assert_eq!(analytics, expected);
    let first = seen
        .0
        .lock()
        .iter()
        .find(|s| s.0 == "email")
        .cloned()
        .unwrap();
    assert_eq!(first.2, "order.created/email");
    assert_eq!(first.3, "nsq");
    assert_eq!(first.4, 1);

    stop_all(WAIT, &server, &broker, &nsqd).await;
}

#[tokio::test]
async fn messages_published_before_the_server_starts_reach_every_declared_channel() {
    let (nsqd, config) = nsqd_and_config().await;
    let broker = connected_broker(&config).await;
    // The topic exists (with the messages) before any channel or consumer does.
    for i in 0..3 {
        broker.publish_event(&order(i)).await.unwrap();
    }
    let (container, seen) = seen_container().await;
    let server = receipt_and_count_server(&config, &container);
    server.start(&app()).await.unwrap();
    settle(WAIT, || {
        seen.ids("email").len() >= 3 && seen.ids("analytics").len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen.ids("email").len(), 3);
    assert_eq!(seen.ids("analytics").len(), 3);

    // Once declared, channels keep messages published while the service is down.
    server.stop(Instant::now() + WAIT).await.unwrap();
    broker.publish_event(&order(9)).await.unwrap();
    let server = receipt_and_count_server(&config, &container);
    server.start(&app()).await.unwrap();
    settle(WAIT, || {
        seen.ids("email").contains(&"o-9".to_string())
            && seen.ids("analytics").contains(&"o-9".to_string())
    })
    .await;
    stop_all(WAIT, &server, &broker, &nsqd).await;
}

#[tokio::test]
async fn failing_handler_is_retried_then_dead_lettered_with_failure_headers() {
    let (nsqd, config) = nsqd_and_config().await;
    let attempts_seen = Arc::new(Mutex::new(Vec::new()));
    let dead = Arc::new(Mutex::new(Vec::<Message>::new()));

    let attempts = attempts_seen.clone();
    let failing = handler_fn(move |d: Delivery| {
        let attempts = attempts.clone();
        async move {
            attempts.lock().push(d.attempts);
            Err(format!("payment gateway down (attempt {})", d.attempts).into())
        }
    });
    let dead_sink = dead.clone();
    let dead_letters = handler_fn(move |d: Delivery| {
        let dead_sink = dead_sink.clone();
        async move {
            dead_sink.lock().push(d.message);
            Ok(())
        }
    });
    let server = NsqServer::new(&config)
        .handle(
            "payments",
            SubscribeOptions::new("charge")
                .max_attempts(3)
                .backoff(Backoff::Fixed(Duration::from_millis(20)))
                .dead_letter("payments.dlq"),
            failing,
        )
        .handle(
            "payments.dlq",
            SubscribeOptions::new("inspect"),
            dead_letters,
        );
    server.start(&app()).await.unwrap();

    let broker = connected_broker(&config).await;
    broker
        .publish(
            "payments",
            Message::new("charge o-1"),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    settle(WAIT, || !dead.lock().is_empty()).await;
    assert_eq!(*attempts_seen.lock(), vec![1, 2, 3]);
    let message = dead.lock()[0].clone();
    assert_eq!(message.body, "charge o-1");
    let headers = &message.headers;
    assert_eq!(
        headers.get("x-dead-letter-reason"),
        Some("payment gateway down (attempt 3)")
    );
    assert_eq!(headers.get("x-dead-letter-attempts"), Some("3"));
    assert_eq!(headers.get("x-original-topic"), Some("payments"));
    assert_eq!(headers.get("x-original-channel"), Some("charge"));
    // Finished after dead-lettering: no fourth attempt.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempts_seen.lock().len(), 3);

    stop_all(WAIT, &server, &broker, &nsqd).await;
}

#[tokio::test]
async fn stop_with_fifty_in_flight_messages_loses_none() {
    let (nsqd, config) = nsqd_and_config().await;
    let broker = connected_broker(&config).await;
    let all: BTreeSet<String> = (0..50).map(|i| format!("m-{i:02}")).collect();
    let bodies: Vec<Message> = all.iter().map(|id| Message::new(id.clone())).collect();
    broker
        .publish_batch("work", bodies, PublishOptions::default())
        .await
        .unwrap();

    // First run: even messages finish quickly, odd ones are still running at the stop
    // deadline, so the drain must put them back in nsqd.
    let started = Arc::new(Mutex::new(BTreeSet::new()));
    let finished = Arc::new(Mutex::new(BTreeSet::new()));
    let (s, f) = (started.clone(), finished.clone());
    let handler = handler_fn(move |d: Delivery| {
        let (started, finished) = (s.clone(), f.clone());
        async move {
            let id = String::from_utf8(d.message.body.to_vec())?;
            started.lock().insert(id.clone());
            let n: u32 = id[2..].parse()?;
            let pause = if n.is_multiple_of(2) { 10 } else { 60_000 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
            finished.lock().insert(id);
            Ok(())
        }
    });
    let options = SubscribeOptions::new("workers")
        .concurrency(50)
        .max_in_flight(50);
    let server = NsqServer::new(&config).handle("work", options.clone(), handler);
    server.start(&app()).await.unwrap();
    settle(WAIT, || {
        started.lock().len() == 50 && finished.lock().len() == 25
    })
    .await;
    server
        .stop(Instant::now() + Duration::from_millis(300))
        .await
        .unwrap();
    let first_run: BTreeSet<String> = finished.lock().clone();
    assert_eq!(first_run.len(), 25);

    // Second run: exactly the unfinished ones come back.
    let redelivered = Arc::new(Mutex::new(Vec::new()));
    let r = redelivered.clone();
    let handler = handler_fn(move |d: Delivery| {
        let r = r.clone();
        async move {
            r.lock().push(String::from_utf8(d.message.body.to_vec())?);
            Ok(())
        }
    });
    let server = NsqServer::new(&config).handle("work", options, handler);
    server.start(&app()).await.unwrap();
    settle(WAIT, || redelivered.lock().len() >= 25).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second_run: BTreeSet<String> = redelivered.lock().iter().cloned().collect();
    assert_eq!(redelivered.lock().len(), 25, "no duplicates");
    assert!(first_run.is_disjoint(&second_run));
    let union: BTreeSet<String> = first_run.union(&second_run).cloned().collect();
    assert_eq!(union, all);
    stop_all(WAIT, &server, &broker, &nsqd).await;
}

#[tokio::test]
async fn config_overrides_annotation_and_broker_publishes_delayed_and_raw() {
    let (nsqd, mut config) = nsqd_and_config().await;
    config.subscribers.insert(
        "send_receipt".into(),
        transport_nsq::SubscriberOverride {
            channel: Some("sms".into()),
            ..Default::default()
        },
    );
    let (container, seen) = seen_container().await;
    let server = NsqServer::new(&config)
        .container(&container)
        .subscribe(send_receipt);
    assert_eq!(
        server.subscriptions().unwrap()[0].operation(),
        "order.created/sms"
    );
    server.start(&app()).await.unwrap();
    let broker = connected_broker(&config).await;
    let delayed = Instant::now();
    broker
        .publish(
            OrderCreated::TOPIC,
            order(1).to_message().unwrap(),
            PublishOptions::default().delay(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    settle(WAIT, || !seen.ids("sms").is_empty()).await;
    assert!(
        delayed.elapsed() >= Duration::from_millis(250),
        "DPUB delay honoured"
    );
    assert_eq!(seen.0.lock()[0].2, "order.created/sms");

    // A missing provider is a start error naming the type.
    let err = NsqServer::new(&config)
        .subscribe(send_receipt)
        .start(&app())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Seen"), "{err}");

    stop_all(WAIT, &server, &broker, &nsqd).await;
}

#[tokio::test]
async fn publish_before_connect_is_an_error_and_timeouts_are_reported() {
    let config = fast(NsqConfig::nsqd("127.0.0.1:1", "127.0.0.1:1"));
    let broker = NsqBroker::new(config);
    let err = broker
        .publish("t", Message::new("x"), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, framework::BrokerError::NotConnected), "{err}");
    assert!(broker.connect().await.is_err(), "nothing listens on port 1");
}
