//! Discovery through a real (embedded) nsqlookupd: nsqd registered there are connected,
//! new ones are picked up by the next poll, lost ones are not reconnected directly.

mod common;

use std::time::Duration;

use broker::lookupd::{Lookupd, LookupdOptions};
use common::fake::{line_text, register_with_lookupd, FakeNsqd};
use common::{eventually, fast_config, init_tracing};
use transport_nsq::{Consumer, HandlerError, Message};

async fn start_lookupd() -> Lookupd {
    Lookupd::start(LookupdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..LookupdOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn discovers_new_nsqd_and_drops_gone_ones() {
    init_tracing();
    let lookupd = start_lookupd().await;
    let mut a = FakeNsqd::start().await;
    let reg_a = register_with_lookupd(lookupd.tcp_addr(), a.port(), "t").await;

    let mut config = fast_config();
    config.max_in_flight = 10;
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .lookupd_address(lookupd.http_addr().to_string())
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap();
    let mut conn_a = a.accept_subscribed().await;
    assert_eq!(line_text(&conn_a.expect("RDY").await), "RDY 10");

    // A second nsqd appears in lookupd: the next poll connects to it and RDY is split.
    let mut b = FakeNsqd::start().await;
    let _reg_b = register_with_lookupd(lookupd.tcp_addr(), b.port(), "t").await;
    let mut conn_b = b.accept_subscribed().await;
    assert_eq!(line_text(&conn_a.expect("RDY").await), "RDY 5");
    assert_eq!(line_text(&conn_b.expect("RDY").await), "RDY 5");
    eventually(Duration::from_secs(5), || consumer.stats().connections == 2).await;

    // nsqd A goes away (connection closed, unregistered): it is not reconnected, and B
    // gets the whole max_in_flight.
    drop(reg_a);
    drop(conn_a);
    assert_eq!(line_text(&conn_b.expect("RDY").await), "RDY 10");
    eventually(Duration::from_secs(5), || consumer.stats().connections == 1).await;
    assert!(a.try_accept(Duration::from_millis(500)).await.is_none());

    consumer.drain(Duration::from_millis(100)).await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn unreachable_lookupd_is_not_fatal() {
    init_tracing();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let lookupd = start_lookupd().await;
    let mut a = FakeNsqd::start().await;
    let _reg = register_with_lookupd(lookupd.tcp_addr(), a.port(), "t").await;
    let consumer = Consumer::builder("t", "c")
        .config(fast_config())
        .lookupd_addresses([dead, lookupd.http_addr().to_string()])
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap();
    // The first poll fails on the dead lookupd and falls through to the live one.
    let mut conn = a.accept_subscribed().await;
    conn.expect("RDY").await;
    consumer.drain(Duration::from_millis(100)).await;
    lookupd.shutdown().await;
}
