//! The client against our embedded nsqd: publish/consume, MPUB, DPUB, requeue and attempts,
//! max_attempts, RDY redistribution over 3 nsqd, reconnect after restart, drain.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    assert_silent, body_text, eventually, fast_config, forwarding_consumer, init_tracing,
    recv_within, start_nsqd, start_nsqd_at, start_nsqd_with,
};
use tokio::sync::mpsc;
use transport_nsq::{Config, Consumer, Error, HandlerError, Message, Producer};

const WAIT: Duration = Duration::from_secs(20);

/// An embedded nsqd, its TCP address and a producer for it.
async fn nsqd_with_producer() -> (broker::nsqd::Nsqd, String, Producer) {
    init_tracing();
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let producer = Producer::new([addr.clone()], fast_config()).unwrap();
    (nsqd, addr, producer)
}

/// A consumer that forwards every message's body and attempts and finishes it.
async fn collecting_consumer(
    addrs: Vec<String>,
    topic: &str,
    channel: &str,
    config: Config,
) -> (Consumer, mpsc::UnboundedReceiver<(String, u16)>) {
    let builder = Consumer::builder(topic, channel)
        .config(config)
        .nsqd_addresses(addrs);
    forwarding_consumer(builder, |m| (body_text(m), m.attempts())).await
}

async fn recv_n(rx: &mut mpsc::UnboundedReceiver<(String, u16)>, n: usize) -> Vec<(String, u16)> {
    common::recv_n(WAIT, rx, n).await
}

#[tokio::test]
async fn publish_then_consume_exact_bodies() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    producer.ping().await.unwrap();
    let bodies: Vec<String> = (0..10).map(|i| format!("body-{i} ✓")).collect();
    for b in &bodies {
        producer.publish("pc", b.clone()).await.unwrap();
    }
    let (consumer, mut rx) = collecting_consumer(vec![addr], "pc", "ch", fast_config()).await;
    let got = recv_n(&mut rx, 10).await;
    let got_bodies: Vec<String> = got.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(got_bodies, bodies, "single nsqd, MIF 1: in order, exact");
    assert!(got.iter().all(|(_, attempts)| *attempts == 1));
    eventually(WAIT, || consumer.stats().messages_finished == 10).await;
    let stats = consumer.stats();
    assert_eq!((stats.messages_received, stats.connections), (10, 1));
    consumer.drain(Duration::from_secs(1)).await;
    producer.stop().await;
    assert!(matches!(
        producer.publish("pc", "late").await,
        Err(Error::Stopped)
    ));
    nsqd.shutdown().await;
}

#[tokio::test]
async fn mpub_thousand_messages_received_exactly_once() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    for batch in 0..10 {
        let bodies: Vec<String> = (0..100).map(|i| format!("m{}", batch * 100 + i)).collect();
        producer.multi_publish("mp", bodies).await.unwrap();
    }
    let mut config = fast_config();
    config.max_in_flight = 10;
    let (consumer, mut rx) = collecting_consumer(vec![addr], "mp", "ch", config).await;
    let got = recv_n(&mut rx, 1000).await;
    let distinct: BTreeSet<String> = got.into_iter().map(|(b, _)| b).collect();
    assert_eq!(distinct.len(), 1000);
    // Nothing more arrives (no duplicates once everything is finished).
    assert_silent(Duration::from_millis(300), &mut rx).await;
    consumer.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn deferred_publish_is_not_delivered_before_its_delay() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    // The channel must exist for the deferred message to be held in it.
    let (consumer, mut rx) = collecting_consumer(vec![addr], "dp", "ch", fast_config()).await;
    consumer.wait_for_connections(1, WAIT).await.unwrap();
    let delay = Duration::from_millis(400);
    let published = Instant::now();
    producer
        .deferred_publish("dp", delay, "later")
        .await
        .unwrap();
    let got = recv_n(&mut rx, 1).await;
    assert_eq!(got[0].0, "later");
    assert!(
        published.elapsed() >= delay,
        "delivered after {:?}",
        published.elapsed()
    );
    consumer.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn requeue_redelivers_with_incremented_attempts() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    producer.publish("rq", "again").await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = Consumer::builder("rq", "ch")
        .config(fast_config())
        .nsqd_address(addr)
        .handler(move |m: Message| {
            let _ = tx.send(m.attempts());
            let attempts = m.attempts();
            async move {
                if attempts < 3 {
                    Err(HandlerError::msg("not yet").requeue_after(Duration::from_millis(50)))
                } else {
                    Ok(())
                }
            }
        })
        .start()
        .await
        .unwrap();
    let seen = common::recv_n(WAIT, &mut rx, 3).await;
    assert_eq!(seen, [1, 2, 3]);
    eventually(WAIT, || consumer.stats().messages_finished == 1).await;
    assert_eq!(consumer.stats().messages_requeued, 2);
    consumer.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn max_attempts_then_exhausted_hook() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    producer.publish("ma", "poison").await.unwrap();
    let mut config = fast_config();
    config.max_attempts = 2;
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (hook_tx, mut hook_rx) = mpsc::unbounded_channel();
    let h = handled.clone();
    let consumer = Consumer::builder("ma", "ch")
        .config(config)
        .nsqd_address(addr)
        .handler(move |m: Message| {
            h.lock().unwrap().push(m.attempts());
            async { Err::<(), _>(HandlerError::msg("always fails").requeue_after(Duration::ZERO)) }
        })
        .on_exhausted(move |m: Message| {
            let tx = hook_tx.clone();
            async move {
                let _ = tx.send((body_text(&m), m.attempts()));
            }
        })
        .start()
        .await
        .unwrap();
    let (body, attempts) = recv_within(WAIT, &mut hook_rx).await;
    assert_eq!((body.as_str(), attempts), ("poison", 3));
    assert_eq!(*handled.lock().unwrap(), [1, 2]);
    eventually(WAIT, || consumer.stats().messages_finished == 1).await;
    // Finished: never delivered again.
    assert_silent(Duration::from_millis(300), &mut hook_rx).await;
    consumer.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn rdy_redistribution_polls_three_nsqd_with_max_in_flight_one() {
    init_tracing();
    let nodes = [start_nsqd().await, start_nsqd().await, start_nsqd().await];
    let addrs: Vec<String> = nodes.iter().map(|n| n.tcp_addr().to_string()).collect();
    for (i, addr) in addrs.iter().enumerate() {
        let producer = Producer::new([addr.clone()], fast_config()).unwrap();
        for j in 0..3 {
            producer.publish("rd", format!("n{i}-{j}")).await.unwrap();
        }
    }
    let mut config = fast_config();
    config.max_in_flight = 1;
    config.low_rdy_idle_timeout = Duration::from_secs(1);
    config.low_rdy_timeout = Duration::from_secs(1);
    let (consumer, mut rx) = collecting_consumer(addrs, "rd", "ch", config).await;
    let got = recv_n(&mut rx, 9).await;
    let mut per_node: BTreeMap<char, usize> = BTreeMap::new();
    for (body, _) in &got {
        *per_node.entry(body.chars().nth(1).unwrap()).or_default() += 1;
    }
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), [3, 3, 3]);
    assert_eq!(consumer.stats().connections, 3);
    consumer.drain(Duration::from_secs(1)).await;
    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn consumer_and_producer_reconnect_after_nsqd_restart() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    let (consumer, mut rx) =
        collecting_consumer(vec![addr.clone()], "rs", "ch", fast_config()).await;
    producer.publish("rs", "before").await.unwrap();
    assert_eq!(recv_n(&mut rx, 1).await[0].0, "before");

    nsqd.shutdown().await;
    eventually(WAIT, || consumer.stats().connections == 0).await;
    let restarted = start_nsqd_at(&addr).await;

    // The producer's old connection is dead: the publish reconnects (retrying once the
    // failed node's delay passes, within the publish deadline).
    let deadline = Instant::now() + WAIT;
    loop {
        match producer.publish("rs", "after").await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                tracing::info!(error = %e, "publish after restart failed, retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("publish never succeeded: {e}"),
        }
    }
    assert_eq!(recv_n(&mut rx, 1).await[0].0, "after");
    assert_eq!(consumer.stats().connections, 1);
    consumer.drain(Duration::from_secs(1)).await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn drain_with_in_flight_messages_loses_none() {
    let (nsqd, addr, producer) = nsqd_with_producer().await;
    let bodies: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
    producer.multi_publish("dr", bodies.clone()).await.unwrap();

    // First consumer: finishes even-numbered messages quickly, sits on odd ones.
    let finished = Arc::new(Mutex::new(BTreeSet::new()));
    let f = finished.clone();
    let mut config = fast_config();
    config.max_in_flight = 20;
    let first = Consumer::builder("dr", "ch")
        .config(config.clone())
        .nsqd_address(addr.clone())
        .concurrency(20)
        .handler(move |m: Message| {
            let f = f.clone();
            async move {
                let body = body_text(&m);
                let n: u32 = body[1..].parse().unwrap();
                if n % 2 == 1 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                f.lock().unwrap().insert(body);
                Ok::<_, HandlerError>(())
            }
        })
        .start()
        .await
        .unwrap();
    eventually(WAIT, || finished.lock().unwrap().len() == 10).await;
    let report = first.drain(Duration::from_millis(300)).await;
    assert_eq!(report.requeued, 10);
    drop(first);

    // Second consumer gets exactly the ones the first did not finish.
    let (second, mut rx) = collecting_consumer(vec![addr], "dr", "ch", config).await;
    let got = recv_n(&mut rx, 10).await;
    let mut all: BTreeSet<String> = finished.lock().unwrap().clone();
    for (body, _) in got {
        assert!(all.insert(body), "duplicate");
    }
    assert_eq!(all, bodies.into_iter().collect::<BTreeSet<_>>());
    second.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn broker_rejection_fails_one_publish_and_the_next_reconnects() {
    init_tracing();
    let nsqd = start_nsqd_with(|opts| opts.max_msg_size = 8).await;
    let producer = common::producer_for(&nsqd);
    match producer.publish("bx", "much too long").await {
        Err(Error::Broker { text, .. }) => {
            assert!(
                text.starts_with("E_BAD_MESSAGE PUB message too big"),
                "{text}"
            )
        }
        other => panic!("expected E_BAD_MESSAGE, got {other:?}"),
    }
    producer.publish("bx", "short").await.unwrap();
    assert!(matches!(
        producer.publish("bad topic", "x").await,
        Err(Error::InvalidTopic(_))
    ));
    nsqd.shutdown().await;
}
