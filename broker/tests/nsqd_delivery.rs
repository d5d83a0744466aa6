//! Conformance D: SUB, RDY windows, fan-out, load balancing, backlog, attempts.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use nsq_wire::command::Command;
use nsq_wire::identify::IdentifyRequest;
use nsq_wire::message::MessageId;

#[tokio::test]
async fn nothing_is_delivered_before_rdy() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    publish(nsqd.tcp_addr(), "t", &["one"]).await;
    consumer.expect_silence(500).await;
    consumer.send(&Command::Rdy(1)).await;
    let msg = consumer.next_message().await;
    assert_eq!(&msg.body[..], b"one");
    assert_eq!(msg.attempts, 1);
    assert!(msg.id.as_bytes().iter().all(|b| b.is_ascii_hexdigit()));
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!((now_ns - msg.timestamp).abs() < 5_000_000_000);
}

#[tokio::test]
async fn rdy_is_a_window_not_a_countdown() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    publish(nsqd.tcp_addr(), "t", &["a", "b", "c"]).await;
    let first = consumer.next_message().await;
    consumer.expect_silence(300).await;
    consumer.send(&Command::Fin(first.id)).await;
    let second = consumer.next_message().await;
    assert_ne!(first.id, second.id);
    consumer.send(&Command::Fin(second.id)).await;
    consumer.next_message().await;
}

#[tokio::test]
async fn rdy_without_count_means_one() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    consumer.send_raw(b"RDY\n").await;
    publish(nsqd.tcp_addr(), "t", &["a", "b"]).await;
    consumer.next_message().await;
    consumer.expect_silence(300).await;
}

#[tokio::test]
async fn rdy_errors() {
    let nsqd = start().await;
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    c.send(&Command::Rdy(2501)).await;
    c.expect_fatal("E_INVALID RDY count 2501 out of range 0-2500")
        .await;

    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    c.send_raw(b"RDY x1\n").await;
    c.expect_fatal("E_INVALID RDY could not parse count x1")
        .await;

    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send(&Command::Rdy(5)).await;
    c.expect_fatal("E_INVALID cannot RDY in current state")
        .await;
}

#[tokio::test]
async fn sub_errors() {
    let nsqd = start().await;
    let addr = nsqd.tcp_addr();
    let mut c = Client::connect(addr).await;
    c.sub("t", "c").await;
    c.send_raw(b"SUB t c\n").await;
    c.expect_fatal("E_INVALID cannot SUB in current state")
        .await;

    let mut c = Client::connect(addr).await;
    c.send(&Command::Identify(IdentifyRequest {
        heartbeat_interval: Some(-1),
        ..Default::default()
    }))
    .await;
    c.expect_ok().await;
    c.send_raw(b"SUB t c\n").await;
    c.expect_fatal("E_INVALID cannot SUB with heartbeats disabled")
        .await;

    let cases: &[(&[u8], &str)] = &[
        (
            b"SUB t\n",
            "E_INVALID SUB insufficient number of parameters",
        ),
        (
            b"SUB t! c\n",
            "E_BAD_TOPIC SUB topic name \"t!\" is not valid",
        ),
        (
            b"SUB t c:d\n",
            "E_BAD_CHANNEL SUB channel name \"c:d\" is not valid",
        ),
    ];
    for (bytes, expected) in cases {
        let mut c = Client::connect(addr).await;
        c.send_raw(bytes).await;
        c.expect_fatal(expected).await;
    }
}

#[tokio::test]
async fn channel_consumer_limit() {
    let nsqd = start_with(|o| o.max_channel_consumers = 1).await;
    let _first = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    let mut second = Client::connect(nsqd.tcp_addr()).await;
    second.send_raw(b"SUB t c\n").await;
    second
        .expect_fatal("E_SUB_FAILED SUB failed consumers for t:c exceeds limit of 1")
        .await;
}

#[tokio::test]
async fn fan_out_to_two_channels() {
    let nsqd = start().await;
    let mut c1 = Client::consumer(nsqd.tcp_addr(), "t", "c1", 100).await;
    let mut c2 = Client::consumer(nsqd.tcp_addr(), "t", "c2", 100).await;
    let bodies: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = bodies.iter().map(|s| s.as_str()).collect();
    publish(nsqd.tcp_addr(), "t", &refs).await;
    let mut ids1 = HashSet::new();
    let mut ids2 = HashSet::new();
    for _ in 0..100 {
        let m = c1.next_message().await;
        c1.send(&Command::Fin(m.id)).await;
        ids1.insert(m.id);
        let m = c2.next_message().await;
        c2.send(&Command::Fin(m.id)).await;
        ids2.insert(m.id);
    }
    assert_eq!(ids1.len(), 100);
    assert_eq!(ids1, ids2);
}

/// Reads `n` messages total across two consumers, FINing each; returns the ids per side.
async fn drain_two(
    a: &mut Client,
    b: &mut Client,
    total: usize,
) -> (Vec<MessageId>, Vec<MessageId>) {
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() + got_b.len() < total {
        tokio::select! {
            m = a.next_message() => { a.send(&Command::Fin(m.id)).await; got_a.push(m.id); }
            m = b.next_message() => { b.send(&Command::Fin(m.id)).await; got_b.push(m.id); }
        }
    }
    (got_a, got_b)
}

#[tokio::test]
async fn two_consumers_split_ten_thousand_messages_without_loss_or_duplicates() {
    let nsqd = start().await;
    let mut a = Client::consumer(nsqd.tcp_addr(), "t", "c", 50).await;
    let mut b = Client::consumer(nsqd.tcp_addr(), "t", "c", 50).await;
    let producer = tokio::spawn({
        let addr = nsqd.tcp_addr();
        async move {
            let mut p = Client::connect(addr).await;
            for batch in 0..100 {
                let bodies = (0..100)
                    .map(|i| Bytes::from(format!("{}", batch * 100 + i)))
                    .collect();
                p.send(&Command::Mpub {
                    topic: "t".into(),
                    bodies,
                })
                .await;
                p.expect_ok().await;
            }
        }
    });
    let (got_a, got_b) =
        tokio::time::timeout(Duration::from_secs(60), drain_two(&mut a, &mut b, 10_000))
            .await
            .expect("all messages delivered");
    producer.await.unwrap();
    let all: HashSet<MessageId> = got_a.iter().chain(got_b.iter()).copied().collect();
    assert_eq!(got_a.len() + got_b.len(), 10_000);
    assert_eq!(all.len(), 10_000, "no duplicates");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both consumers got work"
    );
    a.expect_silence(200).await;
    b.expect_silence(50).await;
    let channel = first_channel(&nsqd);
    assert_eq!(channel.in_flight_count, 0);
    assert_eq!(channel.depth, 0);
}

#[tokio::test]
async fn backlog_flows_to_first_channel() {
    let nsqd = start().await;
    publish(nsqd.tcp_addr(), "fresh", &["1", "2", "3", "4", "5"]).await;
    assert_eq!(first_topic(&nsqd).depth, 5);
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "fresh", "c", 10).await;
    let bodies = consumer.next_bodies(5).await;
    assert_eq!(
        bodies,
        ["1", "2", "3", "4", "5"].map(|s| Bytes::from_static(s.as_bytes()))
    );
    assert_eq!(first_topic(&nsqd).depth, 0);
}

#[tokio::test]
async fn requeue_twice_shows_attempts_three() {
    let nsqd = start().await;
    let (mut consumer, first) = Client::with_one_message(nsqd.tcp_addr(), "again").await;
    consumer.req(first.id, 0).await;
    let second = consumer.next_message().await;
    assert_eq!(second.attempts, 2);
    consumer.req(second.id, 0).await;
    let third = consumer.next_message().await;
    assert_eq!(third.attempts, 3);
    assert_eq!(third.id, first.id);
    assert_eq!(third.timestamp, first.timestamp);
    let channel = first_channel(&nsqd);
    assert_eq!(channel.requeue_count, 2);
}

#[tokio::test]
async fn sample_rate_drops_part_of_the_stream() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send(&Command::Identify(IdentifyRequest {
        sample_rate: Some(1),
        ..Default::default()
    }))
    .await;
    c.expect_ok().await;
    c.sub("t", "c").await;
    c.send(&Command::Rdy(2500)).await;
    let mut p = Client::connect(nsqd.tcp_addr()).await;
    let bodies: Vec<Bytes> = (0..1000).map(|i| Bytes::from(format!("{i}"))).collect();
    p.send(&Command::Mpub {
        topic: "t".into(),
        bodies,
    })
    .await;
    p.expect_ok().await;
    let mut received = 0;
    while let Ok(Some(frame)) = c.read_frame_within(Duration::from_millis(300)).await {
        if matches!(frame, nsq_wire::frame::Frame::Message(_)) {
            received += 1;
        }
    }
    // Each message is kept with probability 2/100; everything else is consumed.
    assert!(received < 200, "received {received}");
    let channel = first_channel(&nsqd);
    assert_eq!(channel.depth, 0);
    assert_eq!(channel.in_flight_count, received);
}

#[tokio::test]
async fn pipelined_sub_and_rdy() {
    let nsqd = start().await;
    publish(nsqd.tcp_addr(), "t", &["x"]).await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let mut buf = BytesMut::new();
    Command::Sub {
        topic: "t".into(),
        channel: "c".into(),
    }
    .encode(&mut buf);
    Command::Rdy(1).encode(&mut buf);
    c.send_raw(&buf).await;
    c.expect_ok().await;
    assert_eq!(&c.next_message().await.body[..], b"x");
}
