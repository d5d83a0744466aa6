//! A consumer that sets RDY high and never reads cannot grow the broker's memory without
//! bound: its output is bounded (output buffer + write deadline), so it is disconnected,
//! while a consumer of another channel keeps receiving everything. Memory is measured as
//! this process's RSS (the broker is embedded), with a generous bound.

mod security_support;

use std::time::Duration;

use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::Bytes;
use nsq_wire::command::Command;
use nsq_wire::frame::Frame;
use security_support::{launch_nsqd, nsqd_opts, stats_json, Client};
use tokio::io::AsyncWriteExt;

const MESSAGES: usize = 20_000;
const BODY: usize = 8 * 1024;
const BATCH: usize = 100;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

async fn channel_clients(nsqd: &Nsqd, channel: &str) -> usize {
    let stats = stats_json(nsqd.http_addr(), "topic=flood").await;
    stats["topics"][0]["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["channel_name"] == channel)
        .and_then(|c| c["clients"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_consumer_is_dropped_and_memory_stays_bounded() {
    let data = tempfile::tempdir().unwrap();
    let nsqd = launch_nsqd(NsqdOptions {
        data_path: data.path().to_path_buf(),
        mem_queue_size: 100,
        ..nsqd_opts()
    })
    .await;

    // The stuck consumer: a tiny receive window, RDY 2500, never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(nsqd.tcp_addr()).await.unwrap();
    let mut hello = bytes::BytesMut::new();
    hello.extend_from_slice(&nsq_wire::MAGIC_V2);
    Command::Identify(serde_json::from_str(r#"{"heartbeat_interval":1000}"#).unwrap())
        .encode(&mut hello);
    Command::Sub {
        topic: "flood".into(),
        channel: "stuck".into(),
    }
    .encode(&mut hello);
    Command::Rdy(2500).encode(&mut hello);
    stuck.write_all(&hello).await.unwrap();

    // The healthy consumer of another channel.
    let mut healthy = Client::connect(nsqd.tcp_addr()).await;
    healthy
        .send(Command::Sub {
            topic: "flood".into(),
            channel: "healthy".into(),
        })
        .await;
    assert_eq!(healthy.response().await, "OK");
    healthy.send(Command::Rdy(500)).await;
    let receiver = tokio::spawn(async move {
        let mut received = 0;
        while received < MESSAGES {
            match healthy.frame().await {
                Some(Frame::Message(msg)) => {
                    received += 1;
                    healthy.send(Command::Fin(msg.id)).await;
                }
                Some(_) => {}
                None => break,
            }
        }
        received
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(channel_clients(&nsqd, "stuck").await, 1);

    let baseline = rss_bytes();
    let mut producer = Client::connect(nsqd.tcp_addr()).await;
    let body = Bytes::from(vec![b'x'; BODY]);
    let mut peak = baseline;
    for _ in 0..MESSAGES / BATCH {
        producer
            .send(Command::Mpub {
                topic: "flood".into(),
                bodies: vec![body.clone(); BATCH],
            })
            .await;
        assert_eq!(producer.response().await, "OK");
        peak = peak.max(rss_bytes());
    }
    let received = tokio::time::timeout(Duration::from_secs(120), receiver)
        .await
        .expect("healthy consumer timed out")
        .unwrap();
    assert_eq!(received, MESSAGES, "the healthy consumer got everything");
    peak = peak.max(rss_bytes());

    // The stuck consumer was disconnected for not reading (write deadline = 1 s).
    let mut dropped = false;
    for _ in 0..100 {
        if channel_clients(&nsqd, "stuck").await == 0 {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped, "the stuck consumer is disconnected");

    let published = (MESSAGES * BODY) as u64;
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < published / 2,
        "RSS grew by {} MiB while {} MiB were published",
        growth >> 20,
        published >> 20
    );
    drop(stuck);
    nsqd.shutdown().await;
}
