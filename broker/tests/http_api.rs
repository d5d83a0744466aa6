//! nsqd HTTP API over real HTTP against an embedded nsqd: every endpoint, NSQ's status codes
//! and V1 error bodies, the `/stats` shape, and the effects seen by a real TCP consumer
//! (conformance checklist section G).

use std::time::Duration;

use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use nsq_wire::command::Command;
use nsq_wire::frame::{Frame, FrameDecoder};
use nsq_wire::message::Message;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(5);

struct Fixture {
    nsqd: Nsqd,
    http: reqwest::Client,
    base: String,
}

async fn start_with(configure: impl FnOnce(&mut NsqdOptions)) -> Fixture {
    let mut opts = NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..NsqdOptions::default()
    };
    configure(&mut opts);
    let nsqd = tokio::time::timeout(WAIT, Nsqd::start(opts))
        .await
        .expect("start timed out")
        .expect("start nsqd");
    let base = format!("http://{}", nsqd.http_addr());
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    Fixture { nsqd, http, base }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

/// A finished HTTP exchange.
#[derive(Debug)]
struct Reply {
    status: u16,
    nsq_header: Option<String>,
    content_type: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts a V1 error reply: status, `{"message":"<TEXT>"}`, both headers.
    fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.body,
            format!(r#"{{"message":"{message}"}}"#),
            "{self:?}"
        );
        assert_eq!(
            self.nsq_header.as_deref(),
            Some("nsq; version=1.0"),
            "{self:?}"
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json; charset=utf-8"),
            "{self:?}"
        );
    }

    fn assert_ok(&self, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (200, body), "{self:?}");
        assert_eq!(
            self.nsq_header.as_deref(),
            Some("nsq; version=1.0"),
            "{self:?}"
        );
    }
}

impl Fixture {
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .expect("http request");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_string())
        };
        let nsq_header = header("x-nsq-content-type");
        let content_type = header("content-type");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Reply {
            status,
            nsq_header,
            content_type,
            body,
        }
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        self.request(reqwest::Method::POST, path, body).await
    }

    /// For each `(path, body, status, message)`, in order: `method` on `path` with `body` gets
    /// that V1 error reply.
    async fn assert_errors(&self, method: reqwest::Method, cases: &[(&str, &str, u16, &str)]) {
        for &(path, body, status, message) in cases {
            let reply = self.request(method.clone(), path, body.to_owned()).await;
            assert_eq!(reply.status, status, "{path}");
            reply.assert_error(status, message);
        }
    }

    /// POSTs `body` to `path` and asserts a 200 reply with `expected`.
    async fn post_ok(&self, path: &str, body: &str, expected: &str) {
        self.post(path, body.to_owned()).await.assert_ok(expected);
    }

    async fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path, "").await
    }

    async fn stats(&self, query: &str) -> Value {
        let reply = self.get(&format!("/stats?format=json{query}")).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    async fn channel_stats(&self, topic: &str, channel: &str) -> Value {
        let stats = self
            .stats(&format!("&topic={topic}&channel={channel}"))
            .await;
        stats["topics"][0]["channels"][0].clone()
    }

    async fn consumer(&self, topic: &str, channel: &str, rdy: u64) -> Consumer {
        let mut c = Consumer::connect(self).await;
        c.send(Command::Sub {
            topic: topic.into(),
            channel: channel.into(),
        })
        .await;
        assert_eq!(
            c.next().await,
            Some(Frame::Response(Bytes::from_static(b"OK")))
        );
        c.send(Command::Rdy(rdy)).await;
        c
    }
}

/// A raw NSQ TCP client speaking protocol V2 through nsq-wire.
struct Consumer {
    framed: Framed<TcpStream, FrameDecoder>,
}

impl Consumer {
    async fn connect(f: &Fixture) -> Consumer {
        let mut stream = TcpStream::connect(f.nsqd.tcp_addr()).await.unwrap();
        stream.write_all(&nsq_wire::MAGIC_V2).await.unwrap();
        Consumer {
            framed: Framed::new(stream, FrameDecoder::default()),
        }
    }

    async fn send(&mut self, command: Command) {
        let mut buf = BytesMut::new();
        command.encode(&mut buf);
        self.framed.get_mut().write_all(&buf).await.unwrap();
    }

    /// The next frame that is not a heartbeat; `None` on EOF or after `WAIT`.
    async fn next(&mut self) -> Option<Frame> {
        self.next_within(WAIT).await
    }

    async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            match tokio::time::timeout(wait, self.framed.next()).await {
                Ok(Some(Ok(frame))) if frame.is_heartbeat() => continue,
                Ok(Some(Ok(frame))) => return Some(frame),
                _ => return None,
            }
        }
    }

    async fn message(&mut self) -> Message {
        match self.next().await {
            Some(Frame::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Whether the server closed the connection within `WAIT`.
    async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        let stream = self.framed.get_mut();
        loop {
            match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

// --- /ping, /info, routing ---------------------------------------------------------------

#[tokio::test]
async fn ping_is_plain_ok() {
    let f = start().await;
    let reply = f.get("/ping").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));
    assert_eq!(reply.nsq_header, None, "/ping is not a V1 reply");
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn unhealthy_ping_and_stats_report_the_error() {
    let f = start().await;
    f.nsqd.context().set_health(Some("disk full".into()));
    let reply = f.get("/ping").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (500, "NOK - disk full")
    );
    assert_eq!(f.stats("").await["health"], "NOK - disk full");
    f.nsqd.context().set_health(None);
    assert_eq!(f.get("/ping").await.status, 200);
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn info_reports_version_ports_and_limits_in_go_order() {
    let f = start().await;
    let reply = f.get("/info").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(reply.nsq_header.as_deref(), Some("nsq; version=1.0"));
    let keys: Vec<&str> = reply.body.split('"').skip(1).step_by(2).collect();
    let info = reply.json();
    assert_eq!(info["version"], "1.3.0");
    assert_eq!(info["tcp_port"], f.nsqd.tcp_addr().port());
    assert_eq!(info["http_port"], f.nsqd.http_addr().port());
    assert_eq!(info["max_heartbeat_interval"], 60_000_000_000u64);
    assert_eq!(info["max_output_buffer_size"], 65536);
    assert_eq!(info["max_output_buffer_timeout"], 30_000_000_000u64);
    assert_eq!(info["max_deflate_level"], 6);
    assert!(info["start_time"].as_i64().unwrap() > 1_600_000_000);
    let order = [
        "version",
        "broadcast_address",
        "hostname",
        "http_port",
        "tcp_port",
        "start_time",
        "max_heartbeat_interval",
        "max_output_buffer_size",
        "max_output_buffer_timeout",
        "max_deflate_level",
        "topology_zone",
        "topology_region",
    ];
    let found: Vec<&str> = keys.into_iter().filter(|k| order.contains(k)).collect();
    assert_eq!(found, order);
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let f = start().await;
    f.assert_errors(reqwest::Method::GET, &[("/nope", "", 404, "NOT_FOUND")])
        .await;
    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/put?topic=t", "x", 404, "NOT_FOUND"),
            ("/create_topic?topic=t", "", 404, "NOT_FOUND"),
        ],
    )
    .await;
    f.assert_errors(
        reqwest::Method::GET,
        &[
            ("/pub?topic=t", "", 405, "METHOD_NOT_ALLOWED"),
            ("/topic/create?topic=t", "", 405, "METHOD_NOT_ALLOWED"),
        ],
    )
    .await;
    f.assert_errors(
        reqwest::Method::POST,
        &[("/stats", "", 405, "METHOD_NOT_ALLOWED")],
    )
    .await;
    f.nsqd.shutdown().await;
}

// --- /pub -----------------------------------------------------------------------------------

#[tokio::test]
async fn pub_ok_and_delivered_byte_exact() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 10).await;
    let body = b"hi \x00\xff\n bytes".to_vec();
    f.post("/pub?topic=t", body.clone()).await.assert_ok("OK");
    let msg = consumer.message().await;
    assert_eq!(&msg.body[..], &body[..]);
    assert_eq!(msg.attempts, 1);
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn pub_errors_in_nsq_order() {
    let f = start_with(|o| o.max_msg_size = 10).await;
    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/pub", "hi", 400, "MISSING_ARG_TOPIC"),
            ("/pub?topic=t", "", 400, "MSG_EMPTY"),
            ("/pub", "", 400, "MSG_EMPTY"),
            ("/pub?topic=bad!", "hi", 400, "INVALID_TOPIC"),
            ("/pub?topic=", "hi", 400, "INVALID_TOPIC"),
            ("/pub?topic=t&defer=-1", "hi", 400, "INVALID_DEFER"),
            ("/pub?topic=t&defer=x", "hi", 400, "INVALID_DEFER"),
            ("/pub?topic=t&defer=3600001", "hi", 400, "INVALID_DEFER"),
            ("/pub?topic=%zz", "hi", 400, "INVALID_REQUEST"),
            ("/pub?topic=t", "0123456789a", 413, "MSG_TOO_BIG"),
        ],
    )
    .await;
    f.post_ok("/pub?topic=t", "0123456789", "OK").await;
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn pub_chunked_body_over_limit_is_too_big() {
    let f = start_with(|o| o.max_msg_size = 10).await;
    let mut stream = TcpStream::connect(f.nsqd.http_addr()).await.unwrap();
    let request = "POST /pub?topic=t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
                   Connection: close\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.ends_with(r#"{"message":"MSG_TOO_BIG"}"#),
        "{response}"
    );
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn pub_defer_holds_message_as_deferred() {
    let f = start().await;
    f.post("/channel/create?topic=t&channel=c", "")
        .await
        .assert_error(404, "TOPIC_NOT_FOUND");
    f.post_ok("/topic/create?topic=t", "", "").await;
    f.post_ok("/channel/create?topic=t&channel=c", "", "").await;
    f.post_ok("/pub?topic=t&defer=60000", "later", "OK").await;
    f.post_ok("/pub?topic=t&defer=0", "now", "OK").await;
    let channel = f.channel_stats("t", "c").await;
    assert_eq!(channel["deferred_count"], 1, "{channel}");
    assert_eq!(channel["depth"], 1, "{channel}");
    let mut consumer = f.consumer("t", "c", 10).await;
    assert_eq!(&consumer.message().await.body[..], b"now");
    assert_eq!(consumer.next_within(Duration::from_millis(300)).await, None);
    f.nsqd.shutdown().await;
}

// --- /mpub ----------------------------------------------------------------------------------

#[tokio::test]
async fn mpub_text_mode_splits_lines() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 10).await;
    f.post_ok("/mpub?topic=t", "a\nb\n\nc\r\n", "OK").await;
    let bodies: Vec<Bytes> = [
        consumer.message().await,
        consumer.message().await,
        consumer.message().await,
    ]
    .into_iter()
    .map(|m| m.body)
    .collect();
    assert_eq!(
        bodies,
        vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c\r")]
    );
    assert_eq!(consumer.next_within(Duration::from_millis(200)).await, None);
    f.post_ok("/mpub?topic=t&binary=false", "x\ny", "OK").await;
    assert_eq!(&consumer.message().await.body[..], b"x");
    assert_eq!(&consumer.message().await.body[..], b"y");
    f.post_ok("/mpub?topic=t", "\n\n", "OK").await;
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn mpub_binary_mode() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 10).await;
    let body: &'static [u8] = &[0, 0, 0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b'];
    f.post("/mpub?topic=t&binary=true", body)
        .await
        .assert_ok("OK");
    assert_eq!(&consumer.message().await.body[..], b"a");
    assert_eq!(&consumer.message().await.body[..], b"b");
    // any value other than true/1/false/0 means binary (deprecated behaviour)
    let one: &'static [u8] = &[0, 0, 0, 1, 0, 0, 0, 2, b'\n', b'z'];
    f.post("/mpub?topic=t&binary=yes", one)
        .await
        .assert_ok("OK");
    assert_eq!(&consumer.message().await.body[..], b"\nz");
    f.post("/mpub?topic=t&binary=1", &[0u8, 0, 0, 0][..])
        .await
        .assert_error(413, "BAD_BODY");
    f.post("/mpub?topic=t&binary=1", &[0u8, 0, 0, 1, 0, 0, 0, 9, 1][..])
        .await
        .assert_error(413, "BAD_MESSAGE");
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn mpub_limits_and_topic_created_before_body_checks() {
    let f = start_with(|o| {
        o.max_msg_size = 4;
        o.max_body_size = 12;
    })
    .await;
    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/mpub?topic=big", "0123456789abc", 413, "BODY_TOO_BIG"),
            ("/mpub?topic=t", "ok\ntoolong\n", 413, "MSG_TOO_BIG"),
            ("/mpub", "a", 400, "MISSING_ARG_TOPIC"),
            ("/mpub?topic=b@d", "a", 400, "INVALID_TOPIC"),
        ],
    )
    .await;
    let stats = f.stats("").await;
    let names: Vec<&str> = stats["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["t"],
        "rejected body still created `t`; `big` failed first"
    );
    assert_eq!(stats["topics"][0]["message_count"], 0);
    f.nsqd.shutdown().await;
}

// --- topic administration -------------------------------------------------------------------

#[tokio::test]
async fn topic_admin_routes() {
    let f = start().await;
    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/topic/create", "", 400, "MISSING_ARG_TOPIC"),
            ("/topic/create?topic=bad!", "", 400, "INVALID_TOPIC"),
        ],
    )
    .await;
    f.post_ok("/topic/create?topic=t", "", "").await;
    f.post_ok("/topic/create?topic=t", "", "").await;
    f.post_ok("/pub?topic=t", "one", "OK").await;
    f.post_ok("/pub?topic=t", "two", "OK").await;
    assert_eq!(f.stats("&topic=t").await["topics"][0]["depth"], 2);

    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/topic/empty?topic=missing", "", 404, "TOPIC_NOT_FOUND"),
            ("/topic/empty?topic=bad!", "", 400, "INVALID_TOPIC"),
            ("/topic/empty", "", 400, "MISSING_ARG_TOPIC"),
        ],
    )
    .await;
    f.post_ok("/topic/empty?topic=t", "", "").await;
    assert_eq!(f.stats("&topic=t").await["topics"][0]["depth"], 0);

    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/topic/pause?topic=missing", "", 404, "TOPIC_NOT_FOUND"),
            ("/topic/pause", "", 400, "MISSING_ARG_TOPIC"),
        ],
    )
    .await;
    f.post_ok("/topic/pause?topic=t", "", "").await;
    assert_eq!(f.stats("&topic=t").await["topics"][0]["paused"], true);
    f.post_ok("/topic/unpause?topic=t", "", "").await;
    assert_eq!(f.stats("&topic=t").await["topics"][0]["paused"], false);

    f.assert_errors(
        reqwest::Method::POST,
        &[
            ("/topic/delete?topic=missing", "", 404, "TOPIC_NOT_FOUND"),
            ("/topic/delete?topic=bad!", "", 404, "TOPIC_NOT_FOUND"),
            ("/topic/delete", "", 400, "MISSING_ARG_TOPIC"),
        ],
    )
    .await;
    f.post_ok("/topic/delete?topic=t", "", "").await;
    assert_eq!(f.stats("").await["topics"], serde_json::json!([]));
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn topic_pause_holds_messages_in_topic() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 10).await;
    f.post_ok("/topic/pause?topic=t", "", "").await;
    f.post_ok("/pub?topic=t", "held", "OK").await;
    assert_eq!(consumer.next_within(Duration::from_millis(300)).await, None);
    assert_eq!(f.stats("&topic=t").await["topics"][0]["depth"], 1);
    f.post_ok("/topic/unpause?topic=t", "", "").await;
    assert_eq!(&consumer.message().await.body[..], b"held");
    f.nsqd.shutdown().await;
}

// --- channel administration -----------------------------------------------------------------

#[tokio::test]
async fn channel_admin_argument_checks() {
    let f = start().await;
    f.post_ok("/topic/create?topic=t", "", "").await;
    for route in ["create", "delete", "empty", "pause", "unpause"] {
        let p = |q: &str| format!("/channel/{route}{q}");
        let cases = [
            ("", 400, "MISSING_ARG_TOPIC"),
            ("?topic=bad!&channel=c", 400, "INVALID_ARG_TOPIC"),
            ("?topic=t", 400, "MISSING_ARG_CHANNEL"),
            ("?topic=t&channel=bad!", 400, "INVALID_ARG_CHANNEL"),
            ("?topic=missing&channel=c", 404, "TOPIC_NOT_FOUND"),
            ("?topic=%zz", 400, "INVALID_REQUEST"),
        ];
        for (query, status, message) in cases {
            f.post(&p(query), "").await.assert_error(status, message);
        }
        if route != "create" {
            f.post(&p("?topic=t&channel=missing"), "")
                .await
                .assert_error(404, "CHANNEL_NOT_FOUND");
        }
    }
    f.post_ok("/channel/create?topic=t&channel=c", "", "").await;
    f.post_ok("/channel/create?topic=t&channel=c", "", "").await;
    let channels = &f.stats("&topic=t").await["topics"][0]["channels"];
    assert_eq!(channels.as_array().unwrap().len(), 1);
    f.post_ok("/channel/delete?topic=t&channel=c", "", "").await;
    assert_eq!(
        f.stats("&topic=t").await["topics"][0]["channels"],
        serde_json::json!([])
    );
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn channel_pause_stops_delivery_until_unpause() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 10).await;
    f.post_ok("/channel/pause?topic=t&channel=c", "", "").await;
    f.post_ok("/pub?topic=t", "one", "OK").await;
    f.post_ok("/pub?topic=t", "two", "OK").await;
    assert_eq!(consumer.next_within(Duration::from_millis(300)).await, None);
    let channel = f.channel_stats("t", "c").await;
    assert_eq!(
        (channel["depth"].clone(), channel["paused"].clone()),
        (2.into(), true.into())
    );
    f.post_ok("/channel/unpause?topic=t&channel=c", "", "")
        .await;
    assert_eq!(&consumer.message().await.body[..], b"one");
    assert_eq!(&consumer.message().await.body[..], b"two");
    assert_eq!(f.channel_stats("t", "c").await["paused"], false);
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn channel_empty_drops_queued_and_in_flight() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 1).await;
    f.post_ok("/mpub?topic=t", "1\n2\n3\n4", "OK").await;
    let in_flight = consumer.message().await;
    let channel = f.channel_stats("t", "c").await;
    assert_eq!(
        (channel["depth"].clone(), channel["in_flight_count"].clone()),
        (3.into(), 1.into())
    );
    f.post_ok("/channel/empty?topic=t&channel=c", "", "").await;
    let channel = f.channel_stats("t", "c").await;
    assert_eq!(
        (channel["depth"].clone(), channel["in_flight_count"].clone()),
        (0.into(), 0.into())
    );
    consumer.send(Command::Fin(in_flight.id)).await;
    match consumer.next().await {
        Some(Frame::Error(text)) => assert!(text.starts_with(b"E_FIN_FAILED"), "{text:?}"),
        other => panic!("expected E_FIN_FAILED, got {other:?}"),
    }
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn channel_delete_closes_subscribed_consumer() {
    let f = start().await;
    let mut consumer = f.consumer("t", "c", 1).await;
    f.post_ok("/channel/delete?topic=t&channel=c", "", "").await;
    assert!(consumer.closed().await, "consumer socket closed");
    f.nsqd.shutdown().await;
}

// --- /stats ---------------------------------------------------------------------------------

/// JSON with object key order preserved (serde_json's `Map` sorts keys unless the
/// `preserve_order` feature is on), to check that keys come in Go's order.
#[derive(Debug)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar,
}

impl Ordered {
    fn parse(text: &str) -> Ordered {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn keys(&self) -> Vec<String> {
        match self {
            Ordered::Object(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn get(&self, key: &str) -> &Ordered {
        match self {
            Ordered::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key}")),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn at(&self, index: usize) -> &Ordered {
        match self {
            Ordered::Array(items) => &items[index],
            other => panic!("not an array: {other:?}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Ordered>()? {
            entries.push(entry);
        }
        Ok(Ordered::Object(entries))
    }
}

#[tokio::test]
async fn stats_json_shape_and_filters() {
    let f = start().await;
    let _consumer = f.consumer("t", "c", 1).await;
    let mut producer = Consumer::connect(&f).await;
    producer
        .send(Command::Pub {
            topic: "t".into(),
            body: Bytes::from("x"),
        })
        .await;
    assert_eq!(
        producer.next().await,
        Some(Frame::Response(Bytes::from_static(b"OK")))
    );
    f.post_ok("/topic/create?topic=other", "", "").await;

    let raw = f.get("/stats?format=json").await;
    assert_eq!(raw.status, 200);
    assert!(
        raw.body
            .starts_with(r#"{"version":"1.3.0","health":"OK","start_time":"#),
        "{}",
        raw.body
    );
    let stats = raw.json();
    let ordered = Ordered::parse(&raw.body);
    assert_eq!(
        ordered.keys(),
        [
            "version",
            "health",
            "start_time",
            "topics",
            "memory",
            "producers"
        ]
        .map(String::from)
    );
    let topics = stats["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0]["topic_name"], "other", "sorted by name");
    let topic = &topics[1];
    let topic_keys = [
        "topic_name",
        "channels",
        "depth",
        "backend_depth",
        "message_count",
        "message_bytes",
        "paused",
        "e2e_processing_latency",
    ];
    let ordered_topic = ordered.get("topics").at(1);
    assert_eq!(ordered_topic.keys(), topic_keys.map(String::from));
    assert_eq!(
        topic["e2e_processing_latency"],
        serde_json::json!({"count":0,"percentiles":null})
    );
    let channel = &topic["channels"][0];
    let channel_keys = [
        "channel_name",
        "depth",
        "backend_depth",
        "in_flight_count",
        "deferred_count",
        "message_count",
        "requeue_count",
        "timeout_count",
        "client_count",
        "clients",
        "paused",
        "e2e_processing_latency",
    ];
    let ordered_channel = ordered_topic.get("channels").at(0);
    assert_eq!(ordered_channel.keys(), channel_keys.map(String::from));
    assert_eq!(channel["client_count"], 1);
    let client = &channel["clients"][0];
    let client_keys = [
        "client_id",
        "hostname",
        "version",
        "remote_address",
        "state",
        "ready_count",
        "in_flight_count",
        "message_count",
        "finish_count",
        "requeue_count",
        "connect_ts",
        "sample_rate",
        "deflate",
        "snappy",
        "user_agent",
        "topology_zone",
        "topology_region",
        "tls",
        "tls_cipher_suite",
        "tls_version",
        "tls_negotiated_protocol",
        "tls_negotiated_protocol_is_mutual",
    ];
    let ordered_client = ordered_channel.get("clients").at(0);
    assert_eq!(ordered_client.keys(), client_keys.map(String::from));
    assert_eq!(client["version"], "V2");
    assert_eq!(client["state"], 3);
    let producers = stats["producers"].as_array().unwrap();
    assert_eq!(producers.len(), 1, "only the TCP publisher: {stats}");
    assert_eq!(
        producers[0]["pub_counts"],
        serde_json::json!([{"topic":"t","count":1}])
    );
    let memory_keys = [
        "heap_objects",
        "heap_idle_bytes",
        "heap_in_use_bytes",
        "heap_released_bytes",
        "gc_pause_usec_100",
        "gc_pause_usec_99",
        "gc_pause_usec_95",
        "next_gc_bytes",
        "gc_total_runs",
    ];
    assert_eq!(ordered.get("memory").keys(), memory_keys.map(String::from));

    let no_mem = f.stats("&include_mem=false").await;
    assert!(
        no_mem.get("memory").is_none(),
        "memory key absent: {no_mem}"
    );
    let no_clients = f.stats("&include_clients=false&topic=t").await;
    let channel = &no_clients["topics"][0]["channels"][0];
    assert_eq!(
        (channel["clients"].clone(), channel["client_count"].clone()),
        (Value::Null, 1.into())
    );
    assert_eq!(no_clients["producers"], Value::Null);
    let fallback_true = f.stats("&include_clients=maybe&topic=t").await;
    assert!(fallback_true["topics"][0]["channels"][0]["clients"].is_array());

    assert_eq!(f.stats("&topic=missing").await["topics"], Value::Null);
    let by_channel = f.stats("&channel=c").await;
    assert_eq!(
        by_channel["topics"].as_array().unwrap().len(),
        1,
        "`other` lacks channel c"
    );
    assert_eq!(
        f.stats("&topic=t&channel=zzz").await["topics"],
        serde_json::json!([])
    );
    f.nsqd.shutdown().await;
}

#[tokio::test]
async fn stats_text_format() {
    let f = start().await;
    let empty = f.get("/stats").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.starts_with("nsqd v1.3.0"), "{}", empty.body);
    assert!(empty.body.contains("\nHealth: OK\n"));
    assert!(empty.body.contains("\nTopics: None\n"));
    assert!(empty.body.ends_with("\nProducers: None\n"));
    f.post_ok("/pub?topic=t", "x", "OK").await;
    f.post_ok("/channel/create?topic=t&channel=c", "", "").await;
    f.post_ok("/channel/pause?topic=t&channel=c", "", "").await;
    // the topic hands its backlog to the new channel asynchronously
    let mut text = String::new();
    for _ in 0..100 {
        text = f.get("/stats?format=text&include_mem=false").await.body;
        if text.contains("] depth: 1 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text.contains("\n   [t              ] depth: 0     be-depth: 0     msgs: 1 "),
        "{text}"
    );
    assert!(
        text.contains("\n   *P [c                        ] depth: 1 "),
        "{text}"
    );
    assert!(!text.contains("Memory:"));
    f.nsqd.shutdown().await;
}

// --- /config --------------------------------------------------------------------------------

#[tokio::test]
async fn put_lookupd_addresses_connects_to_that_lookupd() {
    let lookupd = broker::lookupd::Lookupd::start(broker::lookupd::LookupdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap();
    let f = start().await;
    f.get("/config/nsqlookupd_tcp_addresses")
        .await
        .assert_ok("[]");
    let list = format!(r#"["{}"]"#, lookupd.tcp_addr());
    f.request(
        reqwest::Method::PUT,
        "/config/nsqlookupd_tcp_addresses",
        list.clone(),
    )
    .await
    .assert_ok(&list);
    f.get("/config/nsqlookupd_tcp_addresses")
        .await
        .assert_ok(&list);
    // the nsqd registers: it shows up in lookupd's /nodes with our TCP port
    let nodes_url = format!("http://{}/nodes", lookupd.http_addr());
    let mut nodes = Value::Null;
    for _ in 0..250 {
        nodes = f
            .http
            .get(&nodes_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if nodes["producers"].as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        nodes["producers"][0]["tcp_port"],
        f.nsqd.tcp_addr().port(),
        "{nodes}"
    );
    f.request(
        reqwest::Method::PUT,
        "/config/nsqlookupd_tcp_addresses",
        "[]",
    )
    .await
    .assert_ok("[]");
    f.nsqd.shutdown().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn config_get_and_put_validation() {
    let f = start_with(|o| o.broadcast_address = "myhost".into()).await;
    f.get("/config/nsqlookupd_tcp_addresses")
        .await
        .assert_ok("[]");
    f.get("/config/broadcast_address").await.assert_ok("myhost");
    f.get("/config/msg_timeout").await.assert_ok("60000000000");
    f.get("/config/mem_queue_size").await.assert_ok("10000");
    f.get("/config/log_level").await.assert_ok("2");
    f.get("/config/nope")
        .await
        .assert_error(400, "INVALID_OPTION");
    for (opt, body, status, message) in [
        ("foo", "1", 400, "INVALID_OPTION"),
        ("log_level", "", 413, "INVALID_VALUE"),
        ("log_level", "loud", 400, "INVALID_VALUE"),
        (
            "nsqlookupd_tcp_addresses",
            "127.0.0.1:4160",
            400,
            "INVALID_VALUE",
        ),
    ] {
        f.request(reqwest::Method::PUT, &format!("/config/{opt}"), body)
            .await
            .assert_error(status, message);
    }
    f.post("/config/log_level", "debug")
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    f.nsqd.shutdown().await;
}
