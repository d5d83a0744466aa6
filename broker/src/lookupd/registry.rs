//! The registration database: which nsqd (producer) registered which topic and channel.
//!
//! Mirrors Go's `RegistrationDB`: a map from a registration `(category, key, subkey)` to the
//! producers that registered it, keyed by the producer id (the remote `ip:port` of the nsqd's
//! TCP connection). All producers of one connection share one [`PeerInfo`], so a PING that
//! refreshes `last_update` refreshes every registration of that nsqd at once. Each
//! (registration, producer) pair carries its own tombstone.
//!
//! Removing a producer never removes the registration key (a topic stays listed with no
//! producers); only HTTP deletes and ephemeral unregisters remove keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use serde::Serialize;

use super::peer_info::unix_nanos;
pub use super::peer_info::{PeerFields, PeerInfo};

/// Go's `time.Time{}.UnixNano()`: what nsqlookupd's `/debug` shows as `tombstoned_at` for a
/// producer that was never tombstoned.
const GO_ZERO_TIME_UNIX_NANOS: i64 = -6_795_364_578_871_345_152;

const EPHEMERAL_SUFFIX: &str = "#ephemeral";

/// The kind of a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Every IDENTIFYed nsqd, under key `("", "")`.
    Client,
    /// A topic, under key `(topic, "")`.
    Topic,
    /// A channel, under key `(topic, channel)`.
    Channel,
}

impl Category {
    /// The name Go uses in `/debug` keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Client => "client",
            Category::Topic => "topic",
            Category::Channel => "channel",
        }
    }
}

/// One registration key: `(category, key, subkey)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registration {
    /// What is registered.
    pub category: Category,
    /// The topic name (empty for [`Category::Client`]).
    pub key: String,
    /// The channel name (empty unless [`Category::Channel`]).
    pub sub_key: String,
}

impl Registration {
    /// `("client", "", "")`.
    pub fn client() -> Self {
        Self::new(Category::Client, "", "")
    }

    /// `("topic", topic, "")`.
    pub fn topic(topic: &str) -> Self {
        Self::new(Category::Topic, topic, "")
    }

    /// `("channel", topic, channel)`.
    pub fn channel(topic: &str, channel: &str) -> Self {
        Self::new(Category::Channel, topic, channel)
    }

    fn new(category: Category, key: &str, sub_key: &str) -> Self {
        Self {
            category,
            key: key.to_owned(),
            sub_key: sub_key.to_owned(),
        }
    }

    fn is_channel_of(&self, topic: &str) -> bool {
        self.category == Category::Channel && self.key == topic
    }
}

/// One producer's entry in one registration.
#[derive(Debug, Clone)]
struct ProducerEntry {
    peer: Arc<PeerInfo>,
    tombstoned_at: Option<SystemTime>,
}

impl ProducerEntry {
    fn is_tombstoned(&self, lifetime: Duration) -> bool {
        match self.tombstoned_at {
            // A clock step backwards counts as "just tombstoned".
            Some(at) => SystemTime::now()
                .duration_since(at)
                .map_or(true, |age| age < lifetime),
            None => false,
        }
    }
}

/// The result of `/lookup?topic=t`.
#[derive(Debug, Serialize)]
pub struct TopicLookup {
    /// Every channel key of the topic, with or without producers.
    pub channels: Vec<String>,
    /// Active, non-tombstoned producers of the topic.
    pub producers: Vec<Arc<PeerInfo>>,
}

/// One entry of `/nodes`.
#[derive(Debug, Serialize)]
pub struct Node {
    /// The peer info, flattened into the node object.
    #[serde(flatten)]
    pub peer: Arc<PeerInfo>,
    /// Whether the producer's entry for `topics[i]` is currently tombstoned.
    pub tombstones: Vec<bool>,
    /// Topics the producer is registered for.
    pub topics: Vec<String>,
}

/// One producer entry as `/debug` shows it.
#[derive(Debug, Serialize)]
pub struct DebugProducer {
    id: String,
    hostname: String,
    broadcast_address: String,
    tcp_port: i64,
    http_port: i64,
    version: String,
    topology_zone: String,
    topology_region: String,
    last_update: i64,
    tombstoned: bool,
    tombstoned_at: i64,
}

type ProducerMap = HashMap<String, ProducerEntry>;

/// The registration database, shared by the TCP and HTTP sides of one nsqlookupd.
#[derive(Debug)]
pub struct Registry {
    map: RwLock<HashMap<Registration, ProducerMap>>,
    inactive_producer_timeout: Duration,
    tombstone_lifetime: Duration,
}

impl Registry {
    /// An empty registry applying the given visibility rules.
    pub fn new(inactive_producer_timeout: Duration, tombstone_lifetime: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            inactive_producer_timeout,
            tombstone_lifetime,
        }
    }

    /// Adds the key with no producers if absent.
    pub fn add_registration(&self, registration: Registration) {
        self.map.write().entry(registration).or_default();
    }

    /// Removes the key and all its producers; returns whether it existed.
    pub fn remove_registration(&self, registration: &Registration) -> bool {
        self.map.write().remove(registration).is_some()
    }

    /// Whether the key exists.
    pub fn contains(&self, registration: &Registration) -> bool {
        self.map.read().contains_key(registration)
    }

    /// Adds `peer` to the key; an existing entry (and its tombstone) is kept.
    /// Returns whether the producer was newly added.
    pub fn add_producer(&self, registration: Registration, peer: &Arc<PeerInfo>) -> bool {
        let mut map = self.map.write();
        let producers = map.entry(registration).or_default();
        if producers.contains_key(&peer.id) {
            return false;
        }
        let entry = ProducerEntry {
            peer: Arc::clone(peer),
            tombstoned_at: None,
        };
        producers.insert(peer.id.clone(), entry);
        true
    }

    /// Removes producer `id` from the key, keeping the key.
    /// Returns (was removed, producers left).
    pub fn remove_producer(&self, registration: &Registration, id: &str) -> (bool, usize) {
        let mut map = self.map.write();
        remove_producer_locked(&mut map, registration, id)
    }

    /// `REGISTER topic [channel]`: the channel key (if any) and the topic key.
    pub fn register(&self, peer: &Arc<PeerInfo>, topic: &str, channel: &str) {
        if !channel.is_empty() {
            self.add_producer(Registration::channel(topic, channel), peer);
        }
        self.add_producer(Registration::topic(topic), peer);
    }

    /// `UNREGISTER topic [channel]`, with Go's ephemeral clean-up rules.
    pub fn unregister(&self, id: &str, topic: &str, channel: &str) {
        let mut map = self.map.write();
        if !channel.is_empty() {
            let key = Registration::channel(topic, channel);
            let (_, left) = remove_producer_locked(&mut map, &key, id);
            if left == 0 && channel.ends_with(EPHEMERAL_SUFFIX) {
                map.remove(&key);
            }
            return;
        }
        let channel_keys: Vec<Registration> = map
            .keys()
            .filter(|r| r.is_channel_of(topic))
            .cloned()
            .collect();
        for key in &channel_keys {
            remove_producer_locked(&mut map, key, id);
        }
        let key = Registration::topic(topic);
        let (_, left) = remove_producer_locked(&mut map, &key, id);
        if left == 0 && topic.ends_with(EPHEMERAL_SUFFIX) {
            map.remove(&key);
        }
    }

    /// Removes producer `id` from every registration (its connection closed).
    /// Returns the registrations it was removed from.
    pub fn remove_producer_everywhere(&self, id: &str) -> Vec<Registration> {
        let mut map = self.map.write();
        let mut removed = Vec::new();
        for (registration, producers) in map.iter_mut() {
            if producers.remove(id).is_some() {
                removed.push(registration.clone());
            }
        }
        removed
    }

    /// Every topic key, with or without producers.
    pub fn topics(&self) -> Vec<String> {
        self.map
            .read()
            .keys()
            .filter(|r| r.category == Category::Topic)
            .map(|r| r.key.clone())
            .collect()
    }

    /// Every channel key of `topic` (empty for an unknown topic).
    pub fn channels(&self, topic: &str) -> Vec<String> {
        self.map
            .read()
            .keys()
            .filter(|r| r.is_channel_of(topic))
            .map(|r| r.sub_key.clone())
            .collect()
    }

    /// `/lookup`: `None` when the topic key does not exist.
    pub fn lookup(&self, topic: &str) -> Option<TopicLookup> {
        let map = self.map.read();
        let producers = map.get(&Registration::topic(topic))?;
        let now = unix_nanos(SystemTime::now());
        let producers = producers
            .values()
            .filter(|e| e.peer.is_active(now, self.inactive_producer_timeout))
            .filter(|e| !e.is_tombstoned(self.tombstone_lifetime))
            .map(|e| Arc::clone(&e.peer))
            .collect();
        let channels = map
            .keys()
            .filter(|r| r.is_channel_of(topic))
            .map(|r| r.sub_key.clone())
            .collect();
        Some(TopicLookup {
            channels,
            producers,
        })
    }

    /// `/nodes`: active identified producers (tombstoned ones included) with their topics.
    pub fn nodes(&self) -> Vec<Node> {
        let map = self.map.read();
        let now = unix_nanos(SystemTime::now());
        let Some(clients) = map.get(&Registration::client()) else {
            return Vec::new();
        };
        clients
            .values()
            .filter(|e| e.peer.is_active(now, self.inactive_producer_timeout))
            .map(|client| {
                let (topics, tombstones) = map
                    .iter()
                    .filter(|(r, _)| r.category == Category::Topic)
                    .filter_map(|(r, producers)| {
                        let entry = producers.get(&client.peer.id)?;
                        Some((r.key.clone(), entry.is_tombstoned(self.tombstone_lifetime)))
                    })
                    .unzip();
                Node {
                    peer: Arc::clone(&client.peer),
                    tombstones,
                    topics,
                }
            })
            .collect()
    }

    /// `/topic/tombstone`: tombstones every producer of `topic` whose
    /// `broadcast_address:http_port` equals `node`. Returns how many matched.
    pub fn tombstone(&self, topic: &str, node: &str) -> usize {
        let mut map = self.map.write();
        let Some(producers) = map.get_mut(&Registration::topic(topic)) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut matched = 0;
        for entry in producers.values_mut() {
            let this_node = format!("{}:{}", entry.peer.broadcast_address, entry.peer.http_port);
            if this_node == node {
                entry.tombstoned_at = Some(now);
                matched += 1;
            }
        }
        matched
    }

    /// `/topic/delete`: removes the topic key and every channel key of it.
    pub fn delete_topic(&self, topic: &str) {
        let mut map = self.map.write();
        map.retain(|r, _| !r.is_channel_of(topic));
        map.remove(&Registration::topic(topic));
    }

    /// `/debug`: every registration that has producers, keyed `category:key:subkey`.
    pub fn debug_dump(&self) -> BTreeMap<String, Vec<DebugProducer>> {
        let map = self.map.read();
        let mut dump = BTreeMap::new();
        for (registration, producers) in map.iter().filter(|(_, p)| !p.is_empty()) {
            let key = format!(
                "{}:{}:{}",
                registration.category.as_str(),
                registration.key,
                registration.sub_key
            );
            dump.insert(key, producers.values().map(debug_producer).collect());
        }
        dump
    }
}

fn remove_producer_locked(
    map: &mut HashMap<Registration, ProducerMap>,
    registration: &Registration,
    id: &str,
) -> (bool, usize) {
    match map.get_mut(registration) {
        Some(producers) => {
            let removed = producers.remove(id).is_some();
            (removed, producers.len())
        }
        None => (false, 0),
    }
}

fn debug_producer(entry: &ProducerEntry) -> DebugProducer {
    let peer = &entry.peer;
    DebugProducer {
        id: peer.id.clone(),
        hostname: peer.hostname.clone(),
        broadcast_address: peer.broadcast_address.clone(),
        tcp_port: peer.tcp_port,
        http_port: peer.http_port,
        version: peer.version.clone(),
        topology_zone: peer.topology_zone.clone(),
        topology_region: peer.topology_region.clone(),
        last_update: peer.last_update_nanos(),
        tombstoned: entry.tombstoned_at.is_some(),
        tombstoned_at: entry
            .tombstoned_at
            .map_or(GO_ZERO_TIME_UNIX_NANOS, unix_nanos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, http_port: i64) -> Arc<PeerInfo> {
        let fields = PeerFields {
            hostname: "h".into(),
            broadcast_address: "b".into(),
            tcp_port: 4150,
            http_port,
            version: "1.3.0".into(),
            ..PeerFields::default()
        };
        Arc::new(PeerInfo::new(id.into(), fields))
    }

    fn registry() -> Registry {
        Registry::new(Duration::from_secs(300), Duration::from_secs(45))
    }

    fn ids(lookup: &TopicLookup) -> Vec<String> {
        let mut ids: Vec<String> = lookup.producers.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn register_channel_registers_topic_too() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.register(&p, "t", "c");
        assert_eq!(db.topics(), vec!["t"]);
        assert_eq!(db.channels("t"), vec!["c"]);
        assert_eq!(ids(&db.lookup("t").unwrap()), vec!["1.1.1.1:1"]);
    }

    #[test]
    fn removing_producers_keeps_keys() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.add_producer(Registration::client(), &p);
        db.register(&p, "t", "c");
        let removed = db.remove_producer_everywhere(&p.id);
        assert_eq!(removed.len(), 3);
        let lookup = db.lookup("t").unwrap();
        assert!(lookup.producers.is_empty());
        assert_eq!(lookup.channels, vec!["c"]);
        assert!(db.nodes().is_empty());
        assert!(db.debug_dump().is_empty());
    }

    #[test]
    fn unregister_ephemeral_channel_deletes_key_when_empty() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.register(&p, "t", "c#ephemeral");
        db.register(&p, "t", "d");
        db.unregister(&p.id, "t", "c#ephemeral");
        db.unregister(&p.id, "t", "d");
        assert_eq!(db.channels("t"), vec!["d"]);
    }

    #[test]
    fn unregister_topic_removes_from_channels_and_ephemeral_topic_key() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.register(&p, "t#ephemeral", "c");
        db.unregister(&p.id, "t#ephemeral", "");
        assert!(db.lookup("t#ephemeral").is_none());
        assert_eq!(db.channels("t#ephemeral"), vec!["c"]);
        assert!(db.debug_dump().is_empty());
    }

    #[test]
    fn tombstone_hides_from_lookup_but_not_nodes() {
        let db = registry();
        let a = peer("1.1.1.1:1", 4151);
        let b = peer("1.1.1.1:2", 4152);
        for p in [&a, &b] {
            db.add_producer(Registration::client(), p);
            db.register(p, "t", "");
        }
        assert_eq!(db.tombstone("t", "b:4151"), 1);
        assert_eq!(ids(&db.lookup("t").unwrap()), vec!["1.1.1.1:2"]);
        let nodes = db.nodes();
        let node_a = nodes.iter().find(|n| n.peer.id == a.id).unwrap();
        assert_eq!(node_a.topics, vec!["t"]);
        assert_eq!(node_a.tombstones, vec![true]);
        // re-registering keeps the tombstone
        db.register(&a, "t", "");
        assert_eq!(ids(&db.lookup("t").unwrap()), vec!["1.1.1.1:2"]);
        // unregister then register creates a fresh entry
        db.unregister(&a.id, "t", "");
        db.register(&a, "t", "");
        assert_eq!(ids(&db.lookup("t").unwrap()).len(), 2);
    }

    #[test]
    fn tombstone_expires_after_lifetime() {
        let db = Registry::new(Duration::from_secs(300), Duration::ZERO);
        let p = peer("1.1.1.1:1", 4151);
        db.register(&p, "t", "");
        db.tombstone("t", "b:4151");
        assert_eq!(ids(&db.lookup("t").unwrap()).len(), 1);
    }

    #[test]
    fn inactive_producers_are_hidden_until_touched() {
        let db = Registry::new(Duration::from_millis(20), Duration::from_secs(45));
        let p = peer("1.1.1.1:1", 4151);
        db.add_producer(Registration::client(), &p);
        db.register(&p, "t", "");
        std::thread::sleep(Duration::from_millis(40));
        assert!(db.lookup("t").unwrap().producers.is_empty());
        assert!(db.nodes().is_empty());
        p.touch();
        assert_eq!(db.lookup("t").unwrap().producers.len(), 1);
        assert_eq!(db.nodes().len(), 1);
    }

    #[test]
    fn delete_topic_removes_topic_and_channel_keys() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.register(&p, "t", "c");
        db.register(&p, "u", "c");
        db.delete_topic("t");
        assert!(db.lookup("t").is_none());
        assert!(db.channels("t").is_empty());
        assert_eq!(db.channels("u"), vec!["c"]);
    }

    #[test]
    fn debug_dump_uses_go_keys() {
        let db = registry();
        let p = peer("1.1.1.1:1", 4151);
        db.add_producer(Registration::client(), &p);
        db.register(&p, "t", "c");
        let keys: Vec<String> = db.debug_dump().into_keys().collect();
        assert_eq!(keys, vec!["channel:t:c", "client::", "topic:t:"]);
        let json = serde_json::to_value(db.debug_dump()).unwrap();
        assert_eq!(
            json["topic:t:"][0]["tombstoned_at"],
            GO_ZERO_TIME_UNIX_NANOS
        );
    }

    #[test]
    fn peer_serializes_with_go_field_order() {
        let p = peer("1.1.1.1:1", 4151);
        let json = serde_json::to_string(&*p).unwrap();
        assert_eq!(
            json,
            r#"{"remote_address":"1.1.1.1:1","hostname":"h","broadcast_address":"b","tcp_port":4150,"http_port":4151,"version":"1.3.0","topology_zone":"","topology_region":""}"#
        );
    }
}
