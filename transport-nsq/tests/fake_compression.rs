//! Snappy and deflate negotiated through IDENTIFY, against a fake nsqd that uses the
//! reference codecs (snap's framing format, flate2's raw DEFLATE).

mod common;

use std::time::Duration;

use common::fake::{id_text, identify_reply, message, Compression, FakeNsqd};
use common::{acking_consumer, fast_config, init_tracing};

async fn consume_through(mode: Compression) {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = fast_config();
    let flag = match mode {
        Compression::Snappy => {
            config.snappy = true;
            "snappy"
        }
        Compression::Deflate => {
            config.deflate = true;
            "deflate"
        }
    };
    let reply = identify_reply(flag, "true");
    let consumer = acking_consumer(fake.consumer_builder(config)).await;
    let mut conn = fake.accept().await;
    let identify = conn.handshake_with(reply.as_bytes()).await;
    assert_eq!(identify[flag], true);
    let mut conn = conn.into_compressed(mode);
    conn.respond(b"OK").await; // upgrade confirmed
    assert_eq!(conn.next_line().await, "SUB t c");
    conn.respond(b"OK").await;
    assert_eq!(conn.next_line().await, "RDY 1");
    conn.send(message(3, 1, b"compressed body")).await;
    assert_eq!(conn.next_line().await, format!("FIN {}", id_text(3)));
    conn.respond(b"_heartbeat_").await;
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
