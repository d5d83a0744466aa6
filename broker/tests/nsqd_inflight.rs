//! Conformance E/F: FIN/REQ/TOUCH, in-flight timeouts, CLS, NOP.

mod common;

use std::time::Duration;

use common::*;
use nsq_wire::command::Command;
use nsq_wire::identify::IdentifyRequest;
use nsq_wire::message::MessageId;
use tokio::time::Instant;

async fn consumer_with_timeout(addr: std::net::SocketAddr, msg_timeout: i64, rdy: u64) -> Client {
    let mut c = Client::connect(addr).await;
    c.send(&Command::Identify(IdentifyRequest {
        msg_timeout: Some(msg_timeout),
        ..Default::default()
    }))
    .await;
    c.expect_ok().await;
    c.sub("t", "c").await;
    if rdy > 0 {
        c.send(&Command::Rdy(rdy)).await;
    }
    c
}

#[tokio::test]
async fn fin_of_unknown_id_is_not_fatal() {
    let nsqd = start().await;
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    let zero = MessageId(*b"0000000000000000");
    c.send(&Command::Fin(zero)).await;
    c.expect_error("E_FIN_FAILED FIN 0000000000000000 failed ID not in flight")
        .await;
    c.nop_then_silence(100).await;
    publish(nsqd.tcp_addr(), "t", &["still flowing"]).await;
    assert_eq!(&c.next_message().await.body[..], b"still flowing");

    c.send(&Command::Touch(zero)).await;
    c.expect_error("E_TOUCH_FAILED TOUCH 0000000000000000 failed ID not in flight")
        .await;
    c.req(zero, 0).await;
    c.expect_error("E_REQ_FAILED REQ 0000000000000000 failed ID not in flight")
        .await;
    c.nop_then_silence(100).await;
}

#[tokio::test]
async fn fin_req_touch_fatal_errors() {
    let nsqd = start().await;
    let addr = nsqd.tcp_addr();
    let cases: &[(&[u8], &str)] = &[
        (b"FIN abc\n", "E_INVALID invalid message ID"),
        (b"FIN\n", "E_INVALID FIN insufficient number of params"),
        (
            b"REQ 0000000000000000\n",
            "E_INVALID REQ insufficient number of params",
        ),
        (
            b"REQ 0000000000000000 -1\n",
            "E_INVALID REQ could not parse timeout -1",
        ),
        (b"REQ abc 1\n", "E_INVALID invalid message ID"),
        (b"TOUCH\n", "E_INVALID TOUCH insufficient number of params"),
        (b"TOUCH 123\n", "E_INVALID invalid message ID"),
        (b"CLS\nCLS\n", "E_INVALID cannot CLS in current state"),
    ];
    for (bytes, expected) in cases {
        let mut c = Client::consumer(addr, "t", "c", 0).await;
        c.send_raw(bytes).await;
        if bytes.starts_with(b"CLS") {
            assert_eq!(&c.expect_response_data().await[..], b"CLOSE_WAIT");
        }
        c.expect_fatal(expected).await;
    }
    for (bytes, expected) in [
        (
            &b"FIN 0000000000000000\n"[..],
            "E_INVALID cannot FIN in current state",
        ),
        (
            b"REQ 0000000000000000 0\n",
            "E_INVALID cannot REQ in current state",
        ),
        (
            b"TOUCH 0000000000000000\n",
            "E_INVALID cannot TOUCH in current state",
        ),
        (b"CLS\n", "E_INVALID cannot CLS in current state"),
    ] {
        let mut c = Client::connect(addr).await;
        c.send_raw(bytes).await;
        c.expect_fatal(expected).await;
    }
}

#[tokio::test]
async fn req_above_max_is_clamped_and_deferred() {
    let nsqd = start().await;
    let (mut c, m) = Client::with_one_message(nsqd.tcp_addr(), "x").await;
    c.req(m.id, 99_999_999).await;
    c.nop_then_silence(200).await;
    let channel = first_channel(&nsqd);
    assert_eq!(channel.deferred_count, 1);
    assert_eq!(channel.requeue_count, 1);
}

#[tokio::test]
async fn req_with_delay_redelivers_after_delay() {
    let nsqd = start().await;
    let (mut c, m) = Client::with_one_message(nsqd.tcp_addr(), "x").await;
    let sent = Instant::now();
    c.req(m.id, 500).await;
    let again = c.next_message().await;
    assert!(sent.elapsed() >= Duration::from_millis(500));
    assert_eq!(again.id, m.id);
    assert_eq!(again.attempts, 2);
}

#[tokio::test]
async fn in_flight_timeout_redelivers_to_another_consumer() {
    let nsqd = start().await;
    let mut a = consumer_with_timeout(nsqd.tcp_addr(), 1000, 1).await;
    let mut b = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    publish(nsqd.tcp_addr(), "t", &["slow"]).await;
    let m = a.next_message().await;
    let delivered = Instant::now();
    // A's slot frees up when the message times out; drop RDY so it goes to B.
    a.send(&Command::Rdy(0)).await;
    b.send(&Command::Rdy(1)).await;
    let again = b.next_message().await;
    assert!(delivered.elapsed() >= Duration::from_millis(1000));
    assert_eq!(again.id, m.id);
    assert_eq!(again.attempts, 2);
    a.send(&Command::Fin(m.id)).await;
    a.expect_error(&format!(
        "E_FIN_FAILED FIN {} failed client does not own message",
        m.id
    ))
    .await;
    a.nop_then_silence(100).await;
    let channel = first_channel(&nsqd);
    assert_eq!(channel.timeout_count, 1);
}

#[tokio::test]
async fn touch_extends_the_deadline() {
    let nsqd = start().await;
    let mut c = consumer_with_timeout(nsqd.tcp_addr(), 1000, 1).await;
    publish(nsqd.tcp_addr(), "t", &["long job"]).await;
    let m = c.next_message().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.send(&Command::Touch(m.id)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.send(&Command::Fin(m.id)).await;
    c.nop_then_silence(300).await;
    let channel = first_channel(&nsqd);
    assert_eq!(channel.timeout_count, 0);
    assert_eq!(channel.in_flight_count, 0);
}

#[tokio::test]
async fn touch_cannot_extend_past_max_msg_timeout() {
    let nsqd = start_with(|o| o.max_msg_timeout = Duration::from_millis(1500)).await;
    let mut c = consumer_with_timeout(nsqd.tcp_addr(), 1000, 1).await;
    publish(nsqd.tcp_addr(), "t", &["x"]).await;
    let m = c.next_message().await;
    let delivered = Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    c.send(&Command::Touch(m.id)).await;
    let again = c.next_message().await;
    let waited = delivered.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert_eq!(again.attempts, 2);
}

#[tokio::test]
async fn disconnect_leaves_message_in_flight_until_timeout() {
    let nsqd = start().await;
    let mut a = consumer_with_timeout(nsqd.tcp_addr(), 1000, 1).await;
    publish(nsqd.tcp_addr(), "t", &["orphan"]).await;
    let m = a.next_message().await;
    let delivered = Instant::now();
    drop(a);
    let mut b = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    let again = b.next_message().await;
    assert!(delivered.elapsed() >= Duration::from_millis(1000));
    assert_eq!(again.id, m.id);
    assert_eq!(again.attempts, 2);
}

#[tokio::test]
async fn cls_stops_delivery_but_allows_fin() {
    let nsqd = start().await;
    let (mut c, m) = Client::with_one_message(nsqd.tcp_addr(), "one").await;
    c.send(&Command::Cls).await;
    assert_eq!(&c.expect_response_data().await[..], b"CLOSE_WAIT");
    publish(nsqd.tcp_addr(), "t", &["two"]).await;
    c.send(&Command::Rdy(5)).await;
    c.send(&Command::Fin(m.id)).await;
    c.nop_then_silence(300).await;
    let channel = first_channel(&nsqd);
    let client = &channel.clients.as_ref().unwrap()[0];
    assert_eq!(client.state, 4);
    assert_eq!(client.finish_count, 1);
    assert_eq!(channel.depth, 1);
}

#[tokio::test]
async fn nop_never_replies() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.nop_then_silence(100).await;
    c.sub("t", "c").await;
    c.nop_then_silence(100).await;
    c.send(&Command::Cls).await;
    c.expect_response_data().await;
    c.nop_then_silence(100).await;
}
