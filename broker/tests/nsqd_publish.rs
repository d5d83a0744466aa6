//! Conformance C: PUB, MPUB, DPUB and their errors.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use nsq_wire::command::Command;

#[tokio::test]
async fn pub_creates_topic() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send_raw(b"PUB t\n\x00\x00\x00\x05hello").await;
    c.expect_ok().await;
    let stats = nsqd.context().stats(&all_stats());
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].topic_name, "t");
    assert_eq!(stats[0].message_count, 1);
    assert_eq!(stats[0].message_bytes, 5);
    assert_eq!(stats[0].depth, 1);
    let producers = nsqd.context().producers();
    assert_eq!(producers.len(), 1);
    assert_eq!(producers[0].pub_counts[0].topic, "t");
}

#[tokio::test]
async fn pub_body_errors_are_fatal() {
    let nsqd = start_with(|o| o.max_msg_size = 100).await;
    let addr = nsqd.tcp_addr();
    let cases: &[(&[u8], &str)] = &[
        (
            b"PUB t\n\x00\x00\x00\x00",
            "E_BAD_MESSAGE PUB invalid message body size 0",
        ),
        (
            b"PUB t\n\xff\xff\xff\xff",
            "E_BAD_MESSAGE PUB invalid message body size -1",
        ),
        (
            b"PUB t\n\x00\x00\x00\x65",
            "E_BAD_MESSAGE PUB message too big 101 > 100",
        ),
        (
            b"PUB t\n\x7f\xff\xff\xff",
            "E_BAD_MESSAGE PUB message too big 2147483647 > 100",
        ),
        (b"PUB\n", "E_INVALID PUB insufficient number of parameters"),
        (
            b"PUB bad!name\n\x00\x00\x00\x01x",
            "E_BAD_TOPIC PUB topic name \"bad!name\" is not valid",
        ),
    ];
    expect_fatal_cases(addr, cases).await;
    // Truncated frames: the stream ends inside the size or the body.
    let truncated: &[(&[u8], &str)] = &[
        (
            b"PUB t\n\x00\x00",
            "E_BAD_MESSAGE PUB failed to read message body size",
        ),
        (
            b"PUB t\n\x00\x00\x00\x05hi",
            "E_BAD_MESSAGE PUB failed to read message body",
        ),
    ];
    expect_fatal_truncated_cases(addr, truncated).await;
    assert_nothing_published(&nsqd);
}

#[tokio::test]
async fn topic_name_limits() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.publish(&"a".repeat(64), "x").await;
    c.publish("x#ephemeral", "x").await;
    let long = "a".repeat(65);
    let expected = format!("E_BAD_TOPIC PUB topic name \"{long}\" is not valid");
    c.command_fatal(&pub_cmd(&long, b"x"), &expected).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let expected = "E_BAD_TOPIC PUB topic name \"#ephemeral\" is not valid";
    c.command_fatal(&pub_cmd("#ephemeral", b"x"), expected)
        .await;
}

#[tokio::test]
async fn mpub_delivers_every_message() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 10).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send_raw(b"MPUB t\n\x00\x00\x00\x0F\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x02bc")
        .await;
    c.expect_ok().await;
    assert_eq!(&consumer.next_message().await.body[..], b"a");
    assert_eq!(&consumer.next_message().await.body[..], b"bc");
}

#[tokio::test]
async fn mpub_errors() {
    let nsqd = start_with(|o| o.max_msg_size = 10).await;
    let addr = nsqd.tcp_addr();
    let cases: &[(&[u8], &str)] = &[
        (
            b"MPUB t\n\x00\x00\x00\x04\x00\x00\x00\x00",
            "E_BAD_BODY MPUB invalid message count 0",
        ),
        (
            b"MPUB bad!\n",
            "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"bad!\" is not valid",
        ),
        (
            b"MPUB\n",
            "E_INVALID MPUB insufficient number of parameters",
        ),
        (
            b"MPUB t\n\x00\x00\x00\x00",
            "E_BAD_BODY MPUB invalid body size 0",
        ),
        (
            b"MPUB t\n\x00\x60\x00\x01",
            "E_BAD_BODY MPUB body too big 6291457 > 5242880",
        ),
        (
            b"MPUB t\n\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x00",
            "E_BAD_MESSAGE MPUB invalid message(1) body size 0",
        ),
        (
            b"MPUB t\n\x00\x00\x00\x14\x00\x00\x00\x01\x00\x00\x00\x0b",
            "E_BAD_MESSAGE MPUB message too big 11 > 10",
        ),
        (
            b"MPUB t\n\x00\x00\x00\x0a\x00\x00\x00\x01\x00\x00\x00\x01ab",
            "E_BAD_BODY MPUB invalid body size 10",
        ),
    ];
    expect_fatal_cases(addr, cases).await;
    // Nothing of a rejected batch was published (the topic itself may exist).
    assert_nothing_published(&nsqd);
}

#[tokio::test]
async fn dpub_range_and_parse_errors() {
    let nsqd = start().await;
    let addr = nsqd.tcp_addr();
    let cases: &[(&[u8], &str)] = &[
        (
            b"DPUB t 3600001\n\x00\x00\x00\x01x",
            "E_INVALID DPUB timeout 3600001 out of range 0-3600000",
        ),
        (
            b"DPUB t -5\n\x00\x00\x00\x01x",
            "E_INVALID DPUB could not parse timeout -5",
        ),
        (
            b"DPUB t\n",
            "E_INVALID DPUB insufficient number of parameters",
        ),
        (
            b"DPUB b@d 5\n",
            "E_BAD_TOPIC DPUB topic name \"b@d\" is not valid",
        ),
        (
            b"DPUB t 5\n\x00\x00\x00\x00",
            "E_BAD_MESSAGE DPUB invalid message body size 0",
        ),
    ];
    expect_fatal_cases(addr, cases).await;
    let mut c = Client::connect(addr).await;
    c.send_raw(b"DPUB t 3600000\n\x00\x00\x00\x01x").await;
    c.expect_ok().await;
}

#[tokio::test]
async fn dpub_is_not_delivered_early() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let sent = tokio::time::Instant::now();
    c.send(&Command::Dpub {
        topic: "t".into(),
        defer_ms: 1000,
        body: Bytes::from_static(b"later"),
    })
    .await;
    c.expect_ok().await;
    let stats = nsqd.context().stats(&all_stats());
    assert_eq!(stats[0].channels[0].deferred_count, 1);
    assert_eq!(stats[0].channels[0].depth, 0);
    let msg = consumer.next_message().await;
    assert!(sent.elapsed() >= Duration::from_millis(1000));
    assert_eq!(&msg.body[..], b"later");
    assert_eq!(msg.attempts, 1);
}

#[tokio::test]
async fn consumer_connection_may_publish() {
    let nsqd = start().await;
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    c.publish("t", "self").await;
    assert_eq!(&c.next_message().await.body[..], b"self");
}

#[tokio::test]
async fn ephemeral_topic_overflow_is_dropped_but_acknowledged() {
    let nsqd = start_with(|o| o.mem_queue_size = 10).await;
    let _consumer = Client::consumer(nsqd.tcp_addr(), "e#ephemeral", "c#ephemeral", 0).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    for i in 0..20 {
        c.publish("e#ephemeral", &format!("m{i}")).await;
    }
    let stats = nsqd.context().stats(&all_stats());
    assert_eq!(stats[0].message_count, 20);
    assert_eq!(stats[0].channels[0].depth, 10);
}

#[tokio::test]
async fn durable_overflow_without_disk_keeps_every_message() {
    let nsqd = start_with(|o| o.mem_queue_size = 5).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    for i in 0..12 {
        c.publish("t", &format!("m{i}")).await;
    }
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 20).await;
    let mut bodies = Vec::new();
    for _ in 0..12 {
        bodies.push(consumer.next_message().await.body);
    }
    bodies.sort();
    let mut expected: Vec<Bytes> = (0..12).map(|i| Bytes::from(format!("m{i}"))).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}
