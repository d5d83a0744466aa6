//! nsqd's health after disk errors, as Go nsqd reports it: a failed disk-queue write makes
//! `GET /ping` answer 500 `NOK - <error>` (and `/stats` carry the same text) while PUB fails
//! with `E_PUB_FAILED`; the next successful write makes nsqd healthy (`OK`) again.

mod persistence_support;

use std::net::SocketAddr;
use std::time::Duration;

use broker::nsqd::{Nsqd, NsqdOptions};
use persistence_support::*;

/// `GET path`: (status, body).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = tokio::time::timeout(WAIT, reqwest::get(format!("http://{addr}{path}")))
        .await
        .expect("HTTP timed out")
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Publishes over fresh connections until one PUB fails; returns its error text.
async fn publish_until_failure(addr: SocketAddr) -> String {
    let mut conn = Conn::connect(addr).await;
    for i in 0..200 {
        match conn.publish("d", format!("m-{i:05}")).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(error) => return error,
        }
    }
    panic!("a publish must fail once the data directory is gone");
}

/// Publishes until one PUB succeeds again (E_PUB_FAILED closes the connection, so each
/// attempt uses a fresh one).
async fn publish_until_success(addr: SocketAddr) {
    for _ in 0..200 {
        let mut conn = Conn::connect(addr).await;
        if conn.publish("d", "after-recovery").await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("publishing must work again once the data directory is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_write_errors_make_nsqd_unhealthy_until_a_write_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gone = dir.path().join("gone");
    std::fs::create_dir(&data).unwrap();
    let opts = NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        data_path: data.clone(),
        // Disk only, and a new data file every few records, so writes need the directory
        // (moving it away fails writes even as root, unlike chmod).
        mem_queue_size: 0,
        max_bytes_per_file: 200,
        sync_timeout: Duration::from_millis(100),
        ..NsqdOptions::default()
    };
    let nsqd = tokio::time::timeout(WAIT, Nsqd::start(opts))
        .await
        .expect("start timed out")
        .expect("nsqd start");
    let (tcp, http) = (nsqd.tcp_addr(), nsqd.http_addr());
    Conn::connect(tcp).await.sub("d", "c").await;
    Conn::connect(tcp)
        .await
        .publish("d", "before")
        .await
        .unwrap();
    assert_eq!(http_get(http, "/ping").await, (200, "OK".to_owned()));

    std::fs::rename(&data, &gone).unwrap();
    let error = publish_until_failure(tcp).await;
    let reason = error
        .strip_prefix("E_PUB_FAILED PUB failed ")
        .unwrap_or_else(|| panic!("expected E_PUB_FAILED, got {error}"));
    let (status, body) = http_get(http, "/ping").await;
    assert_eq!(status, 500);
    assert_eq!(body, format!("NOK - {reason}"));
    assert!(body.contains("diskqueue"), "{body}");
    let stats = http_json(http, "/stats?format=json").await;
    assert_eq!(stats["health"], body.as_str());
    let (_, text_stats) = http_get(http, "/stats").await;
    assert!(
        text_stats.contains(&format!("\nHealth: {body}\n")),
        "{text_stats}"
    );
    // HTTP publishes fail like Go's (503 EXITING) and nsqd stays unhealthy.
    let (status, _) = http_post(http, "/pub?topic=d", "x").await;
    assert_eq!(status, 503);
    assert_eq!(http_get(http, "/ping").await.0, 500);

    std::fs::rename(&gone, &data).unwrap();
    publish_until_success(tcp).await;
    assert_eq!(http_get(http, "/ping").await, (200, "OK".to_owned()));
    assert_eq!(http_json(http, "/stats?format=json").await["health"], "OK");

    tokio::time::timeout(WAIT, nsqd.shutdown())
        .await
        .expect("shutdown timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_write_errors_make_nsqd_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gone = dir.path().join("gone");
    std::fs::create_dir(&data).unwrap();
    let opts = NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        data_path: data.clone(),
        ..NsqdOptions::default()
    };
    let nsqd = tokio::time::timeout(WAIT, Nsqd::start(opts))
        .await
        .expect("start timed out")
        .expect("nsqd start");
    let http = nsqd.http_addr();
    assert_eq!(http_post(http, "/topic/create?topic=meta", "").await.0, 200);
    let channel_create = "/channel/create?topic=meta&channel=c";
    assert_eq!(http_post(http, channel_create, "").await.0, 200);
    std::fs::rename(&data, &gone).unwrap();
    // Pausing a channel rewrites nsqd.dat, which cannot be written now.
    let pause = "/channel/pause?topic=meta&channel=c";
    assert_eq!(http_post(http, pause, "").await.0, 200);
    let unhealthy = tokio::time::timeout(WAIT, async {
        loop {
            let (status, body) = http_get(http, "/ping").await;
            if status == 500 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("nsqd must turn unhealthy when nsqd.dat cannot be written");
    assert!(unhealthy.starts_with("NOK - "), "{unhealthy}");

    std::fs::rename(&gone, &data).unwrap();
    let unpause = "/channel/unpause?topic=meta&channel=c";
    assert_eq!(http_post(http, unpause, "").await.0, 200);
    tokio::time::timeout(WAIT, async {
        while http_get(http, "/ping").await != (200, "OK".to_owned()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a successful nsqd.dat write makes nsqd healthy again");
    tokio::time::timeout(WAIT, nsqd.shutdown())
        .await
        .expect("shutdown timed out");
}
