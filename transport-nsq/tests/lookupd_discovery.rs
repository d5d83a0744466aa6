//! Discovery through a real (embedded) nsqlookupd: nsqd registered there are connected,
//! new ones are picked up by the next poll, lost ones are not reconnected directly.

mod common;

use std::time::Duration;

use common::fake::{register_with_lookupd, FakeNsqd};
use common::{
    acking_consumer, body_text, eventually, fast_config, forwarding_consumer, init_tracing,
    producer_for, recv_within, start_lookupd, start_registered_nsqd,
};
use transport_nsq::Consumer;

#[tokio::test]
async fn discovers_new_nsqd_and_drops_gone_ones() {
    init_tracing();
    let lookupd = start_lookupd().await;
    let mut a = FakeNsqd::start().await;
    let reg_a = register_with_lookupd(lookupd.tcp_addr(), a.port(), "t").await;

    let mut config = fast_config();
    config.max_in_flight = 10;
    let consumer = acking_consumer(
        Consumer::builder("t", "c")
            .config(config)
            .lookupd_address(lookupd.http_addr().to_string()),
    )
    .await;
    let mut conn_a = a.accept_subscribed().await;
    conn_a.expect_line("RDY 10").await;

    // A second nsqd appears in lookupd: the next poll connects to it and RDY is split.
    let mut b = FakeNsqd::start().await;
    let _reg_b = register_with_lookupd(lookupd.tcp_addr(), b.port(), "t").await;
    let mut conn_b = b.accept_subscribed().await;
    conn_a.expect_line("RDY 5").await;
    conn_b.expect_line("RDY 5").await;
    eventually(Duration::from_secs(5), || consumer.stats().connections == 2).await;

    // nsqd A goes away (connection closed, unregistered): it is not reconnected, and B
    // gets the whole max_in_flight.
    drop(reg_a);
    drop(conn_a);
    conn_b.expect_line("RDY 10").await;
    eventually(Duration::from_secs(5), || consumer.stats().connections == 1).await;
    assert!(a.try_accept(Duration::from_millis(500)).await.is_none());

    consumer.drain(Duration::from_millis(100)).await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn unreachable_lookupd_is_not_fatal() {
    init_tracing();
    let dead = common::dead_addr();
    let lookupd = start_lookupd().await;
    let mut a = FakeNsqd::start().await;
    let _reg = register_with_lookupd(lookupd.tcp_addr(), a.port(), "t").await;
    let consumer = acking_consumer(
        Consumer::builder("t", "c")
            .config(fast_config())
            .lookupd_addresses([dead, lookupd.http_addr().to_string()]),
    )
    .await;
    // The first poll fails on the dead lookupd and falls through to the live one.
    let mut conn = a.accept_subscribed().await;
    conn.expect("RDY").await;
    consumer.drain(Duration::from_millis(100)).await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn picks_up_a_new_real_nsqd_through_lookupd() {
    init_tracing();
    let lookupd = start_lookupd().await;
    let a = start_registered_nsqd(&lookupd).await;
    producer_for(&a).publish("lk", "from-a").await.unwrap();

    let mut config = fast_config();
    config.max_in_flight = 10;
    let builder = Consumer::builder("lk", "c")
        .config(config)
        .lookupd_address(lookupd.http_addr().to_string());
    let (consumer, mut rx) = forwarding_consumer(builder, body_text).await;
    // The message from the first nsqd.
    let first = recv_within(Duration::from_secs(20), &mut rx).await;
    assert_eq!(first, "from-a");

    // A second nsqd starts, registers the topic, and gets a message: the consumer finds
    // it on a later poll.
    let b = start_registered_nsqd(&lookupd).await;
    producer_for(&b).publish("lk", "from-b").await.unwrap();
    // The message from the new nsqd.
    let second = recv_within(Duration::from_secs(20), &mut rx).await;
    assert_eq!(second, "from-b");
    eventually(Duration::from_secs(10), || {
        consumer.stats().connections == 2
    })
    .await;

    consumer.drain(Duration::from_secs(1)).await;
    a.shutdown().await;
    b.shutdown().await;
    lookupd.shutdown().await;
}
