//! The cluster view nsqadmin serves (Go's `internal/clusterinfo` types and JSON names):
//! producers (nsqd nodes) and topic/channel statistics summed over nodes, each keeping its
//! per-node breakdown in `nodes`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stats::{ClientStats, Latency, NsqdStats, Percentile};

/// One topic registration of a producer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProducerTopic {
    /// Topic name.
    pub topic: String,
    /// Tombstoned in some lookupd.
    pub tombstoned: bool,
}

/// An nsqd node, merged over every lookupd that knows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Producer {
    /// The node's address as each lookupd sees it (one per lookupd connection).
    pub remote_addresses: Vec<String>,
    /// The first of `remote_addresses`.
    pub remote_address: String,
    /// OS hostname.
    pub hostname: String,
    /// Advertised address.
    pub broadcast_address: String,
    /// TCP port.
    pub tcp_port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// nsqd version.
    pub version: String,
    /// Registered topics, sorted.
    pub topics: Vec<ProducerTopic>,
    /// Older than the newest version in the cluster.
    pub out_of_date: bool,
    /// Where nsqadmin sends HTTP requests for this node (not part of Go's JSON).
    #[serde(skip)]
    pub api_address: String,
}

impl Producer {
    /// `broadcast_address:http_port`, the node's identity in nsqadmin URLs.
    pub fn http_address(&self) -> String {
        join_host_port(&self.broadcast_address, self.http_port)
    }

    /// `broadcast_address:tcp_port`.
    pub fn tcp_address(&self) -> String {
        join_host_port(&self.broadcast_address, self.tcp_port)
    }
}

/// Go's `net.JoinHostPort`: IPv6 literals get brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A topic's statistics: per node (`node` = the node's HTTP address) or summed (`node` = `*`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicStats {
    /// Node HTTP address, or `*` for the sum.
    pub node: String,
    /// Node hostname (empty for the sum).
    pub hostname: String,
    /// Topic name.
    pub topic_name: String,
    /// Backlog not yet copied to channels.
    pub depth: i64,
    /// Memory part of `depth`.
    pub memory_depth: i64,
    /// Disk part of `depth`.
    pub backend_depth: i64,
    /// Messages accepted.
    pub message_count: i64,
    /// Bytes accepted.
    pub message_bytes: i64,
    /// Per-node breakdown (empty on per-node entries).
    pub nodes: Vec<TopicStats>,
    /// Channels (summed over nodes on the sum).
    pub channels: Vec<ChannelStats>,
    /// Paused on any node.
    pub paused: bool,
    /// End-to-end latency (max per quantile over nodes).
    pub e2e_processing_latency: Latency,
}

/// A channel's statistics, per node or summed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelStats {
    /// Node HTTP address, or `*`.
    pub node: String,
    /// Node hostname.
    pub hostname: String,
    /// Topic name.
    pub topic_name: String,
    /// Channel name.
    pub channel_name: String,
    /// Queued (memory + disk).
    pub depth: i64,
    /// Memory part.
    pub memory_depth: i64,
    /// Disk part.
    pub backend_depth: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// Deferred.
    pub deferred_count: i64,
    /// Requeued.
    pub requeue_count: i64,
    /// Timed out.
    pub timeout_count: i64,
    /// Messages received.
    pub message_count: i64,
    /// Connected consumers.
    pub client_count: i64,
    /// Per-node breakdown.
    pub nodes: Vec<ChannelStats>,
    /// Consumers.
    pub clients: Vec<ClientInfo>,
    /// Paused on any node.
    pub paused: bool,
    /// End-to-end latency.
    pub e2e_processing_latency: Latency,
}

/// A consumer connection with its negotiated settings, tagged with its node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientInfo {
    /// Node HTTP address.
    pub node: String,
    /// Client address.
    pub remote_address: String,
    /// Protocol version.
    pub version: String,
    /// IDENTIFY client id.
    pub client_id: String,
    /// IDENTIFY hostname.
    pub hostname: String,
    /// IDENTIFY user agent.
    pub user_agent: String,
    /// Connect time, Unix seconds.
    pub connect_ts: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// RDY.
    pub ready_count: i64,
    /// FINs.
    pub finish_count: i64,
    /// REQs.
    pub requeue_count: i64,
    /// Messages sent.
    pub message_count: i64,
    /// Sample rate.
    pub sample_rate: i64,
    /// Deflate.
    pub deflate: bool,
    /// Snappy.
    pub snappy: bool,
    /// Authenticated.
    pub authed: bool,
    /// AUTH identity.
    pub auth_identity: String,
    /// AUTH identity URL.
    pub auth_identity_url: String,
    /// TLS.
    pub tls: bool,
    /// TLS cipher suite.
    pub tls_cipher_suite: String,
    /// TLS version.
    pub tls_version: String,
}

impl ClientInfo {
    fn from_stats(node: &str, client: &ClientStats) -> Self {
        Self {
            node: node.to_owned(),
            remote_address: client.remote_address.clone(),
            version: client.version.clone(),
            client_id: client.client_id.clone(),
            hostname: client.hostname.clone(),
            user_agent: client.user_agent.clone(),
            connect_ts: client.connect_ts,
            in_flight_count: client.in_flight_count,
            ready_count: client.ready_count,
            finish_count: client.finish_count,
            requeue_count: client.requeue_count,
            message_count: client.message_count,
            sample_rate: client.sample_rate,
            deflate: client.deflate,
            snappy: client.snappy,
            authed: client.authed,
            auth_identity: client.auth_identity.clone(),
            auth_identity_url: client.auth_identity_url.clone(),
            tls: client.tls,
            tls_cipher_suite: client.tls_cipher_suite.clone(),
            tls_version: client.tls_version.clone(),
        }
    }
}

/// The per-node topic entries of one nsqd's `/stats`.
pub fn node_topics(producer: &Producer, stats: &NsqdStats) -> Vec<TopicStats> {
    let node = producer.http_address();
    stats
        .topics
        .iter()
        .map(|topic| TopicStats {
            node: node.clone(),
            hostname: producer.hostname.clone(),
            topic_name: topic.topic_name.clone(),
            depth: topic.depth,
            memory_depth: topic.depth - topic.backend_depth,
            backend_depth: topic.backend_depth,
            message_count: topic.message_count,
            message_bytes: topic.message_bytes,
            nodes: Vec::new(),
            channels: topic
                .channels
                .iter()
                .map(|channel| ChannelStats {
                    node: node.clone(),
                    hostname: producer.hostname.clone(),
                    topic_name: topic.topic_name.clone(),
                    channel_name: channel.channel_name.clone(),
                    depth: channel.depth,
                    memory_depth: channel.depth - channel.backend_depth,
                    backend_depth: channel.backend_depth,
                    in_flight_count: channel.in_flight_count,
                    deferred_count: channel.deferred_count,
                    requeue_count: channel.requeue_count,
                    timeout_count: channel.timeout_count,
                    message_count: channel.message_count,
                    client_count: channel.client_count,
                    nodes: Vec::new(),
                    clients: channel
                        .clients
                        .iter()
                        .map(|client| ClientInfo::from_stats(&node, client))
                        .collect(),
                    paused: channel.paused,
                    e2e_processing_latency: channel.e2e_processing_latency.clone(),
                })
                .collect(),
            paused: topic.paused,
            e2e_processing_latency: topic.e2e_processing_latency.clone(),
        })
        .collect()
}

/// Sums per-node topic entries into one entry per topic (sorted by name), keeping the
/// breakdown in `nodes` (topics) and in each channel's `nodes`.
pub fn sum_topics(per_node: Vec<TopicStats>) -> Vec<TopicStats> {
    let mut by_name: BTreeMap<String, TopicStats> = BTreeMap::new();
    for node_topic in per_node {
        let sum = by_name
            .entry(node_topic.topic_name.clone())
            .or_insert_with(|| TopicStats {
                node: "*".into(),
                topic_name: node_topic.topic_name.clone(),
                ..TopicStats::default()
            });
        add_topic(sum, node_topic);
    }
    by_name.into_values().collect()
}

fn add_topic(sum: &mut TopicStats, node_topic: TopicStats) {
    sum.depth += node_topic.depth;
    sum.memory_depth += node_topic.memory_depth;
    sum.backend_depth += node_topic.backend_depth;
    sum.message_count += node_topic.message_count;
    sum.message_bytes += node_topic.message_bytes;
    sum.paused |= node_topic.paused;
    merge_latency(
        &mut sum.e2e_processing_latency,
        &node_topic.e2e_processing_latency,
    );
    for channel in &node_topic.channels {
        let position = sum
            .channels
            .iter()
            .position(|c| c.channel_name == channel.channel_name);
        let summed = match position {
            Some(index) => &mut sum.channels[index],
            None => {
                sum.channels.push(ChannelStats {
                    node: "*".into(),
                    topic_name: channel.topic_name.clone(),
                    channel_name: channel.channel_name.clone(),
                    ..ChannelStats::default()
                });
                let last = sum.channels.len() - 1;
                &mut sum.channels[last]
            }
        };
        add_channel(summed, channel.clone());
    }
    sum.channels
        .sort_by(|a, b| a.channel_name.cmp(&b.channel_name));
    sum.nodes.push(TopicStats {
        channels: Vec::new(),
        ..node_topic
    });
    sum.nodes
        .sort_by(|a, b| (&a.hostname, &a.node).cmp(&(&b.hostname, &b.node)));
}

fn add_channel(sum: &mut ChannelStats, node_channel: ChannelStats) {
    sum.depth += node_channel.depth;
    sum.memory_depth += node_channel.memory_depth;
    sum.backend_depth += node_channel.backend_depth;
    sum.in_flight_count += node_channel.in_flight_count;
    sum.deferred_count += node_channel.deferred_count;
    sum.requeue_count += node_channel.requeue_count;
    sum.timeout_count += node_channel.timeout_count;
    sum.message_count += node_channel.message_count;
    sum.client_count += node_channel.client_count;
    sum.paused |= node_channel.paused;
    merge_latency(
        &mut sum.e2e_processing_latency,
        &node_channel.e2e_processing_latency,
    );
    sum.clients.extend(node_channel.clients.iter().cloned());
    sum.clients
        .sort_by(|a, b| (&a.hostname, &a.remote_address).cmp(&(&b.hostname, &b.remote_address)));
    sum.nodes.push(ChannelStats {
        clients: Vec::new(),
        ..node_channel
    });
    sum.nodes
        .sort_by(|a, b| (&a.hostname, &a.node).cmp(&(&b.hostname, &b.node)));
}

/// Counts add up; for each quantile the worst (largest) node value is kept, since the
/// per-node samples needed for an exact merged quantile are not available.
fn merge_latency(sum: &mut Latency, node: &Latency) {
    sum.count += node.count;
    for percentile in &node.percentiles {
        match sum
            .percentiles
            .iter_mut()
            .find(|p| p.quantile == percentile.quantile)
        {
            Some(existing) => existing.value = existing.value.max(percentile.value),
            None => sum.percentiles.push(Percentile {
                quantile: percentile.quantile,
                value: percentile.value,
            }),
        }
    }
    sum.percentiles
        .sort_by(|a, b| b.quantile.total_cmp(&a.quantile));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::stats::{NsqdChannelStats, NsqdTopicStats};

    fn producer(host: &str, port: u16) -> Producer {
        Producer {
            hostname: host.into(),
            broadcast_address: "127.0.0.1".into(),
            http_port: port,
            ..Producer::default()
        }
    }

    fn stats(depth: i64, paused: bool, clients: usize) -> NsqdStats {
        NsqdStats {
            topics: vec![NsqdTopicStats {
                topic_name: "t".into(),
                depth,
                backend_depth: 1,
                message_count: 10,
                channels: vec![NsqdChannelStats {
                    channel_name: "c".into(),
                    depth,
                    in_flight_count: 2,
                    client_count: clients as i64,
                    clients: vec![ClientStats::default(); clients],
                    paused,
                    ..NsqdChannelStats::default()
                }],
                ..NsqdTopicStats::default()
            }],
            ..NsqdStats::default()
        }
    }

    #[test]
    fn sums_over_nodes_and_keeps_the_breakdown() {
        let mut per_node = node_topics(&producer("b", 2), &stats(5, false, 1));
        per_node.extend(node_topics(&producer("a", 1), &stats(3, true, 2)));
        let topics = sum_topics(per_node);
        assert_eq!(topics.len(), 1);
        let topic = &topics[0];
        assert_eq!(
            (topic.node.as_str(), topic.depth, topic.memory_depth),
            ("*", 8, 6)
        );
        assert_eq!(topic.message_count, 20);
        assert_eq!(topic.nodes.len(), 2);
        assert_eq!(topic.nodes[0].node, "127.0.0.1:1", "sorted by hostname");
        let channel = &topic.channels[0];
        assert_eq!((channel.depth, channel.in_flight_count), (8, 4));
        assert!(channel.paused, "paused anywhere shows as paused");
        assert_eq!(channel.clients.len(), 3);
        assert_eq!(channel.client_count, 3);
        assert_eq!(channel.nodes.len(), 2);
    }

    #[test]
    fn latency_keeps_the_worst_quantile() {
        let mut sum = Latency::default();
        let node = |v| Latency {
            count: 1,
            percentiles: vec![Percentile {
                quantile: 0.99,
                value: v,
            }],
        };
        merge_latency(&mut sum, &node(5.0));
        merge_latency(&mut sum, &node(9.0));
        assert_eq!(sum.count, 2);
        assert_eq!(sum.percentiles[0].value, 9.0);
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(join_host_port("::1", 4151), "[::1]:4151");
        assert_eq!(join_host_port("h", 4151), "h:4151");
    }
}
