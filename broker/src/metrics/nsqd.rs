//! nsqd's `/metrics`: per-topic and per-channel gauges and counters from the engine's
//! statistics (the same snapshot `/stats` serves), client counts, health and process stats.

use axum::extract::State;
use axum::response::Response;

use super::process::add_process_metrics;
use super::{Exposition, Labels};
use crate::nsqd::stats::{LatencyStats, StatsFilter, TopicStats};
use crate::nsqd::NsqdContext;

/// `GET /metrics` on nsqd's HTTP listener.
pub async fn handler(State(ctx): State<NsqdContext>) -> Response {
    let topics = ctx.stats(&StatsFilter {
        include_clients: false,
        ..StatsFilter::default()
    });
    let producers = ctx.producers().len();
    let mut metrics = exposition(&topics, producers, ctx.is_healthy(), ctx.start_time());
    add_process_metrics(&mut metrics);
    metrics.into_response()
}

fn topic_labels(topic: &TopicStats) -> Labels {
    vec![("topic", topic.topic_name.clone())]
}

/// The nsqd families for a stats snapshot.
pub fn exposition(
    topics: &[TopicStats],
    producers: usize,
    healthy: bool,
    start_time: i64,
) -> Exposition {
    let mut m = Exposition::new();
    m.gauge(
        "nsq_up",
        "1 when nsqd is healthy (/ping says OK), else 0.",
        [(vec![], i64::from(healthy))],
    );
    m.gauge(
        "nsq_start_time_seconds",
        "nsqd start time, Unix seconds.",
        [(vec![], start_time)],
    );
    m.gauge(
        "nsq_topics",
        "Number of topics.",
        [(vec![], topics.len() as i64)],
    );
    m.gauge(
        "nsq_producers",
        "TCP connections that have published.",
        [(vec![], producers as i64)],
    );

    let topic_gauge = |f: fn(&TopicStats) -> i64| -> Vec<(Labels, i64)> {
        topics.iter().map(|t| (topic_labels(t), f(t))).collect()
    };
    m.gauge(
        "nsq_topic_depth",
        "Messages held by the topic (memory + disk), not yet copied to channels.",
        topic_gauge(|t| t.depth),
    );
    m.gauge(
        "nsq_topic_backend_depth",
        "Disk part of the topic depth.",
        topic_gauge(|t| t.backend_depth),
    );
    m.gauge(
        "nsq_topic_paused",
        "1 when the topic is paused.",
        topic_gauge(|t| i64::from(t.paused)),
    );
    m.gauge(
        "nsq_topic_channels",
        "Channels of the topic.",
        topic_gauge(|t| t.channels.len() as i64),
    );
    m.counter(
        "nsq_topic_messages",
        "Messages accepted by the topic.",
        topics.iter().map(|t| (topic_labels(t), t.message_count)),
    );
    m.counter(
        "nsq_topic_message_bytes",
        "Body bytes accepted by the topic.",
        topics.iter().map(|t| (topic_labels(t), t.message_bytes)),
    );

    let channels: Vec<(Labels, &crate::nsqd::stats::ChannelStats)> = topics
        .iter()
        .flat_map(|t| {
            t.channels.iter().map(move |c| {
                (
                    vec![
                        ("topic", t.topic_name.clone()),
                        ("channel", c.channel_name.clone()),
                    ],
                    c,
                )
            })
        })
        .collect();
    let channel_gauge = |f: fn(&crate::nsqd::stats::ChannelStats) -> i64| -> Vec<(Labels, i64)> {
        channels.iter().map(|(l, c)| (l.clone(), f(c))).collect()
    };
    let channel_counter = |f: fn(&crate::nsqd::stats::ChannelStats) -> u64| -> Vec<(Labels, u64)> {
        channels.iter().map(|(l, c)| (l.clone(), f(c))).collect()
    };
    m.gauge(
        "nsq_channel_depth",
        "Messages queued in the channel (memory + disk).",
        channel_gauge(|c| c.depth),
    );
    m.gauge(
        "nsq_channel_backend_depth",
        "Disk part of the channel depth.",
        channel_gauge(|c| c.backend_depth),
    );
    m.gauge(
        "nsq_channel_in_flight",
        "Messages delivered and not yet finished, requeued or timed out.",
        channel_gauge(|c| c.in_flight_count),
    );
    m.gauge(
        "nsq_channel_deferred",
        "Messages waiting on a defer or requeue delay.",
        channel_gauge(|c| c.deferred_count),
    );
    m.gauge(
        "nsq_channel_clients",
        "Consumers subscribed to the channel.",
        channel_gauge(|c| c.client_count),
    );
    m.gauge(
        "nsq_channel_paused",
        "1 when the channel is paused.",
        channel_gauge(|c| i64::from(c.paused)),
    );
    m.counter(
        "nsq_channel_messages",
        "Messages the channel received from its topic.",
        channel_counter(|c| c.message_count),
    );
    m.counter(
        "nsq_channel_requeued",
        "Messages requeued (REQ).",
        channel_counter(|c| c.requeue_count),
    );
    m.counter(
        "nsq_channel_timed_out",
        "In-flight messages that timed out.",
        channel_counter(|c| c.timeout_count),
    );
    m.gauge(
        "nsq_clients",
        "Consumers subscribed over all channels.",
        [(vec![], channels.iter().map(|(_, c)| c.client_count).sum())],
    );

    let mut latencies: Vec<(Labels, f64)> = Vec::new();
    for topic in topics {
        push_quantiles(
            &mut latencies,
            topic_labels(topic),
            &topic.e2e_processing_latency,
        );
    }
    m.gauge_f64(
        "nsq_topic_e2e_processing_latency_seconds",
        "End-to-end processing latency quantiles (publish to FIN), when --e2e-processing-latency-percentile is set.",
        latencies,
    );
    let mut latencies: Vec<(Labels, f64)> = Vec::new();
    for (labels, channel) in &channels {
        push_quantiles(
            &mut latencies,
            labels.clone(),
            &channel.e2e_processing_latency,
        );
    }
    m.gauge_f64(
        "nsq_channel_e2e_processing_latency_seconds",
        "End-to-end processing latency quantiles per channel.",
        latencies,
    );
    m
}

fn push_quantiles(out: &mut Vec<(Labels, f64)>, labels: Labels, latency: &LatencyStats) {
    for percentile in latency.percentiles.iter().flatten() {
        let mut labels = labels.clone();
        labels.push(("quantile", percentile.quantile.to_string()));
        out.push((labels, percentile.value / 1e9));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nsqd::stats::{ChannelStats, Percentile};

    #[test]
    fn renders_topics_channels_and_quantiles() {
        let topics = vec![TopicStats {
            topic_name: "t".into(),
            channels: vec![ChannelStats {
                channel_name: "c".into(),
                depth: 4,
                backend_depth: 1,
                in_flight_count: 2,
                deferred_count: 1,
                message_count: 9,
                requeue_count: 3,
                timeout_count: 1,
                client_count: 2,
                clients: None,
                paused: true,
                e2e_processing_latency: LatencyStats {
                    count: 5,
                    percentiles: Some(vec![Percentile {
                        quantile: 0.99,
                        value: 2e9,
                    }]),
                },
            }],
            depth: 7,
            backend_depth: 0,
            message_count: 10,
            message_bytes: 100,
            paused: false,
            e2e_processing_latency: LatencyStats::default(),
        }];
        let text = exposition(&topics, 1, true, 1700000000).finish();
        for line in [
            "nsq_topic_depth{topic=\"t\"} 7",
            "nsq_topic_messages_total{topic=\"t\"} 10",
            "nsq_channel_depth{topic=\"t\",channel=\"c\"} 4",
            "nsq_channel_in_flight{topic=\"t\",channel=\"c\"} 2",
            "nsq_channel_requeued_total{topic=\"t\",channel=\"c\"} 3",
            "nsq_channel_paused{topic=\"t\",channel=\"c\"} 1",
            "nsq_channel_e2e_processing_latency_seconds{topic=\"t\",channel=\"c\",quantile=\"0.99\"} 2.0",
            "nsq_up 1",
            "nsq_clients 2",
        ] {
            assert!(text.contains(line), "missing {line}:\n{text}");
        }
    }
}
