//! Test helpers for nsqadmin: a scripted fake nsqd HTTP API (the `/info`, `/stats` and
//! admin routes of spec/nsqd-http.md) that records the admin calls it receives, registered
//! in a real embedded lookupd through the lookup protocol.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// One channel's state in the fake.
#[derive(Debug, Clone, Default)]
pub struct FakeChannel {
    pub depth: i64,
    pub in_flight: i64,
    pub paused: bool,
    pub clients: usize,
}

/// The fake's topics: topic → (depth, paused, channels).
#[derive(Debug, Default)]
pub struct FakeState {
    pub topics: BTreeMap<String, (i64, bool, BTreeMap<String, FakeChannel>)>,
    /// Admin calls received, e.g. `POST /channel/pause topic=t channel=c`.
    pub calls: Vec<String>,
}

/// A running fake nsqd HTTP server.
pub struct FakeNsqd {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    pub hostname: String,
}

impl FakeNsqd {
    pub async fn start(hostname: &str, state: FakeState) -> Self {
        let state = Arc::new(Mutex::new(state));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = (Arc::clone(&state), hostname.to_owned(), addr.port());
        let app = Router::new()
            .route("/info", get(info))
            .route("/stats", get(stats))
            .route("/:kind/:action", post(admin))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            state,
            hostname: hostname.to_owned(),
        }
    }

    /// `127.0.0.1:<http port>`: the node id nsqadmin uses.
    pub fn node(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn channel_paused(&self, topic: &str, channel: &str) -> bool {
        self.state.lock().unwrap().topics[topic].2[channel].paused
    }
}

type Shared = State<(Arc<Mutex<FakeState>>, String, u16)>;

async fn info(State((_, hostname, port)): Shared) -> Json<Value> {
    Json(
        json!({"version":"1.3.0","broadcast_address":"127.0.0.1","hostname":hostname,
        "http_port":port,"tcp_port":4150,"start_time":0}),
    )
}

async fn stats(
    State((state, _, _)): Shared,
    Query(q): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let state = state.lock().unwrap();
    let topics: Vec<Value> = state
        .topics
        .iter()
        .filter(|(name, _)| q.get("topic").is_none_or(|t| t == *name))
        .map(|(name, (depth, paused, channels))| {
            let channels: Vec<Value> = channels
                .iter()
                .map(|(cname, c)| {
                    let clients: Vec<Value> = (0..c.clients)
                        .map(|i| json!({"client_id": format!("consumer-{i}"), "hostname": "worker",
                            "version":"V2","remote_address": format!("127.0.0.1:{}", 50000 + i),
                            "state":3,"ready_count":10,"in_flight_count":1,"message_count":7,
                            "finish_count":6,"requeue_count":0,"connect_ts":1700000000,
                            "sample_rate":0,"deflate":false,"snappy":true,"user_agent":"go-nsq/1.1.0",
                            "tls":false,"tls_cipher_suite":"","tls_version":""}))
                        .collect();
                    json!({"channel_name": cname, "depth": c.depth, "backend_depth": 0,
                        "in_flight_count": c.in_flight, "deferred_count": 0, "message_count": 10,
                        "requeue_count": 1, "timeout_count": 2, "client_count": c.clients,
                        "clients": clients, "paused": c.paused,
                        "e2e_processing_latency": {"count":0,"percentiles":null}})
                })
                .collect();
            json!({"topic_name": name, "channels": channels, "depth": depth, "backend_depth": 0,
                "message_count": 10, "message_bytes": 100, "paused": paused,
                "e2e_processing_latency": {"count":0,"percentiles":null}})
        })
        .collect();
    Json(json!({"version":"1.3.0","health":"OK","start_time":0,"topics":topics,"producers":null}))
}

async fn admin(
    State((state, _, _)): Shared,
    axum::extract::Path((kind, action)): axum::extract::Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let topic = q.get("topic").cloned().unwrap_or_default();
    let channel = q.get("channel").cloned().unwrap_or_default();
    state.calls.push(
        format!("POST /{kind}/{action} topic={topic} channel={channel}")
            .trim_end()
            .to_owned(),
    );
    let Some(entry) = state.topics.get_mut(&topic) else {
        if kind == "topic" && action == "create" {
            state.topics.insert(topic, (0, false, BTreeMap::new()));
            return StatusCode::OK.into_response();
        }
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message":"TOPIC_NOT_FOUND"})),
        )
            .into_response();
    };
    match (kind.as_str(), action.as_str()) {
        ("topic", "pause") => entry.1 = true,
        ("topic", "unpause") => entry.1 = false,
        ("topic", "empty") => entry.0 = 0,
        ("topic", "delete") => {
            state.topics.remove(&topic);
        }
        ("channel", "create") => {
            entry.2.entry(channel).or_default();
        }
        ("channel", action) => {
            let Some(c) = entry.2.get_mut(&channel) else {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({"message":"CHANNEL_NOT_FOUND"})),
                )
                    .into_response();
            };
            match action {
                "pause" => c.paused = true,
                "unpause" => c.paused = false,
                "empty" => {
                    c.depth = 0;
                    c.in_flight = 0;
                }
                "delete" => {
                    entry.2.remove(&channel);
                }
                _ => return StatusCode::NOT_FOUND.into_response(),
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    }
    StatusCode::OK.into_response()
}

/// A fake state with topic `orders` (depth `topic_depth`) and channel `billing`.
pub fn orders_state(topic_depth: i64, channel_depth: i64, clients: usize) -> FakeState {
    let mut channels = BTreeMap::new();
    channels.insert(
        "billing".to_owned(),
        FakeChannel {
            depth: channel_depth,
            in_flight: 1,
            paused: false,
            clients,
        },
    );
    let mut state = FakeState::default();
    state
        .topics
        .insert("orders".to_owned(), (topic_depth, false, channels));
    state
}
