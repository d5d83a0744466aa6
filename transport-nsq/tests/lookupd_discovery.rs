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

async fn start_registered_nsqd(lookupd: &Lookupd) -> broker::nsqd::Nsqd {
    let opts = broker::nsqd::NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        lookupd_tcp_address: vec![lookupd.tcp_addr().to_string()],
        ..Default::default()
    };
    broker::nsqd::Nsqd::start(opts).await.unwrap()
}

#[tokio::test]
async fn picks_up_a_new_real_nsqd_through_lookupd() {
    init_tracing();
    let lookupd = start_lookupd().await;
    let a = start_registered_nsqd(&lookupd).await;
    let pa = transport_nsq::Producer::new([a.tcp_addr().to_string()], fast_config()).unwrap();
    pa.publish("lk", "from-a").await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut config = fast_config();
    config.max_in_flight = 10;
    let consumer = Consumer::builder("lk", "c")
        .config(config)
        .lookupd_address(lookupd.http_addr().to_string())
        .handler(move |m: Message| {
            let _ = tx.send(String::from_utf8_lossy(m.body()).into_owned());
            async { Ok::<_, HandlerError>(()) }
        })
        .start()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("message from the first nsqd")
        .unwrap();
    assert_eq!(first, "from-a");

    // A second nsqd starts, registers the topic, and gets a message: the consumer finds
    // it on a later poll.
    let b = start_registered_nsqd(&lookupd).await;
    let pb = transport_nsq::Producer::new([b.tcp_addr().to_string()], fast_config()).unwrap();
    pb.publish("lk", "from-b").await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("message from the new nsqd")
        .unwrap();
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
