//! What nsqadmin reads from upstream HTTP APIs: nsqd's `/stats?format=json` and `/info`,
//! and nsqlookupd's `/nodes` and `/lookup` (spec/nsqd-http.md §4.8, spec/lookupd.md §4).
//!
//! Every field defaults when absent, so an older or newer nsqd that adds or drops a key
//! still renders; nsqadmin only ever reads these documents.

use serde::{Deserialize, Serialize};

/// nsqd's `/stats?format=json` document.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NsqdStats {
    /// nsqd version, e.g. `1.3.0`.
    pub version: String,
    /// `OK` or `NOK - <error>`.
    pub health: String,
    /// Unix seconds.
    pub start_time: i64,
    /// Topics sorted by name (`null` when a filter matched nothing).
    #[serde(deserialize_with = "null_as_empty")]
    pub topics: Vec<NsqdTopicStats>,
    /// TCP connections that published.
    #[serde(deserialize_with = "null_as_empty")]
    pub producers: Vec<ClientStats>,
}

/// One topic in nsqd's `/stats`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NsqdTopicStats {
    /// Topic name.
    pub topic_name: String,
    /// Channels of the topic.
    #[serde(deserialize_with = "null_as_empty")]
    pub channels: Vec<NsqdChannelStats>,
    /// Memory + disk backlog not yet copied to channels.
    pub depth: i64,
    /// Disk part of `depth`.
    pub backend_depth: i64,
    /// Messages accepted since start.
    pub message_count: i64,
    /// Body bytes accepted since start.
    pub message_bytes: i64,
    /// Topic paused.
    pub paused: bool,
    /// End-to-end latency.
    pub e2e_processing_latency: Latency,
}

/// One channel in nsqd's `/stats`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NsqdChannelStats {
    /// Channel name.
    pub channel_name: String,
    /// Memory + disk queue.
    pub depth: i64,
    /// Disk part of `depth`.
    pub backend_depth: i64,
    /// Delivered, not yet finished.
    pub in_flight_count: i64,
    /// Waiting on a defer or requeue delay.
    pub deferred_count: i64,
    /// Messages received from the topic.
    pub message_count: i64,
    /// REQs.
    pub requeue_count: i64,
    /// In-flight timeouts.
    pub timeout_count: i64,
    /// Subscribed connections.
    pub client_count: i64,
    /// Subscribed connections in detail (`null` without `include_clients`).
    #[serde(deserialize_with = "null_as_empty")]
    pub clients: Vec<ClientStats>,
    /// Channel paused.
    pub paused: bool,
    /// End-to-end latency.
    pub e2e_processing_latency: Latency,
}

/// A client connection as nsqd reports it (channel consumers and producers alike).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ClientStats {
    /// IDENTIFY `client_id`.
    pub client_id: String,
    /// IDENTIFY `hostname`.
    pub hostname: String,
    /// Protocol version, `V2`.
    pub version: String,
    /// `ip:port` of the client.
    pub remote_address: String,
    /// 0 init, 3 subscribed, 4 closing.
    pub state: i64,
    /// Current RDY.
    pub ready_count: i64,
    /// Messages in flight to this client.
    pub in_flight_count: i64,
    /// Messages sent to this client.
    pub message_count: i64,
    /// FINs.
    pub finish_count: i64,
    /// REQs.
    pub requeue_count: i64,
    /// Connect time, Unix seconds.
    pub connect_ts: i64,
    /// IDENTIFY `sample_rate`.
    pub sample_rate: i64,
    /// Deflate negotiated.
    pub deflate: bool,
    /// Snappy negotiated.
    pub snappy: bool,
    /// IDENTIFY `user_agent`.
    pub user_agent: String,
    /// AUTH succeeded.
    pub authed: bool,
    /// AUTH identity.
    pub auth_identity: String,
    /// AUTH identity URL.
    pub auth_identity_url: String,
    /// TLS negotiated.
    pub tls: bool,
    /// TLS cipher suite.
    pub tls_cipher_suite: String,
    /// TLS version.
    pub tls_version: String,
    /// Topics this connection published to, with counts.
    #[serde(deserialize_with = "null_as_empty")]
    pub pub_counts: Vec<PubCount>,
}

/// A `pub_counts` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct PubCount {
    /// Topic.
    pub topic: String,
    /// Messages published to it.
    pub count: i64,
}

/// nsqd's end-to-end latency object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Latency {
    /// Samples.
    pub count: i64,
    /// Quantiles (`null` when disabled).
    #[serde(deserialize_with = "null_as_empty")]
    pub percentiles: Vec<Percentile>,
}

/// One quantile of [`Latency`].
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Percentile {
    /// e.g. 0.99.
    pub quantile: f64,
    /// Nanoseconds.
    pub value: f64,
}

/// nsqd's `/info` (the fields nsqadmin uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NsqdInfo {
    /// Version.
    pub version: String,
    /// Address the nsqd advertises.
    pub broadcast_address: String,
    /// OS hostname.
    pub hostname: String,
    /// HTTP port.
    pub http_port: u16,
    /// TCP port.
    pub tcp_port: u16,
}

/// A producer (nsqd) as lookupd's `/nodes` and `/lookup` list it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LookupdProducer {
    /// nsqd's address as seen by lookupd.
    pub remote_address: String,
    /// OS hostname.
    pub hostname: String,
    /// Advertised address.
    pub broadcast_address: String,
    /// TCP port.
    pub tcp_port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// Version.
    pub version: String,
    /// `/nodes` only: registered topics.
    #[serde(deserialize_with = "null_as_empty")]
    pub topics: Vec<String>,
    /// `/nodes` only: whether the entry on `topics[i]` is tombstoned.
    #[serde(deserialize_with = "null_as_empty")]
    pub tombstones: Vec<bool>,
}

/// lookupd's `/nodes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LookupdNodes {
    /// Active producers.
    #[serde(deserialize_with = "null_as_empty")]
    pub producers: Vec<LookupdProducer>,
}

/// lookupd's `/lookup?topic=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LookupdLookup {
    /// Channels registered for the topic.
    #[serde(deserialize_with = "null_as_empty")]
    pub channels: Vec<String>,
    /// Producers of the topic.
    #[serde(deserialize_with = "null_as_empty")]
    pub producers: Vec<LookupdProducer>,
}

/// lookupd's `/topics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LookupdTopics {
    /// Topic names.
    #[serde(deserialize_with = "null_as_empty")]
    pub topics: Vec<String>,
}

/// lookupd's `/channels?topic=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LookupdChannels {
    /// Channel names.
    #[serde(deserialize_with = "null_as_empty")]
    pub channels: Vec<String>,
}

/// Go encodes empty slices as `null`; read that as an empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_stats_shape_with_nulls() {
        let text = r#"{"version":"1.3.0","health":"OK","start_time":1700000000,
            "topics":[{"topic_name":"t","channels":[{"channel_name":"c","depth":3,
            "backend_depth":1,"in_flight_count":2,"deferred_count":1,"message_count":9,
            "requeue_count":4,"timeout_count":5,"client_count":1,"clients":null,"paused":true,
            "e2e_processing_latency":{"count":0,"percentiles":null}}],"depth":7,
            "backend_depth":0,"message_count":10,"message_bytes":100,"paused":false,
            "e2e_processing_latency":{"count":0,"percentiles":null}}],
            "memory":{"heap_objects":1},"producers":null}"#;
        let stats: NsqdStats = serde_json::from_str(text).unwrap();
        assert_eq!(stats.topics.len(), 1);
        let channel = &stats.topics[0].channels[0];
        assert_eq!(
            (channel.depth, channel.in_flight_count, channel.paused),
            (3, 2, true)
        );
        assert!(channel.clients.is_empty());
        assert!(stats.producers.is_empty());
    }

    #[test]
    fn null_topics_mean_none() {
        let stats: NsqdStats = serde_json::from_str(r#"{"topics":null}"#).unwrap();
        assert!(stats.topics.is_empty());
    }
}
