//! nsqlookupd's `/metrics`: registrations and producers from the registry, plus process
//! stats.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::process::add_process_metrics;
use super::Exposition;
use crate::lookupd::protocol_v1::ServerInfo;
use crate::lookupd::registry::Registry;

/// `GET /metrics` on nsqlookupd's HTTP listener.
pub(crate) async fn handler(State(server): State<Arc<ServerInfo>>) -> Response {
    let mut metrics = exposition(&server.registry);
    add_process_metrics(&mut metrics);
    metrics.into_response()
}

/// The lookupd families for the registry as it is now.
pub fn exposition(registry: &Registry) -> Exposition {
    let nodes = registry.nodes();
    let topics = registry.topics();
    let mut m = Exposition::new();
    m.gauge(
        "nsqlookupd_producers",
        "Active nsqd nodes (as /nodes lists them).",
        [(vec![], nodes.len() as i64)],
    );
    m.gauge(
        "nsqlookupd_topics",
        "Registered topics.",
        [(vec![], topics.len() as i64)],
    );
    let mut channels = 0;
    let mut producers = Vec::new();
    let mut channel_counts = Vec::new();
    for topic in &topics {
        let lookup = registry.lookup(topic);
        let (topic_channels, topic_producers) = lookup
            .map(|l| (l.channels.len(), l.producers.len()))
            .unwrap_or((0, 0));
        channels += topic_channels;
        producers.push((vec![("topic", topic.clone())], topic_producers as i64));
        channel_counts.push((vec![("topic", topic.clone())], topic_channels as i64));
    }
    m.gauge(
        "nsqlookupd_channels",
        "Registered channels over all topics.",
        [(vec![], channels as i64)],
    );
    m.gauge(
        "nsqlookupd_topic_producers",
        "Active, non-tombstoned producers of the topic (as /lookup lists them).",
        producers,
    );
    m.gauge(
        "nsqlookupd_topic_channels",
        "Channels registered for the topic.",
        channel_counts,
    );
    let tombstoned = nodes.iter().flat_map(|node| {
        let id = format!("{}:{}", node.peer.broadcast_address, node.peer.http_port);
        node.topics
            .iter()
            .zip(&node.tombstones)
            .map(move |(topic, tombstoned)| {
                (
                    vec![("topic", topic.clone()), ("node", id.clone())],
                    i64::from(*tombstoned),
                )
            })
    });
    m.gauge(
        "nsqlookupd_producer_tombstoned",
        "1 while the node's producer entry for the topic is tombstoned.",
        tombstoned.collect::<Vec<_>>(),
    );
    m
}
