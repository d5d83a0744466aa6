//! `nsq bench` end to end: writer, reader and latency against the embedded nsqd, and the
//! writer against `null-nsqd`. These check that the tools work and count correctly; they
//! assert nothing about speed.

mod support;

use std::process::Stdio;
use std::time::Duration;
use support::{nsq, run_ok, start_nsqd};

use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(60);

/// Runs `nsq bench <args>`; returns its stdout, failing the test on a non-zero exit.
async fn bench(args: &[&str]) -> String {
    run_ok("bench", args, WAIT).await
}

/// The ops/s figure of a Go-format summary line.
fn ops_per_sec(line: &str) -> f64 {
    let field = line
        .split(" - ")
        .find(|f| f.ends_with("ops/s"))
        .unwrap_or_else(|| panic!("no ops/s in {line:?}"));
    field.trim_end_matches("ops/s").parse().unwrap()
}

#[tokio::test]
async fn writer_then_reader_count_and_fin() {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    nsqd.context()
        .get_or_create_topic("bench")
        .unwrap()
        .get_or_create_channel("ch")
        .unwrap();
    let common = [
        "--nsqd-tcp-address",
        &addr,
        "--topic",
        "bench",
        "--size",
        "100",
        "--connections",
        "2",
    ];
    let written = bench(
        &[
            &["writer", "--runfor", "1s", "--batch-size", "50"],
            &common[..],
        ]
        .concat(),
    )
    .await;
    assert!(written.starts_with("duration: "), "{written}");
    assert!(ops_per_sec(&written) > 0.0);
    let published = nsqd.context().stats(&Default::default())[0].message_count;
    assert_eq!(published % 50, 0, "whole batches only");

    // The reader runs until --runfor is over, however fast it drains the channel.
    let read = bench(
        &[
            &[
                "reader",
                "--runfor",
                "3s",
                "--channel",
                "ch",
                "--rdy",
                "100",
            ],
            &common[..],
        ]
        .concat(),
    )
    .await;
    assert!(ops_per_sec(&read) > 0.0, "{read}");
    // Like Go's bench_reader, the reader stops at its deadline without draining: whatever
    // nsqd sent that it had not read yet stays in flight (until msg-timeout), never more than
    // its RDY window per connection. Everything else it received it FINed.
    let stats = nsqd.context().stats(&Default::default());
    let channel = &stats[0].channels[0];
    assert_eq!(channel.message_count, published);
    assert_eq!(channel.deferred_count, 0);
    assert!(
        channel.in_flight_count <= 2 * 100,
        "more in flight than two RDY windows: {channel:?}"
    );
    let finished = published as i64 - channel.depth - channel.in_flight_count;
    assert!(finished > 0, "the reader FINed nothing: {channel:?}");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn latency_receives_everything_it_sends() {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let out = bench(&[
        "latency",
        "--nsqd-tcp-address",
        &addr,
        "--runfor",
        "1s",
        "--rate",
        "500",
        "--topic",
        "lat",
    ])
    .await;
    // "latency: sent N received N at R msgs/s, S B - p50 ...".
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words[0], "latency:", "{out}");
    let sent: u64 = words[2].parse().unwrap();
    let received: u64 = words[4].parse().unwrap();
    assert!(sent >= 400, "{out}");
    assert_eq!(sent, received, "{out}");
    assert!(out.contains("p99 "), "{out}");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn writer_runs_against_the_null_broker() {
    let mut null = nsq()
        .args(["bench", "null-nsqd", "--tcp-address", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(null.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .rsplit(' ')
        .next()
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let out = bench(&[
        "writer",
        "--nsqd-tcp-address",
        &addr,
        "--runfor",
        "1s",
        "--connections",
        "1",
    ])
    .await;
    assert!(ops_per_sec(&out) > 0.0, "{out}");
    null.kill().await.unwrap();
}
