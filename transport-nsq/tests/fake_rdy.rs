//! RDY distribution over three (fake) nsqd with max_in_flight 1: the single RDY rotates so
//! every nsqd is polled, and the total never settles above 1.

mod common;

use std::time::Duration;

use common::fake::{line_text, FakeNsqd};
use common::{acking_consumer, fast_config, init_tracing};
use tokio::sync::mpsc;
use transport_nsq::Consumer;

#[tokio::test]
async fn single_rdy_rotates_over_three_nsqd() {
    init_tracing();
    let mut fakes = [
        FakeNsqd::start().await,
        FakeNsqd::start().await,
        FakeNsqd::start().await,
    ];
    let mut config = fast_config();
    config.max_in_flight = 1;
    config.low_rdy_idle_timeout = Duration::from_secs(1);
    config.low_rdy_timeout = Duration::from_secs(1);
    let consumer = acking_consumer(
        Consumer::builder("t", "c")
            .config(config)
            .nsqd_addresses(fakes.iter().map(|f| f.addr.clone())),
    )
    .await;
    // Every RDY any fake receives, tagged with the fake's index.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for (i, fake) in fakes.iter_mut().enumerate() {
        let mut conn = fake.accept_subscribed().await;
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            while let Some(r) = conn.next().await {
                let text = line_text(&r);
                if let Some(n) = text.strip_prefix("RDY ") {
                    let _ = tx.send((i, n.parse::<u64>().unwrap()));
                }
            }
        }));
    }
    let mut rdy = [0u64; 3];
    let mut polled = [false; 3];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while polled.iter().any(|p| !p) {
        let (i, n) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("not every nsqd got RDY 1: {polled:?}"))
            .unwrap();
        assert!(n <= 1, "RDY {n} above max_in_flight");
        rdy[i] = n;
        polled[i] |= n == 1;
    }
    // Let in-flight RDY commands settle, then the sum is at most max_in_flight.
    tokio::time::sleep(Duration::from_millis(20)).await;
    while let Ok((i, n)) = rx.try_recv() {
        rdy[i] = n;
    }
    assert!(rdy.iter().sum::<u64>() <= 1, "{rdy:?}");
    assert_eq!(consumer.stats().connections, 3);
    consumer.drain(Duration::from_millis(100)).await;
    for r in readers {
        r.abort();
    }
}
