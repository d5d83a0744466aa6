//! A raw protocol-V2 test client built on nsq-wire, and helpers to start embedded brokers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use broker::nsqd::stats::{ChannelStats, StatsFilter, TopicStats};
use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::{Bytes, BytesMut};
use embedded::*;
use nsq_wire::command::Command;
use nsq_wire::frame::{Frame, FrameDecoder};
use nsq_wire::identify::{IdentifyRequest, IdentifyResponse};
use nsq_wire::message::Message;
use nsq_wire::MAGIC_V2;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

#[allow(clippy::duplicate_mod)] // a test crate may load it through several support modules
#[path = "../embedded/mod.rs"]
pub mod embedded;

/// Upper bound for any single wait in tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Options for a test broker on loopback port 0.
pub fn test_options() -> NsqdOptions {
    nsqd_opts()
}

/// Starts a broker with default options.
pub async fn start() -> Nsqd {
    Nsqd::start(test_options()).await.unwrap()
}

/// Starts a broker after letting `f` adjust the options.
pub async fn start_with(f: impl FnOnce(&mut NsqdOptions)) -> Nsqd {
    let mut opts = test_options();
    f(&mut opts);
    Nsqd::start(opts).await.unwrap()
}

/// A stats filter that includes clients.
pub fn all_stats() -> StatsFilter {
    StatsFilter {
        include_clients: true,
        ..Default::default()
    }
}

/// The stats (clients included) of `nsqd`'s first topic.
pub fn first_topic(nsqd: &Nsqd) -> TopicStats {
    nsqd.context().stats(&all_stats()).swap_remove(0)
}

/// The stats (clients included) of the first channel of `nsqd`'s first topic.
pub fn first_channel(nsqd: &Nsqd) -> ChannelStats {
    first_topic(nsqd).channels.swap_remove(0)
}

/// Asserts that no topic of `nsqd` has received a message.
pub fn assert_nothing_published(nsqd: &Nsqd) {
    let stats = nsqd.context().stats(&all_stats());
    assert!(stats.iter().all(|t| t.message_count == 0), "{stats:?}");
}

/// A `PUB topic body` command.
pub fn pub_cmd(topic: &str, body: &'static [u8]) -> Command {
    Command::Pub {
        topic: topic.into(),
        body: Bytes::from_static(body),
    }
}

/// For each `(bytes, error)`: a fresh connection sends `bytes` and gets the fatal `error`.
pub async fn expect_fatal_cases(addr: SocketAddr, cases: &[(&[u8], &str)]) {
    for (bytes, expected) in cases {
        Client::connect(addr)
            .await
            .expect_fatal_after(bytes, expected)
            .await;
    }
}

/// For each `(bytes, error)`: a fresh connection sends `bytes`, closes its write half (the
/// frame is cut short) and gets the fatal `error`.
pub async fn expect_fatal_truncated_cases(addr: SocketAddr, cases: &[(&[u8], &str)]) {
    for (bytes, expected) in cases {
        let mut c = Client::connect(addr).await;
        c.send_raw(bytes).await;
        c.shutdown_write().await;
        c.expect_fatal(expected).await;
    }
}

/// Waits (bounded) until `cond` holds.
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition not met in time");
}

/// A raw NSQ client connection.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Client {
    /// Connects and sends the V2 magic.
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut c = Client::connect_raw(addr).await;
        c.send_raw(&MAGIC_V2).await;
        c
    }

    /// Connects without sending anything.
    pub async fn connect_raw(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Client {
            stream,
            buf: BytesMut::new(),
            decoder: FrameDecoder::default(),
        }
    }

    /// Connects, sends the magic and IDENTIFY `{"feature_negotiation":true}` + `extra`.
    pub async fn identified(addr: SocketAddr, req: IdentifyRequest) -> (Client, IdentifyResponse) {
        let mut c = Client::connect(addr).await;
        let req = IdentifyRequest {
            feature_negotiation: Some(true),
            ..req
        };
        c.send(&Command::Identify(req)).await;
        let data = c.expect_response_data().await;
        let resp: IdentifyResponse = serde_json::from_slice(&data).unwrap();
        (c, resp)
    }

    /// Identifies with the given heartbeat interval.
    pub async fn with_heartbeat(addr: SocketAddr, interval_ms: i64) -> Client {
        let req = IdentifyRequest {
            heartbeat_interval: Some(interval_ms),
            ..Default::default()
        };
        Client::identified(addr, req).await.0
    }

    /// A subscribed consumer with the given RDY.
    pub async fn consumer(addr: SocketAddr, topic: &str, channel: &str, rdy: u64) -> Client {
        let mut c = Client::connect(addr).await;
        c.sub(topic, channel).await;
        if rdy > 0 {
            c.send(&Command::Rdy(rdy)).await;
        }
        c
    }

    /// A consumer of `t`/`c` with RDY 1 that has received `body`, published once to `t`.
    pub async fn with_one_message(addr: SocketAddr, body: &str) -> (Client, Message) {
        let mut c = Client::consumer(addr, "t", "c", 1).await;
        publish(addr, "t", &[body]).await;
        let msg = c.next_message().await;
        (c, msg)
    }

    /// Closes the write half (the server sees EOF).
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, cmd: &Command) {
        let mut buf = BytesMut::new();
        cmd.encode(&mut buf);
        self.send_raw(&buf).await;
    }

    /// Reads the next frame; `None` on EOF. Panics after [`WAIT`].
    pub async fn read_frame(&mut self) -> Option<Frame> {
        self.read_frame_within(WAIT)
            .await
            .expect("no frame arrived in time")
    }

    /// `Err(())` if nothing arrived within `limit`; `Ok(None)` on EOF.
    pub async fn read_frame_within(&mut self, limit: Duration) -> Result<Option<Frame>, ()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Ok(Some(frame));
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Next frame that is not a heartbeat.
    pub async fn next_non_heartbeat(&mut self) -> Option<Frame> {
        loop {
            match self.read_frame().await {
                Some(f) if f.is_heartbeat() => continue,
                other => return other,
            }
        }
    }

    pub async fn expect_response_data(&mut self) -> Bytes {
        match self.next_non_heartbeat().await {
            Some(Frame::Response(data)) => data,
            other => panic!("expected a response frame, got {other:?}"),
        }
    }

    pub async fn expect_ok(&mut self) {
        let data = self.expect_response_data().await;
        assert_eq!(&data[..], b"OK", "got {:?}", String::from_utf8_lossy(&data));
    }

    pub async fn expect_error(&mut self, text: &str) {
        match self.next_non_heartbeat().await {
            Some(Frame::Error(data)) => {
                assert_eq!(String::from_utf8_lossy(&data), text)
            }
            other => panic!("expected error {text:?}, got {other:?}"),
        }
    }

    /// Sends raw `bytes`, then expects the fatal error `text`.
    pub async fn expect_fatal_after(&mut self, bytes: &[u8], text: &str) {
        self.send_raw(bytes).await;
        self.expect_fatal(text).await;
    }

    /// Sends `cmd`, then expects the fatal error `text`.
    pub async fn command_fatal(&mut self, cmd: &Command, text: &str) {
        self.send(cmd).await;
        self.expect_fatal(text).await;
    }

    /// An error frame with `text`, then EOF.
    pub async fn expect_fatal(&mut self, text: &str) {
        self.expect_error(text).await;
        self.expect_closed().await;
    }

    /// EOF (heartbeats before it are skipped).
    pub async fn expect_closed(&mut self) {
        match self.next_non_heartbeat().await {
            None => {}
            Some(frame) => panic!("expected the connection to close, got {frame:?}"),
        }
    }

    /// No frame (other than heartbeats) within `ms`, and the connection stays open.
    pub async fn expect_silence(&mut self, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read_frame_within(left).await {
                Err(()) => return,
                Ok(Some(f)) if f.is_heartbeat() => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Sends NOP (which has no reply), then expects silence for `ms`: everything sent before
    /// has been handled and produced no frame.
    pub async fn nop_then_silence(&mut self, ms: u64) {
        self.send(&Command::Nop).await;
        self.expect_silence(ms).await;
    }

    pub async fn next_message(&mut self) -> Message {
        match self.next_non_heartbeat().await {
            Some(Frame::Message(msg)) => msg,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Sends `REQ <id> <timeout_ms>` (no reply is expected).
    pub async fn req(&mut self, id: nsq_wire::message::MessageId, timeout_ms: u64) {
        self.send(&Command::Req { id, timeout_ms }).await;
    }

    /// The bodies of the next `n` messages, in arrival order.
    pub async fn next_bodies(&mut self, n: usize) -> Vec<Bytes> {
        let mut bodies = Vec::with_capacity(n);
        for _ in 0..n {
            bodies.push(self.next_message().await.body);
        }
        bodies
    }

    pub async fn sub(&mut self, topic: &str, channel: &str) {
        self.send(&Command::Sub {
            topic: topic.into(),
            channel: channel.into(),
        })
        .await;
        self.expect_ok().await;
    }

    pub async fn publish(&mut self, topic: &str, body: &str) {
        self.send(&Command::Pub {
            topic: topic.into(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        })
        .await;
        self.expect_ok().await;
    }
}

/// Publishes `bodies` to `topic` over a fresh connection.
pub async fn publish(addr: SocketAddr, topic: &str, bodies: &[&str]) {
    let mut c = Client::connect(addr).await;
    for body in bodies {
        c.publish(topic, body).await;
    }
}
