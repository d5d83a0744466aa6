//! `nsq pub` and `nsq tail` end to end against the embedded nsqd, with Go-style and
//! GNU-style flags.

mod support;

use std::process::Stdio;
use std::time::Duration;
use support::{launch_lookupd_and_nsqd, nsq, run_ok, start_nsqd};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(30);

/// Runs `nsq pub` with `input` on stdin; returns (success, stderr).
async fn run_pub(args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = nsq()
        .arg("pub")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("nsq pub did not finish")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run_tail(args: &[&str]) -> String {
    run_ok("tail", args, WAIT).await
}

#[tokio::test]
async fn pub_lines_then_tail_them() {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let (ok, stderr) = run_pub(
        &["-topic=cli", "-nsqd-tcp-address", &addr],
        b"first\n\nsecond line\nthird",
    )
    .await;
    assert!(ok, "{stderr}");
    let out = run_tail(&["--topic", "cli", "--nsqd-tcp-address", &addr, "-n", "3"]).await;
    assert_eq!(out, "first\nsecond line\nthird\n");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn pub_to_every_nsqd_and_tail_with_print_topic() {
    let a = start_nsqd().await;
    let b = start_nsqd().await;
    let (addr_a, addr_b) = (a.tcp_addr().to_string(), b.tcp_addr().to_string());
    let (ok, stderr) = run_pub(
        &[
            "--topic",
            "both",
            "--nsqd-tcp-address",
            &addr_a,
            "--nsqd-tcp-address",
            &addr_b,
            "--delimiter",
            ",",
        ],
        b"x,y",
    )
    .await;
    assert!(ok, "{stderr}");
    for addr in [&addr_a, &addr_b] {
        let out = run_tail(&[
            "-topic",
            "both",
            "-channel",
            "tail",
            "-nsqd-tcp-address",
            addr,
            "-print-topic",
            "-n=2",
        ])
        .await;
        assert_eq!(out, "both | x\nboth | y\n");
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_are_errors() {
    let (ok, stderr) = run_pub(
        &["--topic", "t", "--nsqd-tcp-address", "127.0.0.1:1"],
        b"x\n",
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    let (ok, stderr) = run_pub(
        &[
            "--topic",
            "t",
            "--nsqd-tcp-address",
            "127.0.0.1:1",
            "--producer-opt",
            "max_in_flight=x",
        ],
        b"",
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("producer-opt"), "{stderr}");
    let out = nsq()
        .args(["tail", "--topic", "t", "--nsqd-tcp-address", "127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not subscribe"));
    let out = nsq().args(["tail", "--topic", "t"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--nsqd-tcp-address or --lookupd-http-address required"));
}

#[tokio::test]
async fn tail_through_lookupd() {
    let (lookupd, nsqd) = launch_lookupd_and_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let (ok, stderr) = run_pub(
        &["--topic", "lk", "--nsqd-tcp-address", &addr],
        b"via lookupd\n",
    )
    .await;
    assert!(ok, "{stderr}");
    let lookupd_http = lookupd.http_addr().to_string();
    // Wait until nsqd's registration of the topic reached lookupd.
    let mut query = transport_nsq::lookupd::Lookupd::new(vec![lookupd_http.clone()], WAIT, "");
    let deadline = tokio::time::Instant::now() + WAIT;
    while query.poll("lk").await.map(|p| p.is_empty()).unwrap_or(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "topic never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = run_tail(&[
        "--topic",
        "lk",
        "--lookupd-http-address",
        &lookupd_http,
        "-n",
        "1",
    ])
    .await;
    assert_eq!(out, "via lookupd\n");
    nsqd.shutdown().await;
    lookupd.shutdown().await;
}
