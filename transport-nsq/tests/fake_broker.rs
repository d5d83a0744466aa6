//! Protocol-level client tests against a scripted fake nsqd: exact commands sent (RDY,
//! FIN, REQ, CLS, NOP), backoff visible in RDY, and bad input from the broker (garbage,
//! oversize frames, sockets closed mid-frame) leading to an error or a reconnect.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::fake::{id_text, identify_reply, line_text, message, FakeConn, FakeNsqd, WAIT};
use common::{eventually, fast_config, init_tracing, join_within, recv_within, spawn_publish};
use nsq_wire::command::{Body, Request};
use tokio::task::JoinHandle;
use transport_nsq::{Config, Consumer, Error, HandlerError, Message, Producer};

/// A consumer whose handler fails messages with the body `fail` and finishes the others.
async fn consumer_on(fake: &FakeNsqd, config: Config) -> Consumer {
    fake.consumer_builder(config)
        .handler(|m: Message| async move {
            if m.body().as_ref() == b"fail" {
                Err(HandlerError::msg("asked to fail"))
            } else {
                Ok(())
            }
        })
        .start()
        .await
        .unwrap()
}

/// A fake nsqd, a [`consumer_on`] it with `max_in_flight`, and its subscribed connection,
/// which has been sent `RDY max_in_flight`.
async fn subscribed(max_in_flight: usize) -> (FakeNsqd, Consumer, FakeConn) {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = max_in_flight;
    let consumer = consumer_on(&fake, config).await;
    let mut conn = fake.accept_subscribed().await;
    conn.expect_line(&format!("RDY {max_in_flight}")).await;
    (fake, consumer, conn)
}

#[tokio::test]
async fn heartbeat_is_answered_with_nop_and_rdy_is_the_share() {
    let (_fake, consumer, mut conn) = subscribed(7).await;
    conn.respond(b"_heartbeat_").await;
    let nop = conn.next().await.unwrap();
    assert_eq!(line_text(&nop), "NOP");
    assert_eq!(consumer.stats().connections, 1);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn backoff_is_visible_in_rdy_sent() {
    let (_fake, consumer, mut conn) = subscribed(4).await;

    // Failure: REQ with go-nsq's computed delay (90 s × attempts), then RDY 0.
    conn.send(message(1, 2, b"fail")).await;
    conn.expect_line(&format!("REQ {} 180000", id_text(1)))
        .await;
    conn.expect_line("RDY 0").await;
    // Backoff timer fires: one connection tests the waters with RDY 1.
    conn.expect_line("RDY 1").await;
    // Success: FIN, backoff level back to 0, full share again.
    conn.send(message(2, 1, b"ok")).await;
    conn.expect_line(&format!("FIN {}", id_text(2))).await;
    conn.expect_line("RDY 4").await;
    let stats = consumer.stats();
    assert_eq!((stats.messages_finished, stats.messages_requeued), (1, 1));
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn exhausted_message_goes_to_hook_and_is_finished() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_attempts = 3;
    let handled = Arc::new(AtomicUsize::new(0));
    let (hook_tx, mut hook_rx) = tokio::sync::mpsc::unbounded_channel();
    let h = handled.clone();
    let consumer = fake
        .consumer_builder(config)
        .handler(move |_m: Message| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(())
            }
        })
        .on_exhausted(move |m: Message| {
            let tx = hook_tx.clone();
            async move {
                let _ = tx.send((m.id().to_string(), m.attempts()));
            }
        })
        .start()
        .await
        .unwrap();
    let mut conn = fake.accept_subscribed().await;
    conn.expect("RDY").await;
    conn.send(message(9, 4, b"poison")).await;
    conn.expect_line(&format!("FIN {}", id_text(9))).await;
    let (id, attempts) = recv_within(WAIT, &mut hook_rx).await;
    assert_eq!((id.as_str(), attempts), (id_text(9).as_str(), 4));
    // attempts == max_attempts is still handled (strictly greater is exhausted).
    conn.send(message(10, 3, b"last try")).await;
    conn.expect("FIN").await;
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn non_fatal_fin_failed_keeps_the_connection() {
    let (_fake, consumer, mut conn) = subscribed(1).await;
    conn.send(message(1, 1, b"a")).await;
    conn.expect("FIN").await;
    conn.error(b"E_FIN_FAILED FIN 0000000000000001 failed ID not in flight")
        .await;
    conn.send(message(2, 1, b"b")).await;
    conn.expect_line(&format!("FIN {}", id_text(2))).await;
    assert_eq!(consumer.stats().connections, 1);
    consumer.drain(Duration::from_millis(100)).await;
}

/// Sends `bad` after the handshake and checks the consumer drops the connection and
/// reconnects, without calling the handler.
async fn consumer_survives(bad: Vec<u8>, mut config: Config) {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    config.max_in_flight = 1;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let consumer = fake
        .consumer_builder(config)
        .handler(move |_m: Message| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, HandlerError>(()) }
        })
        .start()
        .await
        .unwrap();
    let mut conn = fake.accept_subscribed().await;
    conn.expect("RDY").await;
    conn.send_raw(&bad).await;
    drop(conn);
    // Reconnected and subscribed again.
    let mut again = fake.accept_subscribed().await;
    again.expect_line("RDY 1").await;
    again.send(message(5, 1, b"fine")).await;
    again.expect("FIN").await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn garbage_frame_causes_reconnect() {
    // Negative size.
    consumer_survives(b"\xff\xff\xff\xffjunkjunk".to_vec(), fast_config()).await;
}

#[tokio::test]
async fn unknown_frame_type_causes_reconnect() {
    consumer_survives(
        b"\x00\x00\x00\x06\x00\x00\x00\x07hi".to_vec(),
        fast_config(),
    )
    .await;
}

#[tokio::test]
async fn oversize_frame_causes_reconnect() {
    let mut config = fast_config();
    config.max_msg_size = 64;
    let mut frame = vec![0, 0, 0x10, 0, 0, 0, 0, 2]; // size 1 MiB, type message
    frame.extend_from_slice(&[b'x'; 128]);
    consumer_survives(frame, config).await;
}

#[tokio::test]
async fn socket_closed_mid_message_causes_reconnect() {
    let mut bytes = Vec::new();
    let mut buf = bytes::BytesMut::new();
    message(1, 1, b"never delivered").encode(&mut buf);
    bytes.extend_from_slice(&buf[..20]);
    consumer_survives(bytes, fast_config()).await;
}

#[tokio::test]
async fn producer_matches_responses_in_order() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let producer = Producer::new([fake.addr.clone()], fast_config()).unwrap();
    let server = tokio::spawn(async move {
        let mut conn = fake.accept_identified().await;
        let mut failed_body = None;
        for i in 0..100 {
            let r = conn.expect("PUB").await;
            let Some(Body::Single(body)) = r.body else {
                panic!("PUB without body")
            };
            if i == 50 {
                failed_body = Some(body);
                conn.error(b"E_BAD_MESSAGE PUB message too big 9 > 8").await;
            } else {
                conn.ok().await;
            }
        }
        (failed_body.unwrap(), conn)
    });
    let publishes = (0..100).map(|i| {
        let p = producer.clone();
        async move { (i, p.publish("t", format!("m{i}")).await) }
    });
    let results = futures::future::join_all(publishes).await;
    let (failed_body, _conn) = server.await.unwrap();
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (i, err) = failed[0];
    assert_eq!(failed_body, Bytes::from(format!("m{i}")));
    match err {
        Err(Error::Broker { text, .. }) => assert!(text.starts_with("E_BAD_MESSAGE")),
        other => panic!("unexpected {other:?}"),
    }
}

/// Starts publishing `body` to `t` and accepts the new connection it opens, up to its PUB.
async fn publish_on_new_conn(
    fake: &mut FakeNsqd,
    producer: &Producer,
    body: &'static str,
) -> (JoinHandle<Result<(), Error>>, FakeConn, Request) {
    let publish = spawn_publish(producer, "t", body);
    let mut conn = fake.accept_identified().await;
    let pub_ = conn.expect("PUB").await;
    (publish, conn, pub_)
}

#[tokio::test]
async fn producer_errors_then_reconnects_after_garbage_and_mid_frame_close() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let producer = Producer::new([fake.addr.clone()], fast_config()).unwrap();

    // Garbage in reply to a PUB: that publish fails.
    let (first, mut conn, _) = publish_on_new_conn(&mut fake, &producer, "one").await;
    conn.send_raw(b"\x00\x00\x00\x09\x00\x00\x00\x09garbage")
        .await;
    let result = join_within(WAIT, first).await;
    assert!(
        matches!(result, Err(Error::ConnectionLost { .. })),
        "{result:?}"
    );

    // A socket closed in the middle of a frame: the next publish fails too.
    let (second, mut conn2, _) = publish_on_new_conn(&mut fake, &producer, "two").await;
    conn2.send_raw(b"\x00\x00\x00").await;
    drop(conn2);
    let result = join_within(WAIT, second).await;
    assert!(result.is_err(), "{result:?}");

    // And the producer reconnects for the one after.
    let (third, mut conn3, r) = publish_on_new_conn(&mut fake, &producer, "three").await;
    assert_eq!(line_text(&r), "PUB t");
    conn3.ok().await;
    join_within(WAIT, third).await.unwrap();
}

#[tokio::test]
async fn producer_fails_over_to_a_healthy_nsqd() {
    init_tracing();
    let dead = common::dead_addr();
    let mut fake = FakeNsqd::start().await;
    let producer = Producer::new([dead, fake.addr.clone()], fast_config()).unwrap();
    let server = tokio::spawn(async move {
        let mut conn = fake.accept_identified().await;
        for _ in 0..4 {
            conn.expect("PUB").await;
            conn.ok().await;
        }
        conn
    });
    for i in 0..4 {
        producer.publish("t", format!("m{i}")).await.unwrap();
    }
    join_within(WAIT, server).await;
}

#[tokio::test]
async fn drain_requeues_unanswered_then_sends_cls() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 2;
    let consumer = fake
        .consumer_builder(config)
        .concurrency(2)
        .handler(|m: Message| async move {
            if m.body().as_ref() == b"slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok::<_, HandlerError>(())
        })
        .start()
        .await
        .unwrap();
    let mut conn = fake.accept_subscribed().await;
    conn.expect_line("RDY 2").await;
    conn.send(message(1, 1, b"slow")).await;
    conn.send(message(2, 1, b"fast")).await;
    conn.expect("FIN").await;
    let drain = tokio::spawn(async move {
        let report = consumer.drain(Duration::from_millis(300)).await;
        (report, consumer)
    });
    conn.expect_line("RDY 0").await;
    conn.expect_line(&format!("REQ {} 0", id_text(1))).await;
    conn.expect_close().await;
    let (report, consumer) = join_within(WAIT, drain).await;
    assert_eq!(report.requeued, 1);
    eventually(WAIT, || consumer.stats().connections == 0).await;
}

#[tokio::test]
async fn sub_error_is_reported_and_retried() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let consumer = consumer_on(&fake, fast_config()).await;
    let mut conn = fake.accept_identified().await;
    conn.expect("SUB").await;
    conn.error(b"E_SUB_FAILED SUB failed exiting").await;
    drop(conn);
    let mut again = fake.accept_subscribed().await;
    again.expect("RDY").await;
    consumer
        .wait_for_connections(1, WAIT)
        .await
        .expect("subscribed after retry");
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn identify_fields_and_rdy_capped_at_max_rdy_count() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 100;
    config.client_id = "cid".into();
    config.hostname = "host.example".into();
    config.msg_timeout = Duration::from_secs(5);
    let consumer = consumer_on(&fake, config).await;
    let reply = identify_reply("max_rdy_count", "3");
    let (mut conn, identify) = fake.accept_subscribed_with(reply.as_bytes()).await;
    assert_eq!(identify["client_id"], "cid");
    assert_eq!(identify["hostname"], "host.example");
    assert_eq!(identify["msg_timeout"], 5000);
    assert_eq!(identify["heartbeat_interval"], 1000);
    assert!(identify["user_agent"]
        .as_str()
        .unwrap()
        .starts_with("transport-nsq/"));
    conn.expect_line("RDY 3").await;
    // A plain OK to IDENTIFY (pre-negotiation nsqd) is accepted too.
    consumer.drain(Duration::from_millis(100)).await;
    let consumer = consumer_on(&fake, fast_config()).await;
    let (mut old, _) = fake.accept_subscribed_with(b"OK").await;
    old.expect_line("RDY 1").await;
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn set_max_in_flight_zero_pauses_and_resumes() {
    let (_fake, consumer, mut conn) = subscribed(5).await;
    consumer.set_max_in_flight(0);
    conn.expect_line("RDY 0").await;
    consumer.set_max_in_flight(2);
    conn.expect_line("RDY 2").await;
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn auto_touch_while_handler_runs_and_manual_answers() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.auto_touch = true;
    config.max_in_flight = 2;
    let consumer = fake
        .consumer_builder(config)
        .concurrency(2)
        .handler(|m: Message| async move {
            match m.body().as_ref() {
                b"long" => tokio::time::sleep(Duration::from_millis(700)).await,
                _ => {
                    // Answer manually, later, from another task.
                    m.disable_auto_response();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        assert!(m.requeue_without_backoff(Some(Duration::from_secs(7))));
                        assert!(!m.finish(), "second answer is a no-op");
                    });
                }
            }
            Ok::<_, HandlerError>(())
        })
        .start()
        .await
        .unwrap();
    // msg_timeout 400 ms -> TOUCH every 200 ms.
    let reply = identify_reply("msg_timeout", "400");
    let (mut conn, _) = fake.accept_subscribed_with(reply.as_bytes()).await;
    conn.expect("RDY").await;
    conn.send(message(1, 1, b"long")).await;
    let mut touches = 0;
    loop {
        let r = conn.next().await.expect("connection open");
        match line_text(&r) {
            t if t == format!("TOUCH {}", id_text(1)) => touches += 1,
            t if t == format!("FIN {}", id_text(1)) => break,
            t if t == "NOP" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(touches >= 2, "{touches} TOUCH while a 700 ms handler ran");
    // Manual answer from another task; the second answer is a local no-op.
    conn.send(message(2, 1, b"manual")).await;
    conn.expect_line(&format!("REQ {} 7000", id_text(2))).await;
    let drain = tokio::spawn(async move { consumer.drain(Duration::from_millis(100)).await });
    conn.expect_line("RDY 0").await;
    conn.expect_close().await;
    assert_eq!(drain.await.unwrap().requeued, 0);
}

#[tokio::test]
async fn auth_is_sent_only_when_required() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.auth_secret = "s3cret".into();
    let producer = Producer::new([fake.addr.clone()], config).unwrap();
    let publish = spawn_publish(&producer, "t", "x");
    let mut conn = fake.accept().await;
    let reply = identify_reply("auth_required", "true");
    conn.handshake_with(reply.as_bytes()).await;
    let auth = conn.expect("AUTH").await;
    assert!(matches!(auth.body, Some(Body::Single(ref b)) if b.as_ref() == b"s3cret"));
    conn.respond(br#"{"identity":"me","identity_url":"","permission_count":1}"#)
        .await;
    conn.expect("PUB").await;
    conn.ok().await;
    join_within(WAIT, publish).await.unwrap();

    // No secret configured: the connection fails with "Auth Required", AUTH is never sent.
    let producer = Producer::new([fake.addr.clone()], fast_config()).unwrap();
    let publish = spawn_publish(&producer, "t", "x");
    let mut conn = fake.accept().await;
    conn.handshake_with(reply.as_bytes()).await;
    conn.expect_eof().await;
    match join_within(WAIT, publish).await {
        Err(Error::Auth { reason, .. }) => assert_eq!(reason, "Auth Required"),
        other => panic!("expected an auth error, got {other:?}"),
    }
}
