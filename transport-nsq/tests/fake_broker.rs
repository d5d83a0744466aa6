//! Protocol-level client tests against a scripted fake nsqd: exact commands sent (RDY,
//! FIN, REQ, CLS, NOP), backoff visible in RDY, and bad input from the broker (garbage,
//! oversize frames, sockets closed mid-frame) leading to an error or a reconnect.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::fake::{id_text, line_text, message, FakeNsqd, WAIT};
use common::{eventually, fast_config, init_tracing};
use nsq_wire::command::Body;
use nsq_wire::frame::Frame;
use transport_nsq::{Config, Consumer, Error, HandlerError, Message, Producer};

async fn consumer_on(fake: &FakeNsqd, config: Config) -> Consumer {
    Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
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

#[tokio::test]
async fn heartbeat_is_answered_with_nop_and_rdy_is_the_share() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 7;
    let consumer = consumer_on(&fake, config).await;
    let mut conn = fake.accept_subscribed().await;
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 7");
    conn.send(Frame::Response(Bytes::from_static(b"_heartbeat_")))
        .await;
    let nop = conn.next().await.unwrap();
    assert_eq!(line_text(&nop), "NOP");
    assert_eq!(consumer.stats().connections, 1);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn backoff_is_visible_in_rdy_sent() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 4;
    let consumer = consumer_on(&fake, config).await;
    let mut conn = fake.accept_subscribed().await;
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 4");

    // Failure: REQ with go-nsq's computed delay (90 s × attempts), then RDY 0.
    conn.send(message(1, 2, b"fail")).await;
    assert_eq!(
        line_text(&conn.expect("REQ").await),
        format!("REQ {} 180000", id_text(1))
    );
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 0");
    // Backoff timer fires: one connection tests the waters with RDY 1.
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 1");
    // Success: FIN, backoff level back to 0, full share again.
    conn.send(message(2, 1, b"ok")).await;
    assert_eq!(
        line_text(&conn.expect("FIN").await),
        format!("FIN {}", id_text(2))
    );
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 4");
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
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
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
    assert_eq!(
        line_text(&conn.expect("FIN").await),
        format!("FIN {}", id_text(9))
    );
    let (id, attempts) = tokio::time::timeout(WAIT, hook_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id.as_str(), attempts), (id_text(9).as_str(), 4));
    // attempts == max_attempts is still handled (strictly greater is exhausted).
    conn.send(message(10, 3, b"last try")).await;
    conn.expect("FIN").await;
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn non_fatal_fin_failed_keeps_the_connection() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let consumer = consumer_on(&fake, fast_config()).await;
    let mut conn = fake.accept_subscribed().await;
    conn.expect("RDY").await;
    conn.send(message(1, 1, b"a")).await;
    conn.expect("FIN").await;
    conn.send(Frame::Error(Bytes::from_static(
        b"E_FIN_FAILED FIN 0000000000000001 failed ID not in flight",
    )))
    .await;
    conn.send(message(2, 1, b"b")).await;
    assert_eq!(
        line_text(&conn.expect("FIN").await),
        format!("FIN {}", id_text(2))
    );
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
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
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
    assert_eq!(line_text(&again.expect("RDY").await), "RDY 1");
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
        let mut conn = fake.accept().await;
        conn.handshake().await;
        let mut failed_body = None;
        for i in 0..100 {
            let r = conn.expect("PUB").await;
            let Some(Body::Single(body)) = r.body else {
                panic!("PUB without body")
            };
            if i == 50 {
                failed_body = Some(body);
                conn.send(Frame::Error(Bytes::from_static(
                    b"E_BAD_MESSAGE PUB message too big 9 > 8",
                )))
                .await;
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

#[tokio::test]
async fn producer_errors_then_reconnects_after_garbage_and_mid_frame_close() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let producer = Producer::new([fake.addr.clone()], fast_config()).unwrap();

    // Garbage in reply to a PUB: that publish fails.
    let p = producer.clone();
    let first = tokio::spawn(async move { p.publish("t", "one").await });
    let mut conn = fake.accept().await;
    conn.handshake().await;
    conn.expect("PUB").await;
    conn.send_raw(b"\x00\x00\x00\x09\x00\x00\x00\x09garbage")
        .await;
    let result = tokio::time::timeout(WAIT, first).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionLost { .. })),
        "{result:?}"
    );

    // A socket closed in the middle of a frame: the next publish fails too.
    let p = producer.clone();
    let second = tokio::spawn(async move { p.publish("t", "two").await });
    let mut conn2 = fake.accept().await;
    conn2.handshake().await;
    conn2.expect("PUB").await;
    conn2.send_raw(b"\x00\x00\x00").await;
    drop(conn2);
    let result = tokio::time::timeout(WAIT, second).await.unwrap().unwrap();
    assert!(result.is_err(), "{result:?}");

    // And the producer reconnects for the one after.
    let p = producer.clone();
    let third = tokio::spawn(async move { p.publish("t", "three").await });
    let mut conn3 = fake.accept().await;
    conn3.handshake().await;
    let r = conn3.expect("PUB").await;
    assert_eq!(line_text(&r), "PUB t");
    conn3.ok().await;
    tokio::time::timeout(WAIT, third)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn producer_fails_over_to_a_healthy_nsqd() {
    init_tracing();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut fake = FakeNsqd::start().await;
    let producer = Producer::new([dead, fake.addr.clone()], fast_config()).unwrap();
    let server = tokio::spawn(async move {
        let mut conn = fake.accept().await;
        conn.handshake().await;
        for _ in 0..4 {
            conn.expect("PUB").await;
            conn.ok().await;
        }
        conn
    });
    for i in 0..4 {
        producer.publish("t", format!("m{i}")).await.unwrap();
    }
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn drain_requeues_unanswered_then_sends_cls() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 2;
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
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
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 2");
    conn.send(message(1, 1, b"slow")).await;
    conn.send(message(2, 1, b"fast")).await;
    conn.expect("FIN").await;
    let drain = tokio::spawn(async move {
        let report = consumer.drain(Duration::from_millis(300)).await;
        (report, consumer)
    });
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 0");
    assert_eq!(
        line_text(&conn.expect("REQ").await),
        format!("REQ {} 0", id_text(1))
    );
    conn.expect("CLS").await;
    conn.send(Frame::Response(Bytes::from_static(b"CLOSE_WAIT")))
        .await;
    conn.expect_eof().await;
    let (report, consumer) = tokio::time::timeout(WAIT, drain).await.unwrap().unwrap();
    assert_eq!(report.requeued, 1);
    eventually(WAIT, || consumer.stats().connections == 0).await;
}

#[tokio::test]
async fn sub_error_is_reported_and_retried() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let consumer = consumer_on(&fake, fast_config()).await;
    let mut conn = fake.accept().await;
    conn.handshake().await;
    conn.expect("SUB").await;
    conn.send(Frame::Error(Bytes::from_static(
        b"E_SUB_FAILED SUB failed exiting",
    )))
    .await;
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
    let mut conn = fake.accept().await;
    let reply =
        common::fake::IDENTIFY_REPLY.replace("\"max_rdy_count\":2500", "\"max_rdy_count\":3");
    let identify = conn.handshake_with(reply.as_bytes()).await;
    assert_eq!(identify["client_id"], "cid");
    assert_eq!(identify["hostname"], "host.example");
    assert_eq!(identify["msg_timeout"], 5000);
    assert_eq!(identify["heartbeat_interval"], 1000);
    assert!(identify["user_agent"]
        .as_str()
        .unwrap()
        .starts_with("transport-nsq/"));
    conn.expect("SUB").await;
    conn.ok().await;
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 3");
    // A plain OK to IDENTIFY (pre-negotiation nsqd) is accepted too.
    consumer.drain(Duration::from_millis(100)).await;
    let consumer = consumer_on(&fake, fast_config()).await;
    let mut old = fake.accept().await;
    old.handshake_with(b"OK").await;
    old.expect("SUB").await;
    old.ok().await;
    assert_eq!(line_text(&old.expect("RDY").await), "RDY 1");
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn set_max_in_flight_zero_pauses_and_resumes() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.max_in_flight = 5;
    let consumer = consumer_on(&fake, config).await;
    let mut conn = fake.accept_subscribed().await;
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 5");
    consumer.set_max_in_flight(0);
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 0");
    consumer.set_max_in_flight(2);
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 2");
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn auto_touch_while_handler_runs_and_manual_answers() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.auto_touch = true;
    config.max_in_flight = 2;
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
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
    let mut conn = fake.accept().await;
    // msg_timeout 400 ms -> TOUCH every 200 ms.
    let reply =
        common::fake::IDENTIFY_REPLY.replace("\"msg_timeout\":60000", "\"msg_timeout\":400");
    conn.handshake_with(reply.as_bytes()).await;
    conn.expect("SUB").await;
    conn.ok().await;
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
    assert_eq!(
        line_text(&conn.expect("REQ").await),
        format!("REQ {} 7000", id_text(2))
    );
    let drain = tokio::spawn(async move { consumer.drain(Duration::from_millis(100)).await });
    assert_eq!(line_text(&conn.expect("RDY").await), "RDY 0");
    conn.expect("CLS").await;
    conn.send(Frame::Response(Bytes::from_static(b"CLOSE_WAIT")))
        .await;
    conn.expect_eof().await;
    assert_eq!(drain.await.unwrap().requeued, 0);
}

#[tokio::test]
async fn auth_is_sent_only_when_required() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    config.auth_secret = "s3cret".into();
    let producer = Producer::new([fake.addr.clone()], config).unwrap();
    let p = producer.clone();
    let publish = tokio::spawn(async move { p.publish("t", "x").await });
    let mut conn = fake.accept().await;
    let reply =
        common::fake::IDENTIFY_REPLY.replace("\"auth_required\":false", "\"auth_required\":true");
    conn.handshake_with(reply.as_bytes()).await;
    let auth = conn.expect("AUTH").await;
    assert!(matches!(auth.body, Some(Body::Single(ref b)) if b.as_ref() == b"s3cret"));
    conn.send(Frame::Response(Bytes::from_static(
        br#"{"identity":"me","identity_url":"","permission_count":1}"#,
    )))
    .await;
    conn.expect("PUB").await;
    conn.ok().await;
    tokio::time::timeout(WAIT, publish)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // No secret configured: the connection fails with "Auth Required", AUTH is never sent.
    let producer = Producer::new([fake.addr.clone()], fast_config()).unwrap();
    let p = producer.clone();
    let publish = tokio::spawn(async move { p.publish("t", "x").await });
    let mut conn = fake.accept().await;
    conn.handshake_with(reply.as_bytes()).await;
    conn.expect_eof().await;
    match tokio::time::timeout(WAIT, publish).await.unwrap().unwrap() {
        Err(Error::Auth { reason, .. }) => assert_eq!(reason, "Auth Required"),
        other => panic!("expected an auth error, got {other:?}"),
    }
}
