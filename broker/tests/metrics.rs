//! `/metrics` on nsqd and nsqlookupd, parsed with a Prometheus text parser: the values match
//! what `/stats` and `/lookup` report for the same state.

mod common;
mod lookupd_support;

use std::collections::HashMap;

use common::{publish, start, Client, WAIT};
use lookupd_support::{default_lookupd, RawClient};
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::Value;
use tokio::time::timeout;

async fn fetch(url: String) -> (String, String) {
    let response = timeout(WAIT, reqwest::get(url)).await.unwrap().unwrap();
    assert!(response.status().is_success());
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (content_type, response.text().await.unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The value of `name` with exactly these labels.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && *s.labels == wanted)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    match sample.value {
        Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
        ref other => panic!("{name}: unexpected sample kind {other:?}"),
    }
}

#[tokio::test]
async fn nsqd_metrics_match_stats() {
    let nsqd = start().await;
    let mut consumer = Client::consumer(nsqd.tcp_addr(), "orders", "billing", 2).await;
    publish(nsqd.tcp_addr(), "orders", &["a", "bb", "ccc", "dddd"]).await;
    publish(nsqd.tcp_addr(), "audit", &["x"]).await;
    // Two are delivered (RDY 2) and stay in flight; two wait in the channel.
    consumer.next_message().await;
    consumer.next_message().await;

    let base = format!("http://{}", nsqd.http_addr());
    let (_, stats) = fetch(format!("{base}/stats?format=json")).await;
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let (content_type, text) = fetch(format!("{base}/metrics")).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let scrape = parse(&text);

    let topics = stats["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    for topic in topics {
        let name = topic["topic_name"].as_str().unwrap();
        let t = [("topic", name)];
        assert_eq!(
            value(&scrape, "nsq_topic_depth", &t),
            topic["depth"].as_f64().unwrap()
        );
        assert_eq!(
            value(&scrape, "nsq_topic_messages_total", &t),
            topic["message_count"].as_f64().unwrap()
        );
        assert_eq!(
            value(&scrape, "nsq_topic_message_bytes_total", &t),
            topic["message_bytes"].as_f64().unwrap()
        );
        for channel in topic["channels"].as_array().unwrap() {
            let c = [
                ("topic", name),
                ("channel", channel["channel_name"].as_str().unwrap()),
            ];
            for (metric, key) in [
                ("nsq_channel_depth", "depth"),
                ("nsq_channel_in_flight", "in_flight_count"),
                ("nsq_channel_deferred", "deferred_count"),
                ("nsq_channel_clients", "client_count"),
                ("nsq_channel_messages_total", "message_count"),
                ("nsq_channel_requeued_total", "requeue_count"),
                ("nsq_channel_timed_out_total", "timeout_count"),
            ] {
                assert_eq!(
                    value(&scrape, metric, &c),
                    channel[key].as_f64().unwrap(),
                    "{metric}"
                );
            }
        }
    }
    // The state itself, so a both-wrong match cannot pass.
    let billing = [("topic", "orders"), ("channel", "billing")];
    assert_eq!(value(&scrape, "nsq_channel_in_flight", &billing), 2.0);
    assert_eq!(value(&scrape, "nsq_channel_depth", &billing), 2.0);
    assert_eq!(value(&scrape, "nsq_channel_clients", &billing), 1.0);
    assert_eq!(
        value(&scrape, "nsq_topic_messages_total", &[("topic", "orders")]),
        4.0
    );
    assert_eq!(
        value(
            &scrape,
            "nsq_topic_message_bytes_total",
            &[("topic", "orders")]
        ),
        10.0
    );
    assert_eq!(value(&scrape, "nsq_topics", &[]), 2.0);
    assert_eq!(value(&scrape, "nsq_up", &[]), 1.0);
    assert_eq!(
        value(&scrape, "nsq_producers", &[]),
        stats["producers"].as_array().map_or(0, Vec::len) as f64
    );
    assert!(value(&scrape, "process_resident_memory_bytes", &[]) > 0.0);

    // Pausing shows up on the next scrape.
    reqwest::Client::new()
        .post(format!("{base}/channel/pause?topic=orders&channel=billing"))
        .send()
        .await
        .unwrap();
    let (_, text) = fetch(format!("{base}/metrics")).await;
    assert_eq!(value(&parse(&text), "nsq_channel_paused", &billing), 1.0);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn lookupd_metrics_match_lookup() {
    let lookupd = default_lookupd().await;
    let mut first = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    first
        .expect_ok(&["REGISTER orders billing", "REGISTER orders audit"])
        .await;
    let mut second = RawClient::identified(lookupd.tcp_addr(), 4250, 4251).await;
    second
        .expect_ok(&["REGISTER orders", "REGISTER payments"])
        .await;
    let tombstone = reqwest::Client::new()
        .post(format!(
            "http://{}/topic/tombstone?topic=payments&node=127.0.0.1:4251",
            lookupd.http_addr()
        ))
        .send()
        .await
        .unwrap();
    assert!(tombstone.status().is_success());

    let (_, text) = fetch(format!("http://{}/metrics", lookupd.http_addr())).await;
    let scrape = parse(&text);
    let orders = lookupd_support::lookup_producers(lookupd.http_addr(), "orders").await;
    assert_eq!(
        value(
            &scrape,
            "nsqlookupd_topic_producers",
            &[("topic", "orders")]
        ),
        orders.len() as f64
    );
    assert_eq!(orders.len(), 2);
    assert_eq!(
        value(
            &scrape,
            "nsqlookupd_topic_producers",
            &[("topic", "payments")]
        ),
        0.0,
        "tombstoned"
    );
    assert_eq!(
        value(&scrape, "nsqlookupd_topic_channels", &[("topic", "orders")]),
        2.0
    );
    assert_eq!(value(&scrape, "nsqlookupd_producers", &[]), 2.0);
    assert_eq!(value(&scrape, "nsqlookupd_topics", &[]), 2.0);
    assert_eq!(value(&scrape, "nsqlookupd_channels", &[]), 2.0);
    assert_eq!(
        value(
            &scrape,
            "nsqlookupd_producer_tombstoned",
            &[("topic", "payments"), ("node", "127.0.0.1:4251")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "nsqlookupd_producer_tombstoned",
            &[("topic", "orders"), ("node", "127.0.0.1:4251")]
        ),
        0.0
    );
    lookupd.shutdown().await;
}

#[tokio::test]
async fn statsd_pushes_counters_and_gauges_over_udp() {
    let statsd = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let statsd_addr = statsd.local_addr().unwrap();
    let nsqd = common::start_with(|o| {
        o.statsd_address = Some(statsd_addr.to_string());
        o.statsd_interval = std::time::Duration::from_millis(200);
        o.broadcast_address = "127.0.0.1".into();
    })
    .await;
    let _consumer = Client::consumer(nsqd.tcp_addr(), "orders", "billing", 0).await;
    publish(nsqd.tcp_addr(), "orders", &["a", "b", "c"]).await;

    let prefix = format!("nsq.127_0_0_1_{}.", nsqd.http_addr().port());
    let mut received = String::new();
    timeout(std::time::Duration::from_secs(10), async {
        let mut buf = vec![0u8; 2048];
        // Read pushes until one carries the published messages.
        let wanted = [
            format!("{prefix}topic.orders.channel.billing.depth:3|g"),
            format!("{prefix}topic.orders.channel.billing.clients:1|g"),
            format!("{prefix}mem.gc_runs:"),
        ];
        while !wanted.iter().all(|w| received.contains(w.as_str())) {
            let n = statsd.recv(&mut buf).await.unwrap();
            assert!(n <= 508, "datagram larger than --statsd-udp-packet-size");
            received.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no statsd push with the channel depth; got:\n{received}"));
    assert!(
        received.contains(&format!("{prefix}topic.orders.depth:0|g")),
        "{received}"
    );
    assert!(
        received.contains(&format!("{prefix}topic.orders.channel.billing.clients:1|g")),
        "{received}"
    );
    assert!(
        received.contains(&format!("{prefix}mem.heap_objects:")),
        "{received}"
    );
    // Counts are deltas: over all pushes they add up to the 3 published messages.
    let total: i64 = received
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{prefix}topic.orders.message_count:")))
        .map(|v| v.trim_end_matches("|c").parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 3, "{received}");
    nsqd.shutdown().await;
}
