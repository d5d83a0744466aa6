//! [`NsqBroker`]: the framework's [`Broker`] on NSQ. Publishing wraps the message in the
//! framework's envelope with the current trace context (unless raw), and maps options onto
//! NSQ: a delay is `DPUB`, a batch is `MPUB`, a timeout is the call's deadline. Subscribing
//! starts a consumer like [`NsqServer`](crate::NsqServer) does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use framework::broker::{wire_bytes, HandlerStack, SubscriptionKey};
use framework::provider::{Cleanup, ProviderSet};
use framework::{Broker, BrokerError, Handler, Message, PublishOptions, SubscribeOptions};
use parking_lot::Mutex;

use crate::error::Error;
use crate::producer::Producer;
use crate::server::topology::{declare, Topology};
use crate::server::{start_subscription, validate, Running, Spec};
use crate::settings::NsqConfig;

/// Publishes (and, if asked, subscribes) over NSQ; cheap to clone.
///
/// ```no_run
/// use framework::{BrokerExt, Event};
/// use transport_nsq::{NsqBroker, NsqConfig};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(topic = "order.created")]
/// struct OrderCreated { id: String }
///
/// # async fn run() -> Result<(), framework::BrokerError> {
/// use framework::Broker;
/// let broker = NsqBroker::new(NsqConfig::nsqd("127.0.0.1:4150", "127.0.0.1:4151"));
/// broker.connect().await?;
/// broker.publish_event(&OrderCreated { id: "o-1".into() }).await?;   // topic from the type
/// broker.disconnect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NsqBroker {
    inner: Arc<Inner>,
}

struct Inner {
    config: NsqConfig,
    stack: HandlerStack,
    producer: Mutex<Option<Producer>>,
    subscriptions: tokio::sync::Mutex<HashMap<SubscriptionKey, Running>>,
}

impl std::fmt::Debug for NsqBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsqBroker")
            .field("nsqd", &self.inner.config.nsqd_tcp_addresses)
            .field("lookupd", &self.inner.config.lookupd_http_addresses)
            .finish()
    }
}

fn transport(err: Error) -> BrokerError {
    match err {
        Error::Timeout { .. } => BrokerError::Timeout,
        Error::InvalidTopic(name) | Error::InvalidChannel(name) => BrokerError::InvalidName(name),
        Error::InvalidMessage(reason) => BrokerError::InvalidOptions(reason),
        other => BrokerError::Transport(Box::new(other)),
    }
}

/// Any other failure (bad options, topology creation) as a transport error.
fn boxed_transport(err: impl std::error::Error + Send + Sync + 'static) -> BrokerError {
    BrokerError::Transport(Box::new(err))
}

impl NsqBroker {
    /// A broker for `config` whose subscriptions run handlers through tracing and panic
    /// recovery middleware. Call [`Broker::connect`] before publishing.
    pub fn new(config: NsqConfig) -> Self {
        NsqBroker::with_middleware(
            config,
            HandlerStack::new()
                .layer(framework::middleware::TracingLayer::new())
                .layer(framework::middleware::RecoveryLayer::new()),
        )
    }

    /// A broker whose subscriptions run handlers through `stack`.
    pub fn with_middleware(config: NsqConfig, stack: HandlerStack) -> Self {
        NsqBroker {
            inner: Arc::new(Inner {
                config,
                stack,
                producer: Mutex::new(None),
                subscriptions: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A provider set for the data layer: a connected `NsqBroker` built from the provided
    /// [`NsqConfig`], disconnected at cleanup.
    pub fn providers() -> ProviderSet {
        ProviderSet::new().provide_with_cleanup(|r: framework::Resolver| async move {
            let config = r.get::<NsqConfig>().await?;
            let broker = NsqBroker::new((*config).clone());
            broker.connect().await?;
            let closing = broker.clone();
            let cleanup = Cleanup::new(move || async move {
                if let Err(err) = closing.disconnect().await {
                    tracing::warn!(%err, "nsq broker disconnect failed");
                }
            });
            Ok((broker, cleanup))
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NsqConfig {
        &self.inner.config
    }

    fn producer(&self, timeout: Option<Duration>) -> Result<Producer, BrokerError> {
        let producer = self
            .inner
            .producer
            .lock()
            .clone()
            .ok_or(BrokerError::NotConnected)?;
        Ok(match timeout {
            Some(timeout) => producer.with_timeout(timeout),
            None => producer,
        })
    }

    /// The client options and the topology (with its connect timeout) from the config.
    fn client_and_topology(&self) -> Result<(crate::Config, Topology), BrokerError> {
        let config = &self.inner.config;
        let client = config.client_config().map_err(boxed_transport)?;
        let timeout = config.connect_timeout().map_err(boxed_transport)?;
        Ok((client, Topology::new(timeout)))
    }

    /// How long a subscription may drain: the client's `close_timeout` (30 s if the
    /// options do not parse).
    fn close_timeout(&self) -> Duration {
        self.inner
            .config
            .client_config()
            .map(|c| c.close_timeout)
            .unwrap_or(Duration::from_secs(30))
    }
}

#[async_trait]
impl Broker for NsqBroker {
    fn name(&self) -> &str {
        "nsq"
    }

    /// Connects a producer to the configured nsqd (and those lookupd lists) and checks that
    /// at least one answers.
    async fn connect(&self) -> Result<(), BrokerError> {
        if self.inner.producer.lock().is_some() {
            return Ok(());
        }
        let (client, topology) = self.client_and_topology()?;
        let nodes = topology.nodes(&self.inner.config).await;
        let producer = Producer::new(nodes.tcp, client).map_err(transport)?;
        producer.ping().await.map_err(transport)?;
        let mut slot = self.inner.producer.lock();
        if slot.is_none() {
            *slot = Some(producer);
        }
        Ok(())
    }

    async fn disconnect(&self) -> Result<(), BrokerError> {
        let subscriptions: Vec<Running> = self
            .inner
            .subscriptions
            .lock()
            .await
            .drain()
            .map(|(_, running)| running)
            .collect();
        let close_timeout = self.close_timeout();
        futures::future::join_all(subscriptions.iter().map(|r| r.drain(close_timeout))).await;
        let producer = self.inner.producer.lock().take();
        if let Some(producer) = producer {
            producer.stop().await;
        }
        Ok(())
    }

    async fn publish(
        &self,
        topic: &str,
        message: Message,
        options: PublishOptions,
    ) -> Result<(), BrokerError> {
        let producer = self.producer(options.timeout)?;
        let body = wire_bytes(message, &options)?;
        let result = match options.delay {
            Some(delay) if !delay.is_zero() => producer.deferred_publish(topic, delay, body).await,
            _ => producer.publish(topic, body).await,
        };
        result.map_err(transport)
    }

    /// Publishes several messages to `topic` in one `MPUB` (all accepted or none).
    /// `options.delay` is not supported by NSQ for batches and is rejected.
    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Message>,
        options: PublishOptions,
    ) -> Result<(), BrokerError> {
        if options.delay.is_some_and(|d| !d.is_zero()) {
            return Err(BrokerError::InvalidOptions(
                "NSQ has no delayed batch publish (MPUB takes no delay)".into(),
            ));
        }
        let producer = self.producer(options.timeout)?;
        let bodies = messages
            .into_iter()
            .map(|message| wire_bytes(message, &options))
            .collect::<Result<Vec<Bytes>, BrokerError>>()?;
        producer
            .multi_publish(topic, bodies)
            .await
            .map_err(transport)
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: Handler,
    ) -> Result<(), BrokerError> {
        let producer = self.producer(None)?;
        let key = SubscriptionKey::new(topic, options.channel.clone());
        validate(&key, &options).map_err(BrokerError::InvalidOptions)?;
        let mut subscriptions = self.inner.subscriptions.lock().await;
        if subscriptions.contains_key(&key) {
            return Err(BrokerError::AlreadySubscribed {
                topic: key.topic,
                channel: key.channel,
            });
        }
        let config = &self.inner.config;
        let (client, topology) = self.client_and_topology()?;
        let nodes = topology.nodes(config).await;
        if config.create_topics {
            let mut pairs = vec![(key.topic.as_str(), Some(key.channel.as_str()))];
            if let Some(dead) = &options.dead_letter {
                pairs.push((dead.as_str(), None));
            }
            let declared = declare(pairs);
            for nsqd in &nodes.http {
                topology
                    .create(nsqd, &declared)
                    .await
                    .map_err(boxed_transport)?;
            }
        }
        let spec = Spec {
            key: key.clone(),
            options,
            handler: self.inner.stack.apply(handler),
        };
        let running = start_subscription(
            spec,
            &client,
            &nodes,
            &config.lookupd_http_addresses,
            framework::AppInfo::current(),
            Some(producer),
        )
        .await
        .map_err(transport)?;
        subscriptions.insert(key, running);
        Ok(())
    }

    async fn unsubscribe(&self, topic: &str, channel: &str) -> Result<(), BrokerError> {
        let key = SubscriptionKey::new(topic, channel);
        let running = self.inner.subscriptions.lock().await.remove(&key);
        let Some(running) = running else {
            return Err(BrokerError::NotSubscribed {
                topic: key.topic,
                channel: key.channel,
            });
        };
        running.drain(self.close_timeout()).await;
        Ok(())
    }
}
