//! nsqd's lookupd client (`broker::nsqd::lookup`) against a real embedded lookupd, with a
//! fake topic source: connect routine, event forwarding, reconnect after a lookupd
//! restart, several lookupds, runtime address changes, channel pre-creation query.

mod lookupd_support;

use std::sync::Arc;
use std::time::Duration;

use broker::nsqd::events::NsqdEvent;
use broker::nsqd::lookup::{self, LookupConfig, LookupHandle, LookupIdentity, NsqdTopology};
use lookupd_support::*;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A stand-in for the nsqd engine: a topic list, an event channel, and a record of
/// pre-created channels.
struct FakeTopics {
    topics: Mutex<Vec<(String, Vec<String>)>>,
    events: broadcast::Sender<NsqdEvent>,
    created: Mutex<Vec<(String, Vec<String>)>>,
}

impl NsqdTopology for FakeTopics {
    fn topics_and_channels(&self) -> Vec<(String, Vec<String>)> {
        self.topics.lock().clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<NsqdEvent> {
        self.events.subscribe()
    }

    fn create_channels(&self, topic: &str, channels: &[String]) {
        self.created
            .lock()
            .push((topic.to_owned(), channels.to_vec()));
    }
}

fn identity(tcp_port: u16) -> LookupIdentity {
    LookupIdentity {
        broadcast_address: "127.0.0.1".into(),
        hostname: "fake-nsqd".into(),
        http_port: tcp_port + 1,
        tcp_port,
        topology_region: String::new(),
        topology_zone: String::new(),
        version: "1.3.0".into(),
    }
}

struct Harness {
    client: LookupHandle,
    topics: Arc<FakeTopics>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Harness {
    fn start(addresses: &[String], tcp_port: u16, topics: Vec<(&str, Vec<&str>)>) -> Self {
        let topics = topics
            .into_iter()
            .map(|(t, cs)| (t.to_owned(), cs.into_iter().map(str::to_owned).collect()))
            .collect();
        let topics = Arc::new(FakeTopics {
            topics: Mutex::new(topics),
            events: broadcast::channel(64).0,
            created: Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let config = LookupConfig {
            identity: identity(tcp_port),
            max_body_size: 5 * 1024 * 1024,
            ping_interval: Duration::from_millis(100),
            http_timeout: Duration::from_secs(2),
        };
        let client = lookup::start(config, addresses, topics.clone(), stop.clone(), &tasks);
        Self {
            client,
            topics,
            stop,
            tasks,
        }
    }

    fn emit(&self, event: NsqdEvent) {
        self.topics.events.send(event).unwrap();
    }

    async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        tokio::time::timeout(WAIT, self.tasks.wait()).await.unwrap();
    }
}

async fn lookup_tcp_ports(http: std::net::SocketAddr, topic: &str) -> Vec<u64> {
    lookup_producers_by(http, topic, |p| p["tcp_port"].as_u64().unwrap()).await
}

#[tokio::test]
async fn registers_snapshot_and_forwards_events() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let harness = Harness::start(
        &[lookupd.tcp_addr().to_string()],
        4150,
        vec![("t", vec!["c", "d"]), ("u", vec![])],
    );
    eventually("snapshot registered", || async {
        lookup_tcp_ports(http, "t").await == [4150] && lookup_tcp_ports(http, "u").await == [4150]
    })
    .await;
    assert_eq!(channels_of(http, "t").await, vec!["c", "d"]);
    let nodes = get(http, "/nodes").await.json();
    assert_eq!(nodes["producers"][0]["hostname"], "fake-nsqd");
    assert_eq!(nodes["producers"][0]["http_port"], 4151);

    let status = harness.client.peers();
    assert_eq!(status.len(), 1);
    assert!(status[0].connected);
    let info = status[0].info.clone().unwrap();
    assert_eq!(info.http_port, i64::from(lookupd.http_addr().port()));
    assert_eq!(info.tcp_port, i64::from(lookupd.tcp_addr().port()));
    assert_eq!(info.broadcast_address, "127.0.0.1");

    harness.emit(NsqdEvent::TopicCreated { topic: "v".into() });
    harness.emit(NsqdEvent::ChannelCreated {
        topic: "v".into(),
        channel: "e#ephemeral".into(),
    });
    eventually("new topic and channel registered", || async {
        lookup_tcp_ports(http, "v").await == [4150]
            && channels_of(http, "v").await == ["e#ephemeral"]
    })
    .await;
    harness.emit(NsqdEvent::ChannelDeleted {
        topic: "v".into(),
        channel: "e#ephemeral".into(),
    });
    harness.emit(NsqdEvent::TopicDeleted { topic: "u".into() });
    eventually("deletions unregistered", || async {
        channels_of(http, "v").await.is_empty() && lookup_tcp_ports(http, "u").await.is_empty()
    })
    .await;
    // The topic key stays in lookupd after the producer left.
    assert_eq!(get(http, "/lookup?topic=u").await.status, 200);
    harness.stop().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn re_registers_after_lookupd_restart() {
    let lookupd = default_lookupd().await;
    let (tcp, http) = (lookupd.tcp_addr(), lookupd.http_addr());
    let harness = Harness::start(&[tcp.to_string()], 4150, vec![("t", vec!["c"])]);
    eventually("registered", || async {
        lookup_tcp_ports(http, "t").await == [4150]
    })
    .await;

    lookupd.shutdown().await;
    drop(lookupd);
    // While lookupd is down, a new topic appears.
    harness.topics.topics.lock().push(("w".into(), vec![]));
    harness.emit(NsqdEvent::TopicCreated { topic: "w".into() });
    eventually("peer noticed the outage", || async {
        !harness.client.peers()[0].connected
    })
    .await;

    let restarted = relaunch_lookupd((tcp, http)).await;
    eventually("full re-registration", || async {
        lookup_tcp_ports(http, "t").await == [4150]
            && lookup_tcp_ports(http, "w").await == [4150]
            && channels_of(http, "t").await == ["c"]
    })
    .await;
    assert!(harness.client.peers()[0].connected);
    harness.stop().await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn two_lookupds_and_runtime_address_changes() {
    let first = default_lookupd().await;
    let second = default_lookupd().await;
    let addresses = [first.tcp_addr().to_string(), second.tcp_addr().to_string()];
    let harness = Harness::start(&addresses, 4150, vec![("t", vec![])]);
    for lookupd in [&first, &second] {
        let http = lookupd.http_addr();
        eventually("registered on both", || async {
            lookup_tcp_ports(http, "t").await == [4150]
        })
        .await;
    }
    harness.emit(NsqdEvent::TopicCreated { topic: "x".into() });
    for lookupd in [&first, &second] {
        let http = lookupd.http_addr();
        eventually("event on both", || async {
            lookup_tcp_ports(http, "x").await == [4150]
        })
        .await;
    }
    assert_eq!(harness.client.addresses(), addresses.to_vec());
    assert_eq!(harness.client.peers().len(), 2);

    harness.client.set_addresses(addresses[..1].to_vec());
    let second_http = second.http_addr();
    eventually("removed peer disconnected", || async {
        get(second_http, "/nodes").await.body == r#"{"producers":[]}"#
    })
    .await;
    assert_eq!(lookup_tcp_ports(first.http_addr(), "t").await, [4150]);
    assert_eq!(harness.client.peers().len(), 1);
    assert_eq!(harness.client.addresses(), addresses[..1].to_vec());
    harness.stop().await;
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn channels_for_topic_unions_lookupds_without_ephemeral() {
    let first = default_lookupd().await;
    let second = default_lookupd().await;
    post(first.http_addr(), "/channel/create?topic=t&channel=a").await;
    post(second.http_addr(), "/channel/create?topic=t&channel=b").await;
    post(
        second.http_addr(),
        "/channel/create?topic=t&channel=z%23ephemeral",
    )
    .await;
    let addresses = [first.tcp_addr().to_string(), second.tcp_addr().to_string()];
    let harness = Harness::start(&addresses, 4150, vec![]);
    eventually("both identified", || async {
        harness.client.peers().iter().all(|p| p.info.is_some())
    })
    .await;
    assert_eq!(harness.client.channels_for_topic("t").await, vec!["a", "b"]);
    assert!(harness.client.channels_for_topic("none").await.is_empty());

    // A topic created at runtime gets the lookupds' channels pre-created.
    harness.emit(NsqdEvent::TopicCreated { topic: "t".into() });
    harness.emit(NsqdEvent::TopicCreated {
        topic: "none".into(),
    });
    eventually("channels pre-created", || async {
        !harness.topics.created.lock().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let created = harness.topics.created.lock().clone();
    assert_eq!(
        created,
        vec![("t".to_owned(), vec!["a".to_owned(), "b".to_owned()])]
    );
    harness.stop().await;
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn unreachable_lookupd_does_not_block_the_others() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    // A port nobody listens on: bind, read the port, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_address = dead.local_addr().unwrap().to_string();
    drop(dead);
    let harness = Harness::start(
        &[dead_address, lookupd.tcp_addr().to_string()],
        4150,
        vec![("t", vec![])],
    );
    eventually("live lookupd registered", || async {
        lookup_tcp_ports(http, "t").await == [4150]
    })
    .await;
    let statuses = harness.client.peers();
    assert_eq!(statuses.iter().filter(|s| s.connected).count(), 1);
    assert!(harness.client.channels_for_topic("t").await.is_empty());
    harness.stop().await;
    lookupd.shutdown().await;
}
