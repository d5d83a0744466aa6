//! Shared test helpers.
#![allow(dead_code)]

pub mod fake;

use std::time::Duration;

/// Client options for fast tests: short timeouts and delays.
pub fn fast_config() -> transport_nsq::Config {
    transport_nsq::Config {
        reconnect_min_delay: Duration::from_millis(20),
        reconnect_max_delay: Duration::from_millis(200),
        backoff_multiplier: Duration::from_millis(10),
        max_backoff_duration: Duration::from_millis(200),
        rdy_redistribute_interval: Duration::from_millis(50),
        lookupd_poll_interval: Duration::from_millis(100),
        lookupd_poll_timeout: Duration::from_secs(2),
        heartbeat_interval: Duration::from_secs(1),
        read_timeout: Duration::from_secs(5),
        close_timeout: Duration::from_secs(1),
        publish_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 10 ms until it is true; panics after `within`.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An embedded nsqd on loopback ports chosen by the OS (or the given TCP address).
pub async fn start_nsqd_at(tcp: &str) -> broker::nsqd::Nsqd {
    let opts = broker::nsqd::NsqdOptions {
        tcp_address: tcp.parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..Default::default()
    };
    broker::nsqd::Nsqd::start(opts).await.unwrap()
}

pub async fn start_nsqd() -> broker::nsqd::Nsqd {
    start_nsqd_at("127.0.0.1:0").await
}
