//! A scripted fake nsqd for protocol-level tests: the test reads the client's commands
//! (decoded with nsq-wire's server-side decoder) and writes whatever frames it wants,
//! including garbage.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use nsq_wire::command::{Body, CommandDecoder, Request};
use nsq_wire::frame::Frame;
use nsq_wire::message::{Message, MessageId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

pub const WAIT: Duration = Duration::from_secs(10);

pub const IDENTIFY_REPLY: &str = r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250,"topology_region":"","topology_zone":""}"#;

pub struct FakeNsqd {
    pub addr: String,
    accepted: mpsc::UnboundedReceiver<FakeConn>,
}

impl FakeNsqd {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (read, write) = stream.into_split();
                if tx
                    .send(FakeConn {
                        raw: Some(read),
                        framed: None,
                        writer: write,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        Self { addr, accepted: rx }
    }

    /// The next client connection (panics after WAIT).
    pub async fn accept(&mut self) -> FakeConn {
        tokio::time::timeout(WAIT, self.accepted.recv())
            .await
            .expect("no connection in time")
            .expect("listener gone")
    }

    /// A connection that went through magic and IDENTIFY (nsqd 1.3.0's reply).
    pub async fn accept_identified(&mut self) -> FakeConn {
        let mut conn = self.accept().await;
        conn.handshake().await;
        conn
    }

    /// A connection that went through magic, IDENTIFY and SUB.
    pub async fn accept_subscribed(&mut self) -> FakeConn {
        self.accept_subscribed_with(IDENTIFY_REPLY.as_bytes())
            .await
            .0
    }

    /// Like [`FakeNsqd::accept_subscribed`] with a custom IDENTIFY reply; also returns the
    /// client's IDENTIFY JSON.
    pub async fn accept_subscribed_with(&mut self, reply: &[u8]) -> (FakeConn, serde_json::Value) {
        let mut conn = self.accept().await;
        let identify = conn.handshake_with(reply).await;
        let sub = conn.expect("SUB").await;
        assert_eq!(sub.line.params.len(), 2);
        conn.ok().await;
        (conn, identify)
    }
}

pub struct FakeConn {
    raw: Option<OwnedReadHalf>,
    framed: Option<FramedRead<OwnedReadHalf, CommandDecoder>>,
    writer: OwnedWriteHalf,
}

impl FakeConn {
    /// Reads the magic and the IDENTIFY, answers with nsqd 1.3.0's JSON.
    pub async fn handshake(&mut self) {
        self.handshake_with(IDENTIFY_REPLY.as_bytes()).await;
    }

    /// Like [`FakeConn::handshake`] with a custom IDENTIFY reply; returns the client's JSON.
    pub async fn handshake_with(&mut self, reply: &[u8]) -> serde_json::Value {
        let mut raw = self.raw.take().expect("handshake twice");
        let mut magic = [0u8; 4];
        tokio::time::timeout(WAIT, raw.read_exact(&mut magic))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&magic, b"  V2");
        self.framed = Some(FramedRead::new(
            raw,
            CommandDecoder::new(Default::default()),
        ));
        let identify = self.expect("IDENTIFY").await;
        let Some(Body::Single(body)) = identify.body else {
            panic!("IDENTIFY without body")
        };
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["feature_negotiation"], true);
        self.send(Frame::Response(Bytes::copy_from_slice(reply)))
            .await;
        json
    }

    /// The next command, or None at EOF.
    pub async fn next(&mut self) -> Option<Request> {
        let framed = self.framed.as_mut().expect("handshake first");
        match tokio::time::timeout(WAIT, framed.next())
            .await
            .expect("no command in time")
        {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => panic!("client sent an undecodable command: {e:?}"),
            None => None,
        }
    }

    /// The next command that is not NOP; asserts its name.
    pub async fn expect(&mut self, name: &str) -> Request {
        loop {
            let r = self
                .next()
                .await
                .unwrap_or_else(|| panic!("EOF while expecting {name}"));
            if r.line.name.as_ref() == b"NOP" && name != "NOP" {
                continue;
            }
            assert_eq!(
                std::str::from_utf8(&r.line.name).unwrap(),
                name,
                "got {}",
                line_text(&r)
            );
            return r;
        }
    }

    /// The next command that is not NOP; asserts it reads `text` (`"NAME p1 p2"`).
    pub async fn expect_line(&mut self, text: &str) -> Request {
        let name = text.split(' ').next().unwrap();
        let r = self.expect(name).await;
        assert_eq!(line_text(&r), text);
        r
    }

    /// The end of a drain: expects CLS, answers CLOSE_WAIT, waits for the client's EOF.
    pub async fn expect_close(&mut self) {
        self.expect("CLS").await;
        self.respond(b"CLOSE_WAIT").await;
        self.expect_eof().await;
    }

    /// Waits for EOF from the client (panics on any other command than the allowed ones).
    pub async fn expect_eof(&mut self) {
        while let Some(r) = self.next().await {
            let name = std::str::from_utf8(&r.line.name).unwrap().to_string();
            assert!(
                name == "NOP" || name == "RDY",
                "unexpected {}",
                line_text(&r)
            );
        }
    }

    pub async fn send(&mut self, frame: Frame) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.send_raw(&buf).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // The client may already be gone; tests check the client's behaviour instead.
        let _ = self.writer.write_all(bytes).await;
        let _ = self.writer.flush().await;
    }

    pub async fn ok(&mut self) {
        self.respond(b"OK").await;
    }

    /// A response frame (`OK`, `_heartbeat_`, `CLOSE_WAIT`, AUTH's JSON ...).
    pub async fn respond(&mut self, data: &'static [u8]) {
        self.send(Frame::Response(Bytes::from_static(data))).await;
    }

    /// An error frame.
    pub async fn error(&mut self, text: &'static [u8]) {
        self.send(Frame::Error(Bytes::from_static(text))).await;
    }
}

/// nsqd 1.3.0's IDENTIFY reply with `key` set to `value` (JSON text, e.g. `"true"`).
pub fn identify_reply(key: &str, value: &str) -> String {
    let field = format!("\"{key}\":");
    let start = IDENTIFY_REPLY.find(&field).expect("no such IDENTIFY field") + field.len();
    let end = start
        + IDENTIFY_REPLY[start..]
            .find([',', '}'])
            .expect("unterminated field");
    format!(
        "{}{value}{}",
        &IDENTIFY_REPLY[..start],
        &IDENTIFY_REPLY[end..]
    )
}

/// `"NAME p1 p2"` for assertions.
pub fn line_text(r: &Request) -> String {
    let mut parts = vec![String::from_utf8_lossy(&r.line.name).into_owned()];
    parts.extend(
        r.line
            .params
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    );
    parts.join(" ")
}

pub fn message(id: u64, attempts: u16, body: &'static [u8]) -> Frame {
    Frame::Message(Message {
        timestamp: 1_700_000_000_000_000_000,
        attempts,
        id: MessageId::from_u64(id),
        body: Bytes::from_static(body),
    })
}

pub fn id_text(id: u64) -> String {
    MessageId::from_u64(id).to_string()
}

impl FakeNsqd {
    /// The next connection if one arrives within `within`.
    pub async fn try_accept(&mut self, within: Duration) -> Option<FakeConn> {
        tokio::time::timeout(within, self.accepted.recv())
            .await
            .ok()
            .flatten()
    }

    /// A consumer of topic `t`, channel `c` on this fake, before its handler is set.
    pub fn consumer_builder(
        &self,
        config: transport_nsq::Config,
    ) -> transport_nsq::ConsumerBuilder {
        transport_nsq::Consumer::builder("t", "c")
            .config(config)
            .nsqd_address(self.addr.clone())
    }

    /// The TCP port (for lookupd registration).
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }
}

/// Registers a (fake) nsqd for `topic` with an nsqlookupd over the V1 TCP protocol, the
/// way nsqd does. The registration lasts as long as the returned stream is open.
pub async fn register_with_lookupd(
    lookupd_tcp: std::net::SocketAddr,
    nsqd_tcp_port: u16,
    topic: &str,
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(lookupd_tcp).await.unwrap();
    let identify = serde_json::json!({
        "broadcast_address": "127.0.0.1",
        "hostname": "fake",
        "tcp_port": nsqd_tcp_port,
        "http_port": 1,
        "version": "1.3.0",
    })
    .to_string();
    let mut out = Vec::new();
    out.extend_from_slice(b"  V1IDENTIFY\n");
    out.extend_from_slice(&(identify.len() as u32).to_be_bytes());
    out.extend_from_slice(identify.as_bytes());
    stream.write_all(&out).await.unwrap();
    read_lookup_reply(&mut stream).await;
    stream
        .write_all(format!("REGISTER {topic}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_lookup_reply(&mut stream).await, b"OK");
    stream
}

async fn read_lookup_reply(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut data = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut data).await.unwrap();
    data
}

/// Which compression a [`CompressedConn`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Deflate,
    Snappy,
}

enum Outbound {
    Deflate(flate2::Compress),
    Snappy(Box<snap::write::FrameEncoder<Vec<u8>>>),
}

/// The fake's side of a compressed stream, built on the reference flate2/snap codecs.
pub struct CompressedConn {
    read: OwnedReadHalf,
    writer: OwnedWriteHalf,
    mode: Compression,
    inbound: Vec<u8>,
    consumed: usize,
    outbound: Outbound,
}

impl FakeConn {
    /// Switches to a compressed stream (after an IDENTIFY reply that negotiated it).
    pub fn into_compressed(self, mode: Compression) -> CompressedConn {
        let framed = self.framed.expect("handshake first");
        assert!(
            framed.read_buffer().is_empty(),
            "client wrote before the upgrade OK"
        );
        let outbound = match mode {
            Compression::Deflate => {
                Outbound::Deflate(flate2::Compress::new(flate2::Compression::new(6), false))
            }
            Compression::Snappy => {
                Outbound::Snappy(Box::new(snap::write::FrameEncoder::new(Vec::new())))
            }
        };
        CompressedConn {
            read: framed.into_inner(),
            writer: self.writer,
            mode,
            inbound: Vec::new(),
            consumed: 0,
            outbound,
        }
    }
}

impl CompressedConn {
    /// A response frame (`OK`, `_heartbeat_` ...).
    pub async fn respond(&mut self, data: &'static [u8]) {
        self.send(Frame::Response(Bytes::from_static(data))).await;
    }

    pub async fn send(&mut self, frame: Frame) {
        use std::io::Write;
        let mut plain = BytesMut::new();
        frame.encode(&mut plain);
        let bytes = match &mut self.outbound {
            Outbound::Deflate(c) => {
                let mut out = Vec::with_capacity(plain.len() + 64);
                c.compress_vec(&plain, &mut out, flate2::FlushCompress::Sync)
                    .unwrap();
                out
            }
            Outbound::Snappy(enc) => {
                enc.write_all(&plain).unwrap();
                enc.flush().unwrap();
                std::mem::take(enc.get_mut())
            }
        };
        self.writer.write_all(&bytes).await.unwrap();
    }

    /// Everything decodable from the bytes received so far.
    fn plain(&self) -> Vec<u8> {
        use std::io::Read;
        let mut reader: Box<dyn Read + '_> = match self.mode {
            Compression::Deflate => Box::new(flate2::read::DeflateDecoder::new(&self.inbound[..])),
            Compression::Snappy => Box::new(snap::read::FrameDecoder::new(&self.inbound[..])),
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// The next command line (without body) the client sent, NOPs skipped.
    pub async fn next_line(&mut self) -> String {
        loop {
            let plain = self.plain();
            if let Some(pos) = plain[self.consumed..].iter().position(|b| *b == b'\n') {
                let line = String::from_utf8_lossy(&plain[self.consumed..self.consumed + pos])
                    .into_owned();
                self.consumed += pos + 1;
                if line == "NOP" {
                    continue;
                }
                return line;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.read.read(&mut buf))
                .await
                .expect("no compressed command in time")
                .unwrap();
            assert!(n > 0, "EOF on compressed stream");
            self.inbound.extend_from_slice(&buf[..n]);
        }
    }
}

impl FakeConn {
    /// The raw TCP stream (after the plaintext IDENTIFY), for a TLS upgrade.
    pub fn into_tcp(self) -> tokio::net::TcpStream {
        let framed = self.framed.expect("handshake first");
        assert!(
            framed.read_buffer().is_empty(),
            "client wrote before the TLS handshake"
        );
        framed.into_inner().reunite(self.writer).unwrap()
    }
}
