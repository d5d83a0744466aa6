//! Gathering the cluster from lookupd and nsqd HTTP APIs, and fanning admin actions out to
//! them (Go's `internal/clusterinfo`). Upstreams are queried concurrently; when only some
//! fail the answer is partial and the failures become a warning, when all fail it is an
//! error.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::model::{node_topics, Producer, ProducerTopic, TopicStats};
use super::stats::{LookupdLookup, LookupdNodes, LookupdTopics, NsqdInfo, NsqdStats};
use super::upstream::{Upstream, UpstreamError};

/// Where the cluster is read from: lookupds if any, else the listed nsqds.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--lookupd-http-address` values.
    pub lookupd: Vec<String>,
    /// `--nsqd-http-address` values.
    pub nsqd: Vec<String>,
}

/// A value gathered from several upstreams, with the failures of those that did not answer.
#[derive(Debug, Clone, Default)]
pub struct Partial<T> {
    /// What the answering upstreams said.
    pub value: T,
    /// One line per failed upstream.
    pub errors: Vec<String>,
}

impl<T> Partial<T> {
    fn ok(value: T) -> Self {
        Self {
            value,
            errors: Vec::new(),
        }
    }
}

/// Every upstream asked failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

/// The result of a gathering call.
pub type Gathered<T> = Result<Partial<T>, ClusterError>;

/// Splits results into values and error texts; all-failed (with at least one attempt)
/// becomes a [`ClusterError`].
fn gather<T>(what: &str, results: Vec<Result<T, UpstreamError>>) -> Gathered<Vec<T>> {
    let attempted = results.len();
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(value) => values.push(value),
            Err(err) => errors.push(err.to_string()),
        }
    }
    if attempted > 0 && values.is_empty() {
        return Err(ClusterError(format!(
            "failed to query any {what}: {}",
            errors.join("; ")
        )));
    }
    Ok(Partial {
        value: values,
        errors,
    })
}

/// Reads and administers the cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    upstream: Upstream,
}

impl Cluster {
    /// A cluster reader over the given HTTP client.
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    /// The HTTP client (for notifications).
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// All topic names, sorted: lookupd registrations, or the topics the nsqds hold.
    pub async fn topics(&self, sources: &Sources) -> Gathered<Vec<String>> {
        if !sources.lookupd.is_empty() {
            let replies = join_all(sources.lookupd.iter().map(|address| {
                self.upstream
                    .get_json::<LookupdTopics>(address, "/topics", &[])
            }))
            .await;
            let gathered = gather("nsqlookupd", replies)?;
            let mut topics: Vec<String> =
                gathered.value.into_iter().flat_map(|r| r.topics).collect();
            topics.sort();
            topics.dedup();
            return Ok(Partial {
                value: topics,
                errors: gathered.errors,
            });
        }
        let stats = self
            .nsqd_stats_by_address(&sources.nsqd, None, false)
            .await?;
        let mut topics: Vec<String> = stats
            .value
            .iter()
            .flat_map(|(_, s)| s.topics.iter().map(|t| t.topic_name.clone()))
            .collect();
        topics.sort();
        topics.dedup();
        Ok(Partial {
            value: topics,
            errors: stats.errors,
        })
    }

    /// Channels lookupd knows for `topic` (registered, whether or not any nsqd has them).
    pub async fn lookupd_topic_channels(&self, topic: &str, lookupds: &[String]) -> Vec<String> {
        let replies = join_all(lookupds.iter().map(|address| async move {
            self.upstream
                .get_json::<LookupdLookup>(address, "/lookup", &[("topic", topic)])
                .await
        }))
        .await;
        let mut channels: Vec<String> = replies
            .into_iter()
            .filter_map(Result::ok)
            .flat_map(|r| r.channels)
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    /// Every nsqd node, sorted by hostname then address.
    pub async fn producers(&self, sources: &Sources) -> Gathered<Vec<Producer>> {
        let mut producers = if !sources.lookupd.is_empty() {
            self.lookupd_producers(&sources.lookupd).await?
        } else {
            self.nsqd_producers(&sources.nsqd).await?
        };
        finish_producers(&mut producers.value);
        Ok(producers)
    }

    /// The nsqd nodes that hold `topic`.
    pub async fn topic_producers(&self, topic: &str, sources: &Sources) -> Gathered<Vec<Producer>> {
        if sources.lookupd.is_empty() {
            let all = self.nsqd_producers(&sources.nsqd).await?;
            let value = all
                .value
                .into_iter()
                .filter(|p| p.topics.iter().any(|t| t.topic == topic))
                .collect();
            return Ok(Partial {
                value,
                errors: all.errors,
            });
        }
        let replies = join_all(sources.lookupd.iter().map(|address| async move {
            match self
                .upstream
                .get_json::<LookupdLookup>(address, "/lookup", &[("topic", topic)])
                .await
            {
                // A lookupd that never heard of the topic simply has no producers for it.
                Err(err) if err.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
                    Ok((address.clone(), LookupdLookup::default()))
                }
                other => other.map(|lookup| (address.clone(), lookup)),
            }
        }))
        .await;
        let gathered = gather("nsqlookupd", replies)?;
        let mut merged: BTreeMap<String, Producer> = BTreeMap::new();
        for (_, lookup) in gathered.value {
            for peer in lookup.producers {
                let producer = Producer {
                    remote_address: peer.remote_address.clone(),
                    hostname: peer.hostname,
                    broadcast_address: peer.broadcast_address,
                    tcp_port: peer.tcp_port,
                    http_port: peer.http_port,
                    version: peer.version,
                    ..Producer::default()
                };
                let entry = merged
                    .entry(producer.http_address())
                    .or_insert_with(|| producer);
                entry.remote_addresses.push(peer.remote_address);
            }
        }
        let mut value: Vec<Producer> = merged.into_values().collect();
        finish_producers(&mut value);
        Ok(Partial {
            value,
            errors: gathered.errors,
        })
    }

    /// Per-node topic statistics from the given nodes' `/stats`, optionally for one topic.
    pub async fn node_stats(
        &self,
        producers: &[Producer],
        topic: Option<&str>,
        include_clients: bool,
    ) -> Gathered<Vec<TopicStats>> {
        let replies = join_all(producers.iter().map(|producer| async move {
            self.stats(&producer.api_address, topic, include_clients)
                .await
                .map(|stats| node_topics(producer, &stats))
        }))
        .await;
        let gathered = gather("nsqd", replies)?;
        Ok(Partial {
            value: gathered.value.into_iter().flatten().collect(),
            errors: gathered.errors,
        })
    }

    async fn stats(
        &self,
        address: &str,
        topic: Option<&str>,
        include_clients: bool,
    ) -> Result<NsqdStats, UpstreamError> {
        let clients = if include_clients { "true" } else { "false" };
        let mut query = vec![("format", "json"), ("include_clients", clients)];
        if let Some(topic) = topic {
            query.push(("topic", topic));
        }
        self.upstream.get_json(address, "/stats", &query).await
    }

    async fn nsqd_stats_by_address(
        &self,
        addresses: &[String],
        topic: Option<&str>,
        include_clients: bool,
    ) -> Gathered<Vec<(String, NsqdStats)>> {
        let replies = join_all(addresses.iter().map(|address| async move {
            self.stats(address, topic, include_clients)
                .await
                .map(|stats| (address.clone(), stats))
        }))
        .await;
        gather("nsqd", replies)
    }

    async fn lookupd_producers(&self, lookupds: &[String]) -> Gathered<Vec<Producer>> {
        let replies = join_all(lookupds.iter().map(|address| {
            self.upstream
                .get_json::<LookupdNodes>(address, "/nodes", &[])
        }))
        .await;
        let gathered = gather("nsqlookupd", replies)?;
        let mut merged: BTreeMap<String, Producer> = BTreeMap::new();
        for nodes in gathered.value {
            for peer in nodes.producers {
                let fresh = Producer {
                    remote_address: peer.remote_address.clone(),
                    hostname: peer.hostname.clone(),
                    broadcast_address: peer.broadcast_address.clone(),
                    tcp_port: peer.tcp_port,
                    http_port: peer.http_port,
                    version: peer.version.clone(),
                    ..Producer::default()
                };
                let producer = merged.entry(fresh.http_address()).or_insert(fresh);
                producer.remote_addresses.push(peer.remote_address);
                for (index, topic) in peer.topics.iter().enumerate() {
                    let tombstoned = peer.tombstones.get(index).copied().unwrap_or(false);
                    match producer.topics.iter_mut().find(|t| &t.topic == topic) {
                        Some(existing) => existing.tombstoned |= tombstoned,
                        None => producer.topics.push(ProducerTopic {
                            topic: topic.clone(),
                            tombstoned,
                        }),
                    }
                }
            }
        }
        Ok(Partial {
            value: merged.into_values().collect(),
            errors: gathered.errors,
        })
    }

    async fn nsqd_producers(&self, nsqds: &[String]) -> Gathered<Vec<Producer>> {
        let replies = join_all(nsqds.iter().map(|address| async move {
            let info: NsqdInfo = self.upstream.get_json(address, "/info", &[]).await?;
            let stats = self.stats(address, None, false).await?;
            Ok::<_, UpstreamError>(Producer {
                remote_addresses: vec![address.clone()],
                remote_address: address.clone(),
                hostname: info.hostname,
                broadcast_address: info.broadcast_address,
                tcp_port: info.tcp_port,
                http_port: info.http_port,
                version: info.version,
                topics: stats
                    .topics
                    .iter()
                    .map(|t| ProducerTopic {
                        topic: t.topic_name.clone(),
                        tombstoned: false,
                    })
                    .collect(),
                out_of_date: false,
                api_address: address.clone(),
            })
        }))
        .await;
        let mut gathered = gather("nsqd", replies)?;
        finish_producers(&mut gathered.value);
        Ok(gathered)
    }

    /// POSTs `path?query` to every address; all-failed is an error, some-failed a warning.
    async fn fan_out(
        &self,
        what: &str,
        addresses: &[String],
        path: &str,
        query: &[(&str, &str)],
    ) -> Gathered<()> {
        let replies = join_all(
            addresses
                .iter()
                .map(|address| self.upstream.post(address, path, query)),
        )
        .await;
        let gathered = gather(what, replies)?;
        Ok(Partial {
            value: (),
            errors: gathered.errors,
        })
    }

    /// Creates a topic (and optionally a channel) in every lookupd; the channel also on
    /// every nsqd that has the topic. Without lookupds, on every listed nsqd.
    pub async fn create_topic_channel(
        &self,
        topic: &str,
        channel: Option<&str>,
        sources: &Sources,
    ) -> Gathered<()> {
        let mut errors = Vec::new();
        if sources.lookupd.is_empty() {
            let done = self
                .fan_out("nsqd", &sources.nsqd, "/topic/create", &[("topic", topic)])
                .await?;
            errors.extend(done.errors);
            if let Some(channel) = channel {
                let query = [("topic", topic), ("channel", channel)];
                let done = self
                    .fan_out("nsqd", &sources.nsqd, "/channel/create", &query)
                    .await?;
                errors.extend(done.errors);
            }
            return Ok(Partial { value: (), errors });
        }
        let done = self
            .fan_out(
                "nsqlookupd",
                &sources.lookupd,
                "/topic/create",
                &[("topic", topic)],
            )
            .await?;
        errors.extend(done.errors);
        if let Some(channel) = channel {
            let query = [("topic", topic), ("channel", channel)];
            let done = self
                .fan_out("nsqlookupd", &sources.lookupd, "/channel/create", &query)
                .await?;
            errors.extend(done.errors);
            let producers = self.topic_producers(topic, sources).await?;
            errors.extend(producers.errors);
            let addresses = api_addresses(&producers.value);
            if !addresses.is_empty() {
                let done = self
                    .fan_out("nsqd", &addresses, "/channel/create", &query)
                    .await?;
                errors.extend(done.errors);
            }
        }
        Ok(Partial { value: (), errors })
    }

    /// Deletes a topic from every lookupd and from every nsqd that has it.
    pub async fn delete_topic(&self, topic: &str, sources: &Sources) -> Gathered<()> {
        // The producers must be found before lookupd forgets them.
        let producers = self.topic_producers(topic, sources).await?;
        let mut errors = producers.errors;
        let query = [("topic", topic)];
        if !sources.lookupd.is_empty() {
            let done = self
                .fan_out("nsqlookupd", &sources.lookupd, "/topic/delete", &query)
                .await?;
            errors.extend(done.errors);
        }
        let addresses = api_addresses(&producers.value);
        if !addresses.is_empty() {
            let done = self
                .fan_out("nsqd", &addresses, "/topic/delete", &query)
                .await?;
            errors.extend(done.errors);
        }
        Ok(Partial { value: (), errors })
    }

    /// Deletes a channel from every lookupd and from every nsqd that has its topic.
    pub async fn delete_channel(
        &self,
        topic: &str,
        channel: &str,
        sources: &Sources,
    ) -> Gathered<()> {
        let producers = self.topic_producers(topic, sources).await?;
        let mut errors = producers.errors;
        let query = [("topic", topic), ("channel", channel)];
        if !sources.lookupd.is_empty() {
            // A lookupd without the channel answers 404; that is not a failure here.
            let replies = join_all(sources.lookupd.iter().map(|address| async move {
                match self.upstream.post(address, "/channel/delete", &query).await {
                    Err(err) if err.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(()),
                    other => other,
                }
            }))
            .await;
            errors.extend(gather("nsqlookupd", replies)?.errors);
        }
        let addresses = api_addresses(&producers.value);
        if !addresses.is_empty() {
            let done = self
                .fan_out("nsqd", &addresses, "/channel/delete", &query)
                .await?;
            errors.extend(done.errors);
        }
        Ok(Partial { value: (), errors })
    }

    /// `pause`, `unpause` or `empty` on a topic (`channel` = None) or a channel, on every
    /// nsqd that has the topic.
    pub async fn topic_channel_action(
        &self,
        action: &str,
        topic: &str,
        channel: Option<&str>,
        sources: &Sources,
    ) -> Gathered<()> {
        let producers = self.topic_producers(topic, sources).await?;
        let mut errors = producers.errors;
        let addresses = api_addresses(&producers.value);
        if addresses.is_empty() {
            return Ok(Partial { value: (), errors });
        }
        let done = match channel {
            Some(channel) => {
                let path = format!("/channel/{action}");
                self.fan_out(
                    "nsqd",
                    &addresses,
                    &path,
                    &[("topic", topic), ("channel", channel)],
                )
                .await?
            }
            None => {
                let path = format!("/topic/{action}");
                self.fan_out("nsqd", &addresses, &path, &[("topic", topic)])
                    .await?
            }
        };
        errors.extend(done.errors);
        Ok(Partial { value: (), errors })
    }

    /// Tombstones `topic` for `node` (`broadcast_address:http_port`) in every lookupd, then
    /// deletes the topic on that node, so consumers stop discovering it there.
    pub async fn tombstone_topic_producer(
        &self,
        topic: &str,
        node: &str,
        sources: &Sources,
    ) -> Gathered<()> {
        let done = self
            .fan_out(
                "nsqlookupd",
                &sources.lookupd,
                "/topic/tombstone",
                &[("topic", topic), ("node", node)],
            )
            .await?;
        let mut errors = done.errors;
        let producers = self.producers(sources).await?;
        errors.extend(producers.errors);
        if let Some(producer) = producers.value.iter().find(|p| p.http_address() == node) {
            let address = [producer.api_address.clone()];
            let done = self
                .fan_out("nsqd", &address, "/topic/delete", &[("topic", topic)])
                .await?;
            errors.extend(done.errors);
        }
        Ok(Partial { value: (), errors })
    }
}

impl Partial<()> {
    /// A success with no warnings.
    pub fn done() -> Self {
        Partial::ok(())
    }
}

fn api_addresses(producers: &[Producer]) -> Vec<String> {
    producers.iter().map(|p| p.api_address.clone()).collect()
}

/// Sorts, fills the request address and marks nodes older than the newest version.
fn finish_producers(producers: &mut [Producer]) {
    for producer in producers.iter_mut() {
        if producer.api_address.is_empty() {
            producer.api_address = producer.http_address();
        }
        if producer.remote_address.is_empty() {
            if let Some(first) = producer.remote_addresses.first() {
                producer.remote_address = first.clone();
            }
        }
        producer.topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    }
    let newest = producers.iter().map(|p| version_key(&p.version)).max();
    for producer in producers.iter_mut() {
        producer.out_of_date = Some(version_key(&producer.version)) < newest;
    }
    producers.sort_by(|a, b| (&a.hostname, a.http_address()).cmp(&(&b.hostname, b.http_address())));
}

/// `1.3.0` → (1, 3, 0); anything unparseable sorts lowest, like Go's `0.0.0` fallback.
fn version_key(version: &str) -> (u64, u64, u64) {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c))) => (a, b, c),
        _ => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("1.10.0") > version_key("1.9.9"));
        assert_eq!(version_key("1.3.0-alpha"), (1, 3, 0));
        assert_eq!(version_key("junk"), (0, 0, 0));
    }

    #[test]
    fn older_nodes_are_out_of_date() {
        let mut producers = vec![
            Producer {
                hostname: "b".into(),
                version: "1.3.0".into(),
                ..Producer::default()
            },
            Producer {
                hostname: "a".into(),
                version: "1.2.1".into(),
                ..Producer::default()
            },
        ];
        finish_producers(&mut producers);
        assert_eq!(producers[0].hostname, "a");
        assert!(producers[0].out_of_date);
        assert!(!producers[1].out_of_date);
    }

    #[test]
    fn all_failed_is_an_error_some_failed_a_warning() {
        let failed = || {
            Err(UpstreamError::Status {
                url: "u".into(),
                status: reqwest::StatusCode::BAD_GATEWAY,
                body: String::new(),
            })
        };
        assert!(gather::<u8>("nsqd", vec![failed(), failed()]).is_err());
        let partial = gather("nsqd", vec![Ok(1u8), failed()]).unwrap();
        assert_eq!(partial.value, vec![1]);
        assert_eq!(partial.errors.len(), 1);
        assert!(gather::<u8>("nsqd", vec![]).unwrap().value.is_empty());
    }
}
