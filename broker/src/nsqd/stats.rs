//! Statistics snapshots with the JSON shape (key order, omissions) of nsqd's `/stats`.

use serde::Serialize;

/// End-to-end latency summary: `count` 0 and `null` percentiles unless
/// `--e2e-processing-latency-percentile` is set (see [`crate::nsqd::e2e_latency`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: u64,
    pub percentiles: Option<Vec<Percentile>>,
}

/// One configured quantile and its value in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentile {
    #[serde(serialize_with = "go_float")]
    pub quantile: f64,
    #[serde(serialize_with = "go_float")]
    pub value: f64,
}

/// Writes a float as Go's `encoding/json` does for whole numbers (`1`, `2500000`, not
/// `1.0`); other values as serde_json writes them.
fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT_INT_LIMIT {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// A topic as `/stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicStats {
    pub topic_name: String,
    pub channels: Vec<ChannelStats>,
    pub depth: i64,
    pub backend_depth: i64,
    pub message_count: u64,
    pub message_bytes: u64,
    pub paused: bool,
    pub e2e_processing_latency: LatencyStats,
}

/// A channel as `/stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelStats {
    pub channel_name: String,
    pub depth: i64,
    pub backend_depth: i64,
    pub in_flight_count: i64,
    pub deferred_count: i64,
    pub message_count: u64,
    pub requeue_count: u64,
    pub timeout_count: u64,
    pub client_count: i64,
    /// `None` (JSON `null`) when clients are excluded.
    pub clients: Option<Vec<ClientStats>>,
    pub paused: bool,
    pub e2e_processing_latency: LatencyStats,
}

/// Messages published by a client to one topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PubCount {
    pub topic: String,
    pub count: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A client connection as `/stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientStats {
    pub client_id: String,
    pub hostname: String,
    pub version: String,
    pub remote_address: String,
    pub state: i64,
    pub ready_count: i64,
    pub in_flight_count: i64,
    pub message_count: u64,
    pub finish_count: u64,
    pub requeue_count: u64,
    pub connect_ts: i64,
    pub sample_rate: i32,
    pub deflate: bool,
    pub snappy: bool,
    pub user_agent: String,
    #[serde(skip_serializing_if = "is_false")]
    pub authed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity_url: String,
    pub topology_zone: String,
    pub topology_region: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pub_counts: Vec<PubCount>,
    pub tls: bool,
    pub tls_cipher_suite: String,
    pub tls_version: String,
    pub tls_negotiated_protocol: String,
    pub tls_negotiated_protocol_is_mutual: bool,
}

/// Which topics/channels a stats query selects.
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub topic: Option<String>,
    pub channel: Option<String>,
    pub include_clients: bool,
}
