//! `--e2e-processing-latency-percentile`: FINs are measured per channel and merged per
//! topic in `/stats` (JSON and text); REQ records nothing; without percentiles the latency
//! object stays `{"count":0,"percentiles":null}`.

mod common;

use std::time::Duration;

use common::*;
use nsq_wire::command::Command;
use serde_json::Value;

/// How long consumers hold each message before FIN, so latencies have a known floor.
const HOLD: Duration = Duration::from_millis(5);

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let url = format!("http://{addr}{path}");
    tokio::time::timeout(WAIT, async {
        reqwest::get(&url).await.unwrap().text().await.unwrap()
    })
    .await
    .unwrap()
}

/// Reads `n` messages, holding each for [`HOLD`], then FINs them (or REQs the last one).
async fn consume(c: &mut Client, n: usize, requeue_last: bool) {
    for i in 0..n {
        let msg = c.next_message().await;
        tokio::time::sleep(HOLD).await;
        if requeue_last && i == n - 1 {
            c.req(msg.id, 60_000).await;
        } else {
            c.send(&Command::Fin(msg.id)).await;
        }
    }
}

fn values(latency: &Value) -> Vec<(f64, f64)> {
    latency["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["quantile"].as_f64().unwrap(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn fin_latencies_show_in_stats_per_channel_and_topic() {
    let nsqd = start_with(|o| {
        o.e2e_processing_latency_percentile = vec![1.0, 0.99, 0.5];
        o.e2e_processing_latency_window_time = Duration::from_secs(600);
    })
    .await;
    let mut a = Client::consumer(nsqd.tcp_addr(), "t", "a", 10).await;
    let mut b = Client::consumer(nsqd.tcp_addr(), "t", "b", 10).await;
    publish(nsqd.tcp_addr(), "t", &["1", "2", "3", "4", "5"]).await;
    consume(&mut a, 5, false).await;
    consume(&mut b, 5, true).await;

    // FIN and REQ have no reply: wait until the in-flight counts show them processed.
    let http = nsqd.http_addr();
    let mut stats: Value = Value::Null;
    tokio::time::timeout(WAIT, async {
        loop {
            stats = serde_json::from_str(&get(http, "/stats?format=json").await).unwrap();
            let channels = &stats["topics"][0]["channels"];
            if channels[0]["in_flight_count"] == 0 && channels[1]["in_flight_count"] == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("FIN/REQ processed");

    let topic = &stats["topics"][0];
    let (chan_a, chan_b) = (&topic["channels"][0], &topic["channels"][1]);
    assert_eq!(chan_a["channel_name"], "a");
    assert_eq!(chan_a["e2e_processing_latency"]["count"], 5);
    // Four FINs; the REQ'ed message records nothing.
    assert_eq!(chan_b["e2e_processing_latency"]["count"], 4);
    assert_eq!(topic["e2e_processing_latency"]["count"], 9);

    let floor = HOLD.as_nanos() as f64 * 0.99;
    for latency in [
        &chan_a["e2e_processing_latency"],
        &chan_b["e2e_processing_latency"],
        &topic["e2e_processing_latency"],
    ] {
        let v = values(latency);
        let quantiles: Vec<f64> = v.iter().map(|(q, _)| *q).collect();
        assert_eq!(quantiles, vec![1.0, 0.99, 0.5], "{latency}");
        for (_, value) in &v {
            assert!(
                *value >= floor && *value < WAIT.as_nanos() as f64,
                "{latency}"
            );
        }
        // The maximum is at least the median.
        assert!(v[0].1 >= v[2].1, "{latency}");
    }

    // Go's encoding: whole numbers without a fraction.
    let raw = get(http, "/stats?format=json&topic=t&channel=a").await;
    assert!(raw.contains(r#"{"quantile":1,"value":"#), "{raw}");
    assert!(raw.contains(r#"{"quantile":0.99,"value":"#), "{raw}");

    // Text form: "e2e%: <v>, <v>, <v>" with human units on topic and channel lines.
    let text = get(http, "/stats").await;
    let e2e_lines: Vec<&str> = text.lines().filter(|l| l.contains("e2e%:")).collect();
    assert_eq!(e2e_lines.len(), 3, "{text}");
    for line in e2e_lines {
        let shown = line.split("e2e%: ").nth(1).unwrap();
        let parts: Vec<&str> = shown.split(", ").collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts.iter().all(|p| p.ends_with("ms")), "{line}");
    }
    nsqd.shutdown().await;
}

#[tokio::test]
async fn without_percentiles_latency_is_count_zero_and_null() {
    let nsqd = start().await;
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    publish(nsqd.tcp_addr(), "t", &["x"]).await;
    consume(&mut c, 1, false).await;
    let raw = get(nsqd.http_addr(), "/stats?format=json").await;
    let stats: Value = serde_json::from_str(&raw).unwrap();
    let expected = serde_json::json!({"count": 0, "percentiles": null});
    assert_eq!(stats["topics"][0]["e2e_processing_latency"], expected);
    assert_eq!(
        stats["topics"][0]["channels"][0]["e2e_processing_latency"],
        expected
    );
    nsqd.shutdown().await;
}
