//! Embedded nsqd instances registering with embedded nsqlookupds (conformance checklist
//! section K): producers with the right ports, topic/channel lifecycle, tombstones,
//! inactivity, lookupd restarts, two lookupds, channel pre-creation.

mod lookupd_support;

use std::net::SocketAddr;
use std::time::Duration;

use broker::lookupd::Lookupd;
use broker::nsqd::{Nsqd, NsqdOptions};
use lookupd_support::*;

const FAST_PING: Duration = Duration::from_millis(100);

async fn start_nsqd(lookupds: &[&Lookupd], ping: Duration) -> Nsqd {
    launch_nsqd(NsqdOptions {
        lookupd_ping_interval: ping,
        ..nsqd_opts_for(lookupds)
    })
    .await
}

/// `(tcp_port, http_port)` of `/lookup?topic=<topic>`'s producers, sorted.
async fn producer_ports(http: SocketAddr, topic: &str) -> Vec<(u16, u16)> {
    lookup_producers_by(http, topic, |p| {
        assert_eq!(p["broadcast_address"], "127.0.0.1", "{p}");
        let port = |key: &str| p[key].as_u64().unwrap() as u16;
        (port("tcp_port"), port("http_port"))
    })
    .await
}

fn ports(nsqd: &Nsqd) -> (u16, u16) {
    (nsqd.tcp_addr().port(), nsqd.http_addr().port())
}

fn sorted_ports(nsqds: &[&Nsqd]) -> Vec<(u16, u16)> {
    let mut all: Vec<(u16, u16)> = nsqds.iter().map(|n| ports(n)).collect();
    all.sort();
    all
}

async fn wait_for_producers(http: SocketAddr, topic: &str, expected: Vec<(u16, u16)>) {
    let what = format!("/lookup?topic={topic} == {expected:?}");
    eventually(&what, || async {
        producer_ports(http, topic).await == expected
    })
    .await;
}

#[tokio::test]
async fn two_nsqd_register_topics_channels_and_deletions() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let a = start_nsqd(&[&lookupd], FAST_PING).await;
    let b = start_nsqd(&[&lookupd], FAST_PING).await;
    a.context().publish("t", "from a".into()).unwrap();
    b.context().publish("t", "from b".into()).unwrap();
    wait_for_producers(http, "t", sorted_ports(&[&a, &b])).await;

    assert_eq!(node_count(http).await, 2);
    let nodes = get(http, "/nodes").await.json();
    assert_eq!(nodes["producers"][0]["version"], "1.3.0");

    // A channel created on A is registered (K.86) ...
    a.context().create_channel("t", "c").unwrap();
    eventually("channel registered", || async {
        channels_of(http, "t").await == ["c"]
    })
    .await;
    // ... and its deletion unregisters A from it while the key stays.
    a.context().delete_channel("t", "c").unwrap();
    eventually("channel unregistered", || async {
        get(http, "/debug")
            .await
            .json()
            .get("channel:t:c")
            .is_none()
    })
    .await;
    assert_eq!(channels_of(http, "t").await, ["c"]);

    // Deleting the topic on A removes only A from /lookup.
    a.context().delete_topic("t").unwrap();
    wait_for_producers(http, "t", vec![ports(&b)]).await;
    a.shutdown().await;
    b.shutdown().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn tombstone_hides_one_nsqd_then_expires() {
    let lookupd = start_lookupd(Duration::from_secs(300), Duration::from_millis(800)).await;
    let http = lookupd.http_addr();
    let a = start_nsqd(&[&lookupd], FAST_PING).await;
    let b = start_nsqd(&[&lookupd], FAST_PING).await;
    for nsqd in [&a, &b] {
        nsqd.context().publish("t", "m".into()).unwrap();
    }
    wait_for_producers(http, "t", sorted_ports(&[&a, &b])).await;

    let node = format!("127.0.0.1:{}", a.http_addr().port());
    let reply = post(http, &format!("/topic/tombstone?topic=t&node={node}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(producer_ports(http, "t").await, vec![ports(&b)]);
    let node_a = node_where(http, "http_port", a.http_addr().port()).await;
    assert_eq!(node_a["tombstones"], serde_json::json!([true]));
    assert_eq!(node_a["topics"], serde_json::json!(["t"]));

    // The lifetime passes (pings keep A active): A is listed again.
    wait_for_producers(http, "t", sorted_ports(&[&a, &b])).await;
    a.shutdown().await;
    b.shutdown().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn stopped_nsqd_leaves_and_silent_nsqd_goes_inactive() {
    let lookupd = start_lookupd(Duration::from_millis(600), Duration::from_secs(45)).await;
    let http = lookupd.http_addr();
    let pinging = start_nsqd(&[&lookupd], FAST_PING).await;
    // An nsqd whose connection stays open but that never PINGs (like a hung process).
    let silent = start_nsqd(&[&lookupd], Duration::from_secs(3600)).await;
    let stopped = start_nsqd(&[&lookupd], FAST_PING).await;
    for nsqd in [&pinging, &silent, &stopped] {
        nsqd.context().publish("t", "m".into()).unwrap();
    }
    wait_for_producers(http, "t", sorted_ports(&[&pinging, &silent, &stopped])).await;

    stopped.shutdown().await;
    wait_for_producers(http, "t", sorted_ports(&[&pinging, &silent])).await;

    wait_for_producers(http, "t", vec![ports(&pinging)]).await;
    let nodes = get(http, "/nodes").await.json();
    assert_eq!(nodes["producers"].as_array().unwrap().len(), 1, "{nodes}");
    pinging.shutdown().await;
    silent.shutdown().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn restarted_lookupd_gets_full_registration() {
    let lookupd = default_lookupd().await;
    let (tcp, http) = (lookupd.tcp_addr(), lookupd.http_addr());
    let a = start_nsqd(&[&lookupd], FAST_PING).await;
    let b = start_nsqd(&[&lookupd], FAST_PING).await;
    a.context().publish("t", "m".into()).unwrap();
    a.context().create_channel("t", "c").unwrap();
    a.context().publish("u", "m".into()).unwrap();
    b.context().publish("t", "m".into()).unwrap();
    wait_for_producers(http, "t", sorted_ports(&[&a, &b])).await;
    wait_for_producers(http, "u", vec![ports(&a)]).await;

    lookupd.shutdown().await;
    drop(lookupd);
    // Created while lookupd is down: must be registered after the restart too.
    b.context().get_or_create_topic("v").unwrap();

    let restarted = relaunch_lookupd((tcp, http)).await;
    wait_for_producers(http, "t", sorted_ports(&[&a, &b])).await;
    wait_for_producers(http, "u", vec![ports(&a)]).await;
    wait_for_producers(http, "v", vec![ports(&b)]).await;
    assert_eq!(channels_of(http, "t").await, ["c"]);
    let peers = a.context().lookup().unwrap().peers();
    assert!(peers[0].connected, "{peers:?}");
    a.shutdown().await;
    b.shutdown().await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn nsqd_registers_with_two_lookupds() {
    let first = default_lookupd().await;
    let second = default_lookupd().await;
    let nsqd = start_nsqd(&[&first, &second], FAST_PING).await;
    nsqd.context().publish("t", "m".into()).unwrap();
    nsqd.context().create_channel("t", "c").unwrap();
    for lookupd in [&first, &second] {
        let http = lookupd.http_addr();
        wait_for_producers(http, "t", vec![ports(&nsqd)]).await;
        eventually("channel on both lookupds", || async {
            channels_of(http, "t").await == ["c"]
        })
        .await;
    }
    let lookup = nsqd.context().lookup().unwrap();
    let mut expected = vec![first.tcp_addr().to_string(), second.tcp_addr().to_string()];
    expected.sort();
    let mut addresses: Vec<String> = lookup.peers().into_iter().map(|p| p.address).collect();
    addresses.sort();
    assert_eq!(addresses, expected);

    // Dropping one lookupd at runtime (PUT /config/nsqlookupd_tcp_addresses) disconnects it.
    lookup.set_addresses(vec![first.tcp_addr().to_string()]);
    let second_http = second.http_addr();
    wait_for_producers(second_http, "t", vec![]).await;
    assert_eq!(
        producer_ports(first.http_addr(), "t").await,
        vec![ports(&nsqd)]
    );
    nsqd.shutdown().await;
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn new_topic_precreates_channels_known_to_lookupd() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let a = start_nsqd(&[&lookupd], FAST_PING).await;
    let b = start_nsqd(&[&lookupd], FAST_PING).await;
    a.context().get_or_create_topic("t").unwrap();
    a.context().create_channel("t", "c").unwrap();
    a.context().create_channel("t", "e#ephemeral").unwrap();
    eventually("lookupd knows t/c", || async {
        channels_of(http, "t").await == ["c", "e#ephemeral"]
    })
    .await;
    eventually("b identified", || async {
        b.context().lookup().unwrap().peers()[0].info.is_some()
    })
    .await;

    // B's first PUB for t: B gets channel c (not the ephemeral one), holding the message.
    b.context().publish("t", "kept for c".into()).unwrap();
    eventually("channel c pre-created on b with the message", || async {
        let stats = b.context().stats(&Default::default());
        stats.iter().any(|topic| {
            topic.topic_name == "t"
                && topic.channels.len() == 1
                && topic.channels[0].channel_name == "c"
                && topic.channels[0].depth == 1
        })
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn put_config_nsqlookupd_tcp_addresses_switches_lookupds() {
    let first = default_lookupd().await;
    let second = default_lookupd().await;
    let nsqd = start_nsqd(&[&first], FAST_PING).await;
    nsqd.context().publish("t", "m".into()).unwrap();
    wait_for_producers(first.http_addr(), "t", vec![ports(&nsqd)]).await;

    let body = serde_json::json!([second.tcp_addr().to_string()]).to_string();
    let url = format!(
        "http://{}/config/nsqlookupd_tcp_addresses",
        nsqd.http_addr()
    );
    let client = reqwest::Client::new();
    let put = tokio::time::timeout(WAIT, client.put(&url).body(body.clone()).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.text().await.unwrap(), body);
    let current = tokio::time::timeout(WAIT, client.get(&url).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.text().await.unwrap(), body);

    wait_for_producers(second.http_addr(), "t", vec![ports(&nsqd)]).await;
    wait_for_producers(first.http_addr(), "t", vec![]).await;
    nsqd.shutdown().await;
    first.shutdown().await;
    second.shutdown().await;
}
