//! Test helpers for nsqlookupd: an embedded lookupd on loopback port 0, a raw lookup
//! protocol V1 client that plays a fake nsqd, and small HTTP helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use broker::lookupd::{Lookupd, LookupdOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[allow(clippy::duplicate_mod)] // a test crate may load it through several support modules
#[path = "../embedded/mod.rs"]
pub mod embedded;
use embedded::*;

/// Upper bound for any single network wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Starts a lookupd on loopback with the given timeouts.
pub async fn start_lookupd(inactive: Duration, tombstone: Duration) -> Lookupd {
    launch_lookupd(LookupdOptions {
        inactive_producer_timeout: inactive,
        tombstone_lifetime: tombstone,
        ..lookupd_opts()
    })
    .await
}

/// Starts a lookupd with Go's default timeouts.
pub async fn default_lookupd() -> Lookupd {
    start_lookupd(Duration::from_secs(300), Duration::from_secs(45)).await
}

/// A raw lookup protocol connection (a fake nsqd).
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    /// Connects and sends the `"  V1"` magic.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut client = Self::connect_without_magic(addr).await;
        client.send(b"  V1").await;
        client
    }

    /// Connects without sending anything.
    pub async fn connect_without_magic(addr: SocketAddr) -> Self {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Self { stream }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        timeout(WAIT, self.stream.write_all(bytes))
            .await
            .unwrap()
            .unwrap();
    }

    /// Reads one `[u32 size][data]` reply.
    pub async fn read_reply(&mut self) -> Vec<u8> {
        let size = timeout(WAIT, self.stream.read_u32())
            .await
            .unwrap()
            .unwrap();
        let mut data = vec![0; size as usize];
        timeout(WAIT, self.stream.read_exact(&mut data))
            .await
            .unwrap()
            .unwrap();
        data
    }

    /// Connects, sends the magic and IDENTIFYs as an nsqd with these ports.
    pub async fn identified(addr: SocketAddr, tcp_port: u16, http_port: u16) -> Self {
        let mut client = Self::connect(addr).await;
        client.identify(tcp_port, http_port).await;
        client
    }

    /// Sends each command line and asserts that every reply is `OK`.
    pub async fn expect_ok(&mut self, lines: &[&str]) {
        for line in lines {
            assert_eq!(self.command(line).await, "OK", "{line:?}");
        }
    }

    /// This connection's local address, which lookupd reports as `remote_address`.
    pub fn local_id(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    /// Sends a command line and reads the reply as text.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes()).await;
        String::from_utf8(self.read_reply().await).unwrap()
    }

    /// Sends IDENTIFY with `body` and reads the reply as text.
    pub async fn identify_raw(&mut self, body: &str) -> String {
        let mut bytes = b"IDENTIFY\n".to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(body.as_bytes());
        self.send(&bytes).await;
        String::from_utf8(self.read_reply().await).unwrap()
    }

    /// IDENTIFYs as an nsqd with these ports; returns the JSON reply.
    pub async fn identify(&mut self, tcp_port: u16, http_port: u16) -> Value {
        let reply = self.identify_raw(&peer_json(tcp_port, http_port)).await;
        serde_json::from_str(&reply).unwrap()
    }

    /// Sends a command line, expects the error `text` and then the server closing.
    pub async fn expect_fatal(&mut self, line: &str, text: &str) {
        assert_eq!(self.command(line).await, text, "{line:?}");
        self.expect_closed().await;
    }

    /// Asserts the server closes the connection without sending more.
    pub async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        let read = timeout(WAIT, self.stream.read_to_end(&mut rest))
            .await
            .unwrap();
        // A reset also means closed; either way nothing further may arrive.
        if read.is_ok() {
            assert!(rest.is_empty(), "unexpected data: {rest:?}");
        }
    }
}

/// An nsqd's IDENTIFY body.
pub fn peer_json(tcp_port: u16, http_port: u16) -> String {
    serde_json::json!({
        "broadcast_address": "127.0.0.1",
        "hostname": "test-host",
        "tcp_port": tcp_port,
        "http_port": http_port,
        "version": "1.3.0",
        "topology_zone": "",
        "topology_region": "",
    })
    .to_string()
}

/// An HTTP reply: status, X-NSQ-Content-Type, Content-Type, body text.
pub struct Reply {
    pub status: u16,
    pub nsq_content_type: Option<String>,
    pub content_type: Option<String>,
    pub allow: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub async fn http(method: &str, addr: SocketAddr, path_and_query: &str) -> Reply {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let request = client.request(method, format!("http://{addr}{path_and_query}"));
    let response = timeout(WAIT, request.send()).await.unwrap().unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (nsq_content_type, content_type, allow) = (
        header("x-nsq-content-type"),
        header("content-type"),
        header("allow"),
    );
    let status = response.status().as_u16();
    let body = timeout(WAIT, response.text()).await.unwrap().unwrap();
    Reply {
        status,
        nsq_content_type,
        content_type,
        allow,
        body,
    }
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> Reply {
    http("GET", addr, path_and_query).await
}

pub async fn post(addr: SocketAddr, path_and_query: &str) -> Reply {
    http("POST", addr, path_and_query).await
}

/// `/lookup?topic=<topic>`'s producers mapped through `field`, sorted; empty on 404.
pub async fn lookup_producers_by<T: Ord>(
    addr: SocketAddr,
    topic: &str,
    field: impl Fn(&Value) -> T,
) -> Vec<T> {
    let reply = get(addr, &format!("/lookup?topic={topic}")).await;
    if reply.status == 404 {
        return Vec::new();
    }
    let mut found: Vec<T> = reply.json()["producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(field)
        .collect();
    found.sort();
    found
}

/// The `remote_address`es of `/lookup?topic=<topic>`'s producers (sorted); empty on 404.
pub async fn lookup_producers(addr: SocketAddr, topic: &str) -> Vec<String> {
    lookup_producers_by(addr, topic, |p| {
        p["remote_address"].as_str().unwrap().to_owned()
    })
    .await
}

/// `/channels?topic=<topic>`, sorted.
pub async fn channels_of(addr: SocketAddr, topic: &str) -> Vec<String> {
    let reply = get(addr, &format!("/channels?topic={topic}")).await;
    sorted(&reply.json(), "channels")
}

/// `/topics`, sorted.
pub async fn topics_of(addr: SocketAddr) -> Vec<String> {
    sorted(&get(addr, "/topics").await.json(), "topics")
}

/// The `/nodes` producer whose `key` equals `value`.
pub async fn node_where(addr: SocketAddr, key: &str, value: u16) -> Value {
    let nodes = get(addr, "/nodes").await.json();
    nodes["producers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n[key] == value)
        .unwrap_or_else(|| panic!("no node with {key} {value} in {nodes}"))
        .clone()
}

/// The number of producers in `/nodes`.
pub async fn node_count(addr: SocketAddr) -> usize {
    let nodes = get(addr, "/nodes").await.json();
    nodes["producers"].as_array().unwrap().len()
}

/// Sorted string list of `json[key]`.
pub fn sorted(json: &Value, key: &str) -> Vec<String> {
    let mut list: Vec<String> = json[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not a list in {json}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

/// Polls `check` every 20 ms until it returns true, failing after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polled = timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting for: {what}");
}
