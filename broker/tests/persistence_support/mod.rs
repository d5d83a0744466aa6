//! Helpers for the persistence tests: a minimal raw TCP V2 client (publish, subscribe,
//! consume with FIN), HTTP calls, and data directory utilities.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use nsq_wire::command::Command;
use nsq_wire::frame::{Frame, FrameDecoder};
use nsq_wire::message::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

// A test crate may load this file through several support modules.
#[allow(clippy::duplicate_mod)]
#[path = "../embedded/mod.rs"]
mod embedded;
#[allow(unused_imports)]
pub use embedded::*;

/// Upper bound for any single network wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A raw protocol V2 connection.
pub struct Conn {
    reader: FramedRead<OwnedReadHalf, FrameDecoder>,
    writer: OwnedWriteHalf,
}

impl Conn {
    /// Connects and sends the `  V2` magic.
    pub async fn connect(addr: SocketAddr) -> Conn {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        let (read, mut writer) = stream.into_split();
        writer.write_all(&nsq_wire::MAGIC_V2).await.unwrap();
        Conn {
            reader: FramedRead::new(read, FrameDecoder::new(16 * 1024 * 1024)),
            writer,
        }
    }

    /// Sends one command.
    pub async fn send(&mut self, command: Command) {
        let mut buf = BytesMut::new();
        command.encode(&mut buf);
        self.writer.write_all(&buf).await.unwrap();
    }

    /// The next frame that is not a heartbeat (heartbeats are answered with NOP); `None` when
    /// nothing arrives within `within` or the connection closed.
    pub async fn frame_within(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let frame = match tokio::time::timeout(within, self.reader.next()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(e))) => panic!("bad frame: {e}"),
                Ok(None) | Err(_) => return None,
            };
            if frame.is_heartbeat() {
                self.send(Command::Nop).await;
                continue;
            }
            return Some(frame);
        }
    }

    /// The next frame, failing the test after [`WAIT`].
    pub async fn frame(&mut self) -> Frame {
        self.frame_within(WAIT).await.expect("no frame from nsqd")
    }

    /// Waits for `OK`; an error frame becomes `Err(text)`.
    pub async fn response(&mut self) -> Result<(), String> {
        match self.frame().await {
            Frame::Response(body) if &body[..] == b"OK" => Ok(()),
            Frame::Error(body) => Err(String::from_utf8_lossy(&body).into_owned()),
            other => panic!("unexpected frame {other:?}"),
        }
    }

    /// PUB.
    pub async fn publish(&mut self, topic: &str, body: impl Into<Bytes>) -> Result<(), String> {
        self.send(Command::Pub {
            topic: topic.into(),
            body: body.into(),
        })
        .await;
        self.response().await
    }

    /// MPUB.
    pub async fn mpub(&mut self, topic: &str, bodies: Vec<Bytes>) -> Result<(), String> {
        self.send(Command::Mpub {
            topic: topic.into(),
            bodies,
        })
        .await;
        self.response().await
    }

    /// DPUB.
    pub async fn dpub(&mut self, topic: &str, defer_ms: u64, body: impl Into<Bytes>) {
        self.send(Command::Dpub {
            topic: topic.into(),
            defer_ms,
            body: body.into(),
        })
        .await;
        self.response().await.expect("DPUB");
    }

    /// SUB (answered with OK).
    pub async fn sub(&mut self, topic: &str, channel: &str) {
        self.send(Command::Sub {
            topic: topic.into(),
            channel: channel.into(),
        })
        .await;
        self.response().await.expect("SUB");
    }

    /// Like [`Self::consume`], returning each body with the time it arrived.
    pub async fn consume_timed(
        &mut self,
        rdy: u64,
        max: usize,
        idle: Duration,
    ) -> Vec<(String, std::time::Instant)> {
        let mut got = Vec::new();
        self.consume_each(rdy, max, idle, |msg| {
            let body = String::from_utf8_lossy(&msg.body).into_owned();
            got.push((body, std::time::Instant::now()));
        })
        .await;
        got
    }

    /// Receives messages (RDY `rdy` already sent by the caller or here), FINs each, and stops
    /// after `max` messages or when none arrives for `idle`.
    pub async fn consume(&mut self, rdy: u64, max: usize, idle: Duration) -> Vec<Message> {
        let mut got = Vec::new();
        self.consume_each(rdy, max, idle, |msg| got.push(msg)).await;
        got
    }

    /// Sends RDY `rdy`, then FINs and hands over each message until `max` arrived or none
    /// arrives for `idle`.
    async fn consume_each(
        &mut self,
        rdy: u64,
        max: usize,
        idle: Duration,
        mut each: impl FnMut(Message),
    ) {
        self.send(Command::Rdy(rdy)).await;
        let mut count = 0;
        while count < max {
            match self.frame_within(idle).await {
                Some(Frame::Message(msg)) => {
                    self.send(Command::Fin(msg.id)).await;
                    each(msg);
                    count += 1;
                }
                Some(Frame::Error(e)) => panic!("error while consuming: {e:?}"),
                Some(Frame::Response(_)) => {}
                None => break,
            }
        }
    }
}

/// Subscribes to `topic/channel` on a new connection and consumes until `max` messages or
/// `idle` without one.
pub async fn consume_all(
    addr: SocketAddr,
    topic: &str,
    channel: &str,
    max: usize,
    idle: Duration,
) -> Vec<Message> {
    let mut conn = Conn::connect(addr).await;
    conn.sub(topic, channel).await;
    let got = conn.consume(1000, max, idle).await;
    conn.send(Command::Cls).await;
    got
}

/// The bodies of `messages` as UTF-8 strings.
pub fn bodies(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

/// The bodies as a set, asserting there were no duplicates.
pub fn body_set(messages: &[Message]) -> BTreeSet<String> {
    let all = bodies(messages);
    let set: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "duplicate deliveries");
    set
}

/// Loopback nsqd options with a data path, an in-memory queue size and a 100 ms sync timeout.
pub fn disk_options(data_path: &Path, mem_queue_size: i64) -> broker::nsqd::NsqdOptions {
    broker::nsqd::NsqdOptions {
        data_path: data_path.to_path_buf(),
        mem_queue_size,
        sync_timeout: Duration::from_millis(100),
        ..nsqd_opts()
    }
}

/// A data directory inside a temp dir that can be moved away (so that new data files cannot
/// be created, even as root) and brought back.
pub struct MovableDataDir {
    pub dir: tempfile::TempDir,
    pub data: std::path::PathBuf,
}

impl MovableDataDir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        Self { dir, data }
    }

    fn gone(&self) -> std::path::PathBuf {
        self.dir.path().join("gone")
    }

    /// Moves the data directory away (atomically).
    pub fn move_away(&self) {
        std::fs::rename(&self.data, self.gone()).unwrap();
    }

    /// Puts the data directory back.
    pub fn bring_back(&self) {
        std::fs::rename(self.gone(), &self.data).unwrap();
    }
}

/// Publishes numbered messages to topic `d` on `conn` until one PUB fails; returns its error.
pub async fn publish_until_failure(conn: &mut Conn) -> String {
    for i in 0..200 {
        match conn.publish("d", format!("m-{i:05}")).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(error) => return error,
        }
    }
    panic!("a publish must fail once the data directory is gone");
}

/// GET from the nsqd HTTP API; returns (status, body).
pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let response =
        tokio::time::timeout(WAIT, reqwest::get(format!("http://{addr}{path_and_query}")))
            .await
            .expect("HTTP timed out")
            .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// POST to the nsqd HTTP API; returns (status, body).
pub async fn http_post(addr: SocketAddr, path_and_query: &str, body: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(
        WAIT,
        client
            .post(format!("http://{addr}{path_and_query}"))
            .body(body.to_owned())
            .send(),
    )
    .await
    .expect("HTTP timed out")
    .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// GET from the nsqd HTTP API as JSON.
pub async fn http_json(addr: SocketAddr, path_and_query: &str) -> serde_json::Value {
    let response =
        tokio::time::timeout(WAIT, reqwest::get(format!("http://{addr}{path_and_query}")))
            .await
            .expect("HTTP timed out")
            .expect("HTTP request");
    response.json().await.expect("JSON body")
}

/// Copies the Go nsqd 1.3 fixture data directory into `dest`.
pub fn copy_go_fixture(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go-nsqd-1.3-data/data");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
}

/// File names in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
