//! The in-memory broker: channels, backlog, retries, dead letters, concurrency, drain.

mod support;

use framework::broker::{
    handler_fn, header, typed_handler, Backoff, Delivery, HandlerStack, MemoryBroker, Permanent,
};
use framework::middleware::RecoveryLayer;
use framework::{
    BoxError, Broker, BrokerError, BrokerExt, Context, Json, Message, PublishOptions,
    SubscribeOptions,
};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::broker::{bodies, connected, publish, record, recorder, settle, subscribe, Seen};
use tokio::time::timeout;

fn fast_retries(channel: &str) -> SubscribeOptions {
    SubscribeOptions::new(channel).backoff(Backoff::Fixed(Duration::from_millis(5)))
}

#[tokio::test]
async fn every_channel_of_a_topic_gets_every_message_without_cross_talk() {
    let broker = connected().await;
    let email = record(&broker, "orders", "email").await;
    let audit = record(&broker, "orders", "audit").await;
    let other_topic = record(&broker, "refunds", "email").await;
    for i in 0..3 {
        broker
            .publish_json("orders", &serde_json::json!({ "n": i }))
            .await
            .unwrap();
    }
    settle(&broker).await;
    for seen in [&email, &audit] {
        let seen = seen.lock();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|d| d.topic == "orders" && d.attempts == 1));
    }
    assert!(email
        .lock()
        .iter()
        .all(|d| d.channel == "email" && d.context.operation() == "orders/email"));
    assert!(audit.lock().iter().all(|d| d.channel == "audit"));
    assert!(other_topic.lock().is_empty());
}

#[tokio::test]
async fn headers_and_content_type_cross_the_envelope() {
    let broker = connected().await;
    let seen = record(&broker, "t", "c").await;
    let message = Message::json(&serde_json::json!({"id": 7}))
        .unwrap()
        .with_header("X-Tenant", "acme");
    publish(&broker, "t", message).await;
    settle(&broker).await;
    let delivery = seen.lock().pop().unwrap();
    assert_eq!(delivery.message.headers.get("x-tenant"), Some("acme"));
    assert_eq!(delivery.message.content_type(), Some("application/json"));
    assert_eq!(delivery.message.id().map(str::len), Some(32));
    assert_eq!(delivery.context.headers().get("x-tenant"), Some("acme"));
}

#[tokio::test]
async fn raw_publish_arrives_without_headers() {
    let broker = connected().await;
    let seen = record(&broker, "t", "c").await;
    let message = Message::new("plain bytes").with_header("dropped", "yes");
    broker
        .publish("t", message, PublishOptions::default().raw())
        .await
        .unwrap();
    settle(&broker).await;
    let delivery = seen.lock().pop().unwrap();
    assert!(delivery.message.headers.is_empty());
    assert_eq!(delivery.message.body, "plain bytes");
}

#[tokio::test]
async fn messages_published_before_the_first_channel_wait_in_the_topic() {
    let broker = connected().await;
    publish(&broker, "early", Message::new("1")).await;
    publish(&broker, "early", Message::new("2")).await;
    assert_eq!(broker.backlog("early"), 2);
    let seen = record(&broker, "early", "c").await;
    settle(&broker).await;
    assert_eq!(bodies(&seen), vec!["1", "2"]);
    assert_eq!(broker.backlog("early"), 0);
}

#[tokio::test]
async fn failures_are_retried_then_dead_lettered_with_headers() {
    let broker = connected().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let failing = handler_fn(move |_d: Delivery| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Err::<(), BoxError>("smtp down".into())
        }
    });
    let options = fast_retries("email")
        .max_attempts(3)
        .dead_letter("orders.dlq");
    subscribe(&broker, "orders", options, failing).await;
    let dead = record(&broker, "orders.dlq", "ops").await;
    let message = Message::new("order 1").with_header("x-tenant", "acme");
    publish(&broker, "orders", message).await;
    settle(&broker).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let dead = dead.lock();
    assert_eq!(dead.len(), 1);
    let headers = &dead[0].message.headers;
    assert_eq!(dead[0].message.body, "order 1");
    assert_eq!(headers.get(header::DEAD_LETTER_REASON), Some("smtp down"));
    assert_eq!(headers.get(header::DEAD_LETTER_ATTEMPTS), Some("3"));
    assert_eq!(headers.get(header::ORIGINAL_TOPIC), Some("orders"));
    assert_eq!(headers.get(header::ORIGINAL_CHANNEL), Some("email"));
    assert_eq!(headers.get("x-tenant"), Some("acme"));
}

#[tokio::test]
async fn a_retry_that_succeeds_is_not_dead_lettered() {
    let broker = connected().await;
    let attempts_seen: Arc<Mutex<Vec<u16>>> = Default::default();
    let log = attempts_seen.clone();
    let flaky = handler_fn(move |d: Delivery| {
        let log = log.clone();
        async move {
            log.lock().push(d.attempts);
            if d.attempts < 2 {
                return Err::<(), BoxError>("flaky".into());
            }
            Ok(())
        }
    });
    subscribe(&broker, "t", fast_retries("c").dead_letter("t.dlq"), flaky).await;
    publish(&broker, "t", Message::new("x")).await;
    settle(&broker).await;
    assert_eq!(*attempts_seen.lock(), vec![1, 2]);
    assert_eq!(broker.backlog("t.dlq"), 0);
}

#[tokio::test]
async fn permanent_errors_and_undecodable_bodies_skip_retries() {
    #[derive(serde::Deserialize)]
    struct Order {
        #[allow(dead_code)]
        id: u64,
    }
    let broker = connected().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let typed = typed_handler::<Json, Order, _, _>(move |_order: Order, _ctx: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let options = fast_retries("c").dead_letter("dlq");
    subscribe(&broker, "orders", options, typed).await;
    let permanent = handler_fn(|_d: Delivery| async {
        Err::<(), BoxError>(Box::new(Permanent::new("invalid order")))
    });
    let options = fast_retries("p").dead_letter("dlq");
    subscribe(&broker, "orders", options, permanent).await;
    publish(&broker, "orders", Message::new("not json")).await;
    settle(&broker).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // One dead letter per channel, each after a single attempt.
    assert_eq!(broker.backlog("dlq"), 2);
}

#[tokio::test]
async fn concurrency_bounds_parallel_handlers() {
    let broker = connected().await;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let slow = handler_fn(move |_d: Delivery| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let options = SubscribeOptions::new("c").concurrency(3);
    subscribe(&broker, "t", options, slow).await;
    for _ in 0..12 {
        publish(&broker, "t", Message::new("x")).await;
    }
    settle(&broker).await;
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn batch_publish_delivers_in_order() {
    let broker = connected().await;
    let seen = record(&broker, "t", "c").await;
    let batch = ["1", "2", "3"].map(Message::new).to_vec();
    broker
        .publish_batch("t", batch, PublishOptions::default())
        .await
        .unwrap();
    settle(&broker).await;
    assert_eq!(bodies(&seen), vec!["1", "2", "3"]);
}

#[tokio::test]
async fn delayed_publish_is_delivered_later() {
    let broker = connected().await;
    let seen = record(&broker, "t", "c").await;
    let options = PublishOptions::default().delay(Duration::from_millis(50));
    broker
        .publish("t", Message::new("later"), options)
        .await
        .unwrap();
    assert!(seen.lock().is_empty());
    settle(&broker).await;
    assert_eq!(seen.lock().len(), 1);
}

#[tokio::test]
async fn subscription_rules_are_enforced() {
    let broker = MemoryBroker::new();
    let seen: Seen = Default::default();
    let err = broker
        .publish("t", Message::new("x"), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotConnected));
    broker.connect().await.unwrap();
    subscribe(&broker, "t", SubscribeOptions::new("c"), recorder(&seen)).await;
    let again = broker
        .subscribe("t", SubscribeOptions::new("c"), recorder(&seen))
        .await
        .unwrap_err();
    assert!(
        matches!(again, BrokerError::AlreadySubscribed { .. }),
        "{again}"
    );
    let bad = broker
        .publish("bad topic!", Message::new("x"), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(bad, BrokerError::InvalidName(_)));
    broker.unsubscribe("t", "c").await.unwrap();
    assert!(matches!(
        broker.unsubscribe("t", "c").await,
        Err(BrokerError::NotSubscribed { .. })
    ));
}

#[tokio::test]
async fn disconnect_drains_in_flight_handlers() {
    let broker = connected().await;
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let slow = handler_fn(move |_d: Delivery| {
        let counter = counter.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let options = SubscribeOptions::new("c").concurrency(4);
    subscribe(&broker, "t", options, slow).await;
    for _ in 0..4 {
        publish(&broker, "t", Message::new("x")).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    timeout(Duration::from_secs(5), broker.disconnect())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 4);
    settle(&broker).await;
}

#[tokio::test]
async fn middleware_stack_wraps_handlers_and_recovery_keeps_serving() {
    let broker = MemoryBroker::with_middleware(HandlerStack::new().layer(RecoveryLayer::new()));
    broker.connect().await.unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    let counter = ok.clone();
    let sometimes_panics = handler_fn(move |d: Delivery| {
        let counter = counter.clone();
        async move {
            if d.message.body == "boom" {
                panic!("bad input");
            }
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let options = fast_retries("c").max_attempts(1).dead_letter("dlq");
    subscribe(&broker, "t", options, sometimes_panics).await;
    let dead = record(&broker, "dlq", "c").await;
    for body in ["a", "boom", "b"] {
        publish(&broker, "t", Message::new(body)).await;
    }
    settle(&broker).await;
    assert_eq!(ok.load(Ordering::SeqCst), 2);
    let reason = dead.lock()[0]
        .message
        .headers
        .get(header::DEAD_LETTER_REASON)
        .map(str::to_string);
    assert_eq!(
        reason.as_deref(),
        Some("handler for t/c panicked: bad input")
    );
}

#[tokio::test]
async fn broker_server_subscribes_at_start_and_handlers_see_the_app() {
    use framework::broker::BrokerServer;
    use framework::App;
    let broker = MemoryBroker::new();
    let apps: Arc<Mutex<Vec<String>>> = Default::default();
    let sink = apps.clone();
    let handler = handler_fn(move |_d: Delivery| {
        let sink = sink.clone();
        async move {
            let ctx = Context::current().ok_or("no context")?;
            let app = ctx.app().ok_or("no app")?;
            sink.lock()
                .push(format!("{} {}", app.name(), ctx.operation()));
            Ok(())
        }
    });
    let server = BrokerServer::new(Arc::new(broker.clone())).subscribe(
        "orders",
        SubscribeOptions::new("email"),
        handler,
    );
    assert_eq!(server.subscriptions()[0].operation(), "orders/email");
    let publisher = broker.clone();
    let builder = App::builder();
    let stop = builder.stop_handle();
    let app = builder
        .name("notifier")
        .signals([])
        .server(server)
        .after_start(move |_| {
            let (publisher, stop) = (publisher.clone(), stop.clone());
            async move {
                publisher
                    .publish_json("orders", &serde_json::json!({"id": 1}))
                    .await?;
                publisher.wait_idle().await;
                stop.stop();
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    timeout(Duration::from_secs(5), app.run())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*apps.lock(), vec!["notifier orders/email"]);
    // Stopped: the broker is disconnected.
    let err = broker
        .publish("orders", Message::new("x"), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotConnected));
}

#[tokio::test]
async fn memory_broker_passes_the_broker_conformance_suite() {
    let broker = connected().await;
    framework::broker::conformance::run_all(&broker, Duration::from_secs(5))
        .await
        .unwrap();
}
