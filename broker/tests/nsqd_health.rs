//! nsqd's health after disk errors, as Go nsqd reports it: a failed disk-queue write makes
//! `GET /ping` answer 500 `NOK - <error>` (and `/stats` carry the same text) while PUB fails
//! with `E_PUB_FAILED`; the next successful write makes nsqd healthy (`OK`) again.

mod persistence_support;

use std::net::SocketAddr;
use std::time::Duration;

use broker::nsqd::NsqdOptions;
use persistence_support::*;

/// Polls `GET /ping` every 10 ms until `done(status, body)`; returns that body.
async fn poll_ping(http: SocketAddr, done: impl Fn(u16, &str) -> bool, what: &str) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            let (status, body) = http_get(http, "/ping").await;
            if done(status, &body) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"))
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
    let dir = MovableDataDir::new();
    let nsqd = launch_nsqd(NsqdOptions {
        // Disk only, and a new data file every few records, so writes need the directory
        // (moving it away fails writes even as root, unlike chmod).
        max_bytes_per_file: 200,
        ..disk_options(&dir.data, 0)
    })
    .await;
    let (tcp, http) = (nsqd.tcp_addr(), nsqd.http_addr());
    Conn::connect(tcp).await.sub("d", "c").await;
    Conn::connect(tcp)
        .await
        .publish("d", "before")
        .await
        .unwrap();
    assert_eq!(http_get(http, "/ping").await, (200, "OK".to_owned()));

    dir.move_away();
    let error = publish_until_failure(&mut Conn::connect(tcp).await).await;
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

    dir.bring_back();
    publish_until_success(tcp).await;
    assert_eq!(http_get(http, "/ping").await, (200, "OK".to_owned()));
    assert_eq!(http_json(http, "/stats?format=json").await["health"], "OK");

    shutdown_nsqd(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_write_errors_make_nsqd_unhealthy() {
    let dir = MovableDataDir::new();
    let nsqd = launch_nsqd(NsqdOptions {
        data_path: dir.data.clone(),
        ..nsqd_opts()
    })
    .await;
    let http = nsqd.http_addr();
    assert_eq!(http_post(http, "/topic/create?topic=meta", "").await.0, 200);
    let channel_create = "/channel/create?topic=meta&channel=c";
    assert_eq!(http_post(http, channel_create, "").await.0, 200);
    dir.move_away();
    // Pausing a channel rewrites nsqd.dat, which cannot be written now.
    let pause = "/channel/pause?topic=meta&channel=c";
    assert_eq!(http_post(http, pause, "").await.0, 200);
    let unhealthy = poll_ping(
        http,
        |status, _| status == 500,
        "nsqd must turn unhealthy when nsqd.dat cannot be written",
    )
    .await;
    assert!(unhealthy.starts_with("NOK - "), "{unhealthy}");

    dir.bring_back();
    let unpause = "/channel/unpause?topic=meta&channel=c";
    assert_eq!(http_post(http, unpause, "").await.0, 200);
    poll_ping(
        http,
        |status, body| (status, body) == (200, "OK"),
        "a successful nsqd.dat write makes nsqd healthy again",
    )
    .await;
    shutdown_nsqd(nsqd).await;
}
