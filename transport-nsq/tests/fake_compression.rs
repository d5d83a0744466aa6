//! Snappy and deflate negotiated through IDENTIFY, against a fake nsqd that uses the
//! reference codecs (snap's framing format, flate2's raw DEFLATE).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::fake::{id_text, message, Compression, FakeNsqd, IDENTIFY_REPLY};
use common::{fast_config, init_tracing};
use nsq_wire::frame::Frame;
use transport_nsq::{Consumer, HandlerError, Message};

async fn consume_through(mode: Compression) {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    let (flag, reply) = match mode {
        Compression::Snappy => {
            config.snappy = true;
            (
                "snappy",
                IDENTIFY_REPLY.replace("\"snappy\":false", "\"snappy\":true"),
            )
        }
        Compression::Deflate => {
            config.deflate = true;
            (
                "deflate",
                IDENTIFY_REPLY.replace("\"deflate\":false", "\"deflate\":true"),
            )
        }
    };
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap();
    let mut conn = fake.accept().await;
    let identify = conn.handshake_with(reply.as_bytes()).await;
    assert_eq!(identify[flag], true);
    let mut conn = conn.into_compressed(mode);
    conn.send(Frame::Response(Bytes::from_static(b"OK"))).await; // upgrade confirmed
    assert_eq!(conn.next_line().await, "SUB t c");
    conn.send(Frame::Response(Bytes::from_static(b"OK"))).await;
    assert_eq!(conn.next_line().await, "RDY 1");
    conn.send(message(3, 1, b"compressed body")).await;
    assert_eq!(conn.next_line().await, format!("FIN {}", id_text(3)));
    conn.send(Frame::Response(Bytes::from_static(b"_heartbeat_")))
        .await;
    conn.send(message(4, 1, b"second")).await;
    assert_eq!(conn.next_line().await, format!("FIN {}", id_text(4)));
    common::eventually(Duration::from_secs(5), || {
        consumer.stats().messages_finished == 2
    })
    .await;
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn consumer_over_snappy() {
    consume_through(Compression::Snappy).await;
}

#[tokio::test]
async fn consumer_over_deflate() {
    consume_through(Compression::Deflate).await;
}
