//! [`NsqConfig`]: the `nsq` section of a service's configuration, shared by
//! [`NsqBroker`](crate::NsqBroker) and [`NsqServer`](crate::NsqServer): where NSQ is, the
//! client options (go-nsq's names), and per-subscriber overrides of what annotations declare.
//!
//! Every key is documented in `docs/nsq-framework.md`. In TOML:
//!
//! ```toml
//! [nsq]
//! nsqd_tcp_addresses = ["127.0.0.1:4150"]
//! nsqd_http_addresses = ["127.0.0.1:4151"]
//! lookupd_http_addresses = ["127.0.0.1:4161"]
//! connect_timeout = "5s"
//!
//! [nsq.client]            # go-nsq option names and value syntax
//! max_in_flight = 10
//! dial_timeout = "1s"
//!
//! [nsq.subscribers.send_receipt]   # keyed by the annotated function's name
//! max_attempts = 10
//! requeue_delay = "2s"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use framework::broker::{Backoff, SubscribeOptions};
use serde::Deserialize;

use crate::config::{Config, ConfigError};
use crate::duration::parse_go_duration;

/// How to reach NSQ and how to consume; see the [module docs](self).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NsqConfig {
    /// nsqd TCP addresses (`host:port`) to publish to and consume from directly.
    pub nsqd_tcp_addresses: Vec<String>,
    /// nsqd HTTP addresses, used at start to create declared topics and channels.
    pub nsqd_http_addresses: Vec<String>,
    /// nsqlookupd HTTP addresses: consumers discover nsqd through them, and topics and
    /// channels are created on every nsqd they list.
    pub lookupd_http_addresses: Vec<String>,
    /// Secret for nsqd's AUTH (sent only when nsqd requires it).
    pub auth_secret: String,
    /// Negotiate TLS with nsqd (`tls_v1`).
    pub tls_v1: bool,
    /// Create declared topics and channels on every known nsqd at start (default true).
    pub create_topics: bool,
    /// How long `NsqServer::start` waits for each subscription's first nsqd connection and
    /// how long one HTTP call to nsqd/lookupd may take (Go duration, default `5s`).
    pub connect_timeout: String,
    /// go-nsq client options by name (`max_in_flight`, `dial_timeout`, `publish_timeout`...),
    /// applied to every producer and consumer.
    pub client: BTreeMap<String, OptionValue>,
    /// Overrides of annotated subscribers' options, keyed by subscriber name.
    pub subscribers: BTreeMap<String, SubscriberOverride>,
}

impl Default for NsqConfig {
    fn default() -> Self {
        NsqConfig {
            nsqd_tcp_addresses: Vec::new(),
            nsqd_http_addresses: Vec::new(),
            lookupd_http_addresses: Vec::new(),
            auth_secret: String::new(),
            tls_v1: false,
            create_topics: true,
            connect_timeout: "5s".into(),
            client: BTreeMap::new(),
            subscribers: BTreeMap::new(),
        }
    }
}

/// A scalar config value: TOML/JSON/env give strings, numbers or booleans.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OptionValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else, e.g. a Go duration `"250ms"`.
    Str(String),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x}"),
            OptionValue::Str(s) => f.write_str(s),
        }
    }
}

/// What configuration may change about one annotated subscriber.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriberOverride {
    /// Consume another topic.
    pub topic: Option<String>,
    /// Consume with another channel.
    pub channel: Option<String>,
    /// Handler calls at once.
    pub concurrency: Option<usize>,
    /// Messages in flight (RDY).
    pub max_in_flight: Option<usize>,
    /// Attempts before giving up (0 = unlimited).
    pub max_attempts: Option<u16>,
    /// Dead-letter topic; an empty string disables dead-lettering (drop with a log line).
    pub dead_letter: Option<String>,
    /// Requeue delay per attempt made (Go duration); the delay grows linearly.
    pub requeue_delay: Option<String>,
    /// Cap of the requeue delay (Go duration, default 15m).
    pub max_requeue_delay: Option<String>,
    /// TOUCH messages while their handler runs.
    pub auto_touch: Option<bool>,
}

impl SubscriberOverride {
    /// Applies the override to `topic` and `options`.
    pub fn apply(
        &self,
        topic: &mut String,
        options: &mut SubscribeOptions,
    ) -> Result<(), ConfigError> {
        if let Some(t) = &self.topic {
            *topic = t.clone();
        }
        if let Some(channel) = &self.channel {
            options.channel = channel.clone();
        }
        if let Some(n) = self.concurrency {
            options.concurrency = n;
            options.max_in_flight = options.max_in_flight.max(n);
        }
        if let Some(n) = self.max_in_flight {
            options.max_in_flight = n;
        }
        if let Some(n) = self.max_attempts {
            options.max_attempts = n;
        }
        if let Some(topic) = &self.dead_letter {
            options.dead_letter = (!topic.is_empty()).then(|| topic.clone());
        }
        if let Some(enabled) = self.auto_touch {
            options.auto_touch = enabled;
        }
        if self.requeue_delay.is_some() || self.max_requeue_delay.is_some() {
            let step = match &self.requeue_delay {
                Some(v) => duration("requeue_delay", v)?,
                None => Duration::from_secs(90),
            };
            let max = match &self.max_requeue_delay {
                Some(v) => duration("max_requeue_delay", v)?,
                None => Duration::from_secs(15 * 60),
            };
            options.backoff = Backoff::Linear { step, max };
        }
        Ok(())
    }
}

fn duration(option: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_go_duration(value).map_err(|reason| ConfigError::BadValue {
        option: option.to_string(),
        value: value.to_string(),
        reason,
    })
}

impl NsqConfig {
    /// A configuration for one nsqd (TCP and HTTP address), e.g. an embedded one.
    pub fn nsqd(tcp: impl Into<String>, http: impl Into<String>) -> Self {
        NsqConfig {
            nsqd_tcp_addresses: vec![tcp.into()],
            nsqd_http_addresses: vec![http.into()],
            ..NsqConfig::default()
        }
    }

    /// A configuration that discovers nsqd through these lookupd HTTP addresses.
    pub fn lookupd<I, S>(addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NsqConfig {
            lookupd_http_addresses: addresses.into_iter().map(Into::into).collect(),
            ..NsqConfig::default()
        }
    }

    /// Sets one go-nsq client option (builder style).
    pub fn client_option(mut self, name: &str, value: impl Into<String>) -> Self {
        self.client
            .insert(name.to_string(), OptionValue::Str(value.into()));
        self
    }

    /// The go-nsq client [`Config`]: defaults, then `auth_secret`, `tls_v1` and `client`.
    pub fn client_config(&self) -> Result<Config, ConfigError> {
        let mut config = Config {
            auth_secret: self.auth_secret.clone(),
            tls_v1: self.tls_v1,
            ..Config::default()
        };
        for (name, value) in &self.client {
            config.set(name, &value.to_string())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// `connect_timeout` parsed.
    pub fn connect_timeout(&self) -> Result<Duration, ConfigError> {
        duration("connect_timeout", &self.connect_timeout)
    }

    /// Whether any address is configured.
    pub fn has_addresses(&self) -> bool {
        !self.nsqd_tcp_addresses.is_empty() || !self.lookupd_http_addresses.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_options_use_go_nsq_names() {
        let mut config = NsqConfig::nsqd("127.0.0.1:4150", "127.0.0.1:4151");
        config
            .client
            .insert("max_in_flight".into(), OptionValue::Int(10));
        config
            .client
            .insert("dial_timeout".into(), OptionValue::Str("2s".into()));
        let client = config.client_config().unwrap();
        assert_eq!(client.max_in_flight, 10);
        assert_eq!(client.dial_timeout, Duration::from_secs(2));
        config
            .client
            .insert("no_such".into(), OptionValue::Bool(true));
        assert!(config.client_config().is_err());
    }

    #[test]
    fn override_changes_annotated_options() {
        let over = SubscriberOverride {
            channel: Some("sms".into()),
            max_attempts: Some(9),
            dead_letter: Some(String::new()),
            requeue_delay: Some("2s".into()),
            ..SubscriberOverride::default()
        };
        let mut topic = "orders".to_string();
        let mut options = SubscribeOptions::new("email").dead_letter("orders.dlq");
        over.apply(&mut topic, &mut options).unwrap();
        assert_eq!(options.channel, "sms");
        assert_eq!(options.max_attempts, 9);
        assert_eq!(options.dead_letter, None);
        assert_eq!(options.backoff.delay(2), Duration::from_secs(4));
        let bad = SubscriberOverride {
            requeue_delay: Some("soon".into()),
            ..SubscriberOverride::default()
        };
        assert!(bad.apply(&mut topic, &mut options).is_err());
    }

    #[test]
    fn deserializes_from_json_with_defaults() {
        let config: NsqConfig = serde_json::from_value(serde_json::json!({
            "nsqd_tcp_addresses": ["127.0.0.1:4150"],
            "client": {"max_in_flight": 5, "snappy": false},
            "subscribers": {"send_receipt": {"max_attempts": 2}}
        }))
        .unwrap();
        assert!(config.create_topics);
        assert_eq!(config.connect_timeout().unwrap(), Duration::from_secs(5));
        assert_eq!(config.subscribers["send_receipt"].max_attempts, Some(2));
        assert_eq!(config.client_config().unwrap().max_in_flight, 5);
        let unknown = serde_json::from_value::<NsqConfig>(serde_json::json!({"nsqd": []}));
        assert!(unknown.is_err());
    }
}
