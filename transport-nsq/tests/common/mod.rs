//! Shared test helpers.
#![allow(dead_code)]

pub mod fake;

use std::sync::Arc;
use std::time::Duration;

use broker::lookupd::{Lookupd, LookupdOptions};
use broker::nsqd::{Nsqd, NsqdOptions};
use framework::provider::ProviderSet;
use framework::{Broker, Server};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use transport_nsq::{
    Consumer, ConsumerBuilder, Error, HandlerError, Message, NsqBroker, NsqConfig, Producer,
};

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

/// [`eventually`] under an outer `within` timeout too.
pub async fn settle(within: Duration, check: impl FnMut() -> bool) {
    tokio::time::timeout(within, eventually(within, check))
        .await
        .unwrap();
}

/// An embedded nsqd on loopback ports chosen by the OS, with `adjust` applied to its options.
pub async fn start_nsqd_with(adjust: impl FnOnce(&mut NsqdOptions)) -> Nsqd {
    let mut opts = NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..Default::default()
    };
    adjust(&mut opts);
    Nsqd::start(opts).await.unwrap()
}

/// An embedded nsqd on the given TCP address (HTTP on a port chosen by the OS).
pub async fn start_nsqd_at(tcp: &str) -> Nsqd {
    start_nsqd_with(|opts| opts.tcp_address = tcp.parse().unwrap()).await
}

pub async fn start_nsqd() -> Nsqd {
    start_nsqd_with(|_| {}).await
}

/// An embedded nsqd that registers its topics with `lookupd`.
pub async fn start_registered_nsqd(lookupd: &Lookupd) -> Nsqd {
    start_nsqd_with(|opts| opts.lookupd_tcp_address = vec![lookupd.tcp_addr().to_string()]).await
}

/// An embedded nsqlookupd on loopback ports chosen by the OS.
pub async fn start_lookupd() -> Lookupd {
    Lookupd::start(LookupdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..LookupdOptions::default()
    })
    .await
    .unwrap()
}

/// A loopback address nothing listens on (a port the OS handed out, released again).
pub fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A producer (fast options) for the one embedded nsqd.
pub fn producer_for(nsqd: &Nsqd) -> Producer {
    Producer::new([nsqd.tcp_addr().to_string()], fast_config()).unwrap()
}

/// Publishes `body` to `topic` in the background.
pub fn spawn_publish(
    producer: &Producer,
    topic: &'static str,
    body: &'static str,
) -> JoinHandle<Result<(), Error>> {
    let producer = producer.clone();
    tokio::spawn(async move { producer.publish(topic, body).await })
}

/// The output of a spawned task that must end within `within`.
pub async fn join_within<T>(within: Duration, task: JoinHandle<T>) -> T {
    tokio::time::timeout(within, task)
        .await
        .expect("task did not finish in time")
        .expect("task panicked")
}

/// Starts `builder`'s consumer with a handler that finishes every message.
pub async fn acking_consumer(builder: ConsumerBuilder) -> Consumer {
    builder
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap()
}

/// Starts `builder`'s consumer with a handler that sends `seen(message)` for every message
/// and finishes it.
pub async fn forwarding_consumer<T: Send + 'static>(
    builder: ConsumerBuilder,
    seen: impl Fn(&Message) -> T + Send + Sync + 'static,
) -> (Consumer, mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let consumer = builder
        .handler(move |m: Message| {
            let _ = tx.send(seen(&m));
            async { Ok::<_, HandlerError>(()) }
        })
        .start()
        .await
        .unwrap();
    (consumer, rx)
}

/// A message's body as (lossy) UTF-8 text.
pub fn body_text(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// The next item from `rx`; panics if none arrives within `within`.
pub async fn recv_within<T>(within: Duration, rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(within, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("nothing arrived within {within:?}"))
        .expect("sender gone")
}

/// The next `n` items from `rx`, each within `within`.
pub async fn recv_n<T>(within: Duration, rx: &mut mpsc::UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut out = Vec::new();
    while out.len() < n {
        let item = tokio::time::timeout(within, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} items arrived", out.len()))
            .expect("sender gone");
        out.push(item);
    }
    out
}

/// Asserts nothing arrives on `rx` for `quiet`.
pub async fn assert_silent<T: std::fmt::Debug>(
    quiet: Duration,
    rx: &mut mpsc::UnboundedReceiver<T>,
) {
    if let Ok(item) = tokio::time::timeout(quiet, rx.recv()).await {
        panic!("expected nothing within {quiet:?}, got {item:?}");
    }
}

/// Framework-level options for the one embedded nsqd (short close and reconnect delays).
pub fn nsq_config(nsqd: &Nsqd) -> NsqConfig {
    NsqConfig::nsqd(nsqd.tcp_addr().to_string(), nsqd.http_addr().to_string())
        .client_option("close_timeout", "2s")
        .client_option("reconnect_min_delay", "20ms")
}

/// An `NsqBroker` for `config`, connected.
pub async fn connected_broker(config: &NsqConfig) -> NsqBroker {
    let broker = NsqBroker::new(config.clone());
    broker.connect().await.unwrap();
    broker
}

/// A container providing `value`, and the shared instance it hands out.
pub async fn container_with<T: Send + Sync + 'static>(value: T) -> (framework::Container, Arc<T>) {
    let container = ProviderSet::new().value(value).build().await.unwrap();
    let shared = container.get::<T>().unwrap();
    (container, shared)
}

/// Stops `server` (draining within `within`), disconnects `broker`, shuts `nsqd` down.
pub async fn stop_all(within: Duration, server: &impl Server, broker: &NsqBroker, nsqd: &Nsqd) {
    server
        .stop(tokio::time::Instant::now() + within)
        .await
        .unwrap();
    broker.disconnect().await.unwrap();
    nsqd.shutdown().await;
}
