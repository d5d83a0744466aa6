//! [`NsqServer`]: the NSQ side of a service's server layer. It holds subscriber
//! registrations keyed by `(topic, channel)`; at start it creates the declared topics and
//! channels on every known nsqd, then connects one consumer per registration; handlers run
//! through the framework's middleware; stop drains in-flight messages within the deadline.

mod subscription;
pub mod topology;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framework::broker::{HandlerStack, SubscribeOptions, SubscriptionKey};
use framework::health::HealthCheck;
use framework::middleware::{RecoveryLayer, TracingLayer};
use framework::provider::{Container, ProvideError};
use framework::subscriber::Subscriber;
use framework::{AppInfo, BoxError, Endpoint, Handler, Server};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::config::ConfigError;
use crate::producer::Producer;
use crate::settings::NsqConfig;
pub(crate) use subscription::{start as start_subscription, validate, Running, Spec};
use topology::{declare, Nodes, Topology, TopologyError};

/// Why an [`NsqServer`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The `nsq` configuration is invalid.
    #[error("nsq configuration: {0}")]
    Config(#[from] ConfigError),
    /// Neither nsqd nor lookupd addresses are configured.
    #[error("nsq configuration: no nsqd_tcp_addresses or lookupd_http_addresses")]
    NoAddresses,
    /// A subscriber's injected dependency is not provided.
    #[error("subscriber {subscriber}: {source}")]
    Provide {
        /// The subscriber's name.
        subscriber: String,
        /// What is missing.
        #[source]
        source: ProvideError,
    },
    /// Two registrations for one `(topic, channel)`.
    #[error("two subscribers on {topic}/{channel}: subscriptions are keyed by (topic, channel)")]
    Duplicate {
        /// Topic name.
        topic: String,
        /// Channel name.
        channel: String,
    },
    /// Names or options NSQ would reject.
    #[error("subscriber {subscriber}: {reason}")]
    Invalid {
        /// The subscriber's name.
        subscriber: String,
        /// What is wrong.
        reason: String,
    },
    /// Creating topics/channels on an nsqd failed.
    #[error("creating topics and channels on nsqd {nsqd}: {source}")]
    Declare {
        /// The nsqd HTTP address.
        nsqd: String,
        /// What failed.
        #[source]
        source: TopologyError,
    },
    /// The NSQ client failed.
    #[error("{operation}: {source}")]
    Client {
        /// `topic/channel`, or what was being done.
        operation: String,
        /// The client error.
        #[source]
        source: crate::Error,
    },
}

enum Registration {
    Declared(Box<dyn Subscriber>),
    Plain {
        name: String,
        topic: String,
        options: SubscribeOptions,
        handler: Handler,
    },
}

/// Connection state of one subscription, for health checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionHealth {
    /// Topic.
    pub topic: String,
    /// Channel.
    pub channel: String,
    /// nsqd connections currently subscribed.
    pub connections: usize,
    /// Messages received so far.
    pub received: u64,
    /// Messages finished so far.
    pub finished: u64,
    /// Messages requeued so far.
    pub requeued: u64,
}

/// Consumes NSQ with declared subscribers; a [`framework::Server`].
///
/// ```no_run
/// use framework::{subscriber, App, Context};
/// use transport_nsq::{NsqConfig, NsqServer};
///
/// #[subscriber(topic = "order.created", channel = "email", max_attempts = 5,
///              dead_letter = "order.created.dlq")]
/// async fn send_receipt(ctx: Context, order: serde_json::Value) -> Result<(), std::io::Error> {
///     tracing::info!(op = ctx.operation(), %order, "sending receipt");
///     Ok(())
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = NsqConfig::nsqd("127.0.0.1:4150", "127.0.0.1:4151");
/// App::builder()
///     .name("notifier")
///     .server(NsqServer::new(&config).subscribe(send_receipt))
///     .build()
///     .await?
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
pub struct NsqServer {
    config: NsqConfig,
    stack: HandlerStack,
    container: Option<Container>,
    registrations: Mutex<Vec<Registration>>,
    /// Shared with [`NsqHealthCheck`]s.
    running: Arc<Mutex<Vec<Arc<Running>>>>,
    dead_letters: Mutex<Option<Producer>>,
}

impl NsqServer {
    /// A server for `config`, with the default middleware (tracing, then panic recovery).
    pub fn new(config: &NsqConfig) -> Self {
        NsqServer {
            config: config.clone(),
            stack: HandlerStack::new()
                .layer(TracingLayer::new())
                .layer(RecoveryLayer::new()),
            container: None,
            registrations: Mutex::new(Vec::new()),
            running: Arc::new(Mutex::new(Vec::new())),
            dead_letters: Mutex::new(None),
        }
    }

    /// Replaces the middleware every handler runs through (the same stack type the gRPC
    /// server uses for its requests).
    pub fn middleware(mut self, stack: HandlerStack) -> Self {
        self.stack = stack;
        self
    }

    /// The provided values that `Inject<T>` parameters of subscribers are taken from.
    pub fn container(mut self, container: &Container) -> Self {
        self.container = Some(container.clone());
        self
    }

    /// Registers an annotated subscriber (`#[subscriber]`); configuration under
    /// `subscribers.<name>` overrides its options.
    pub fn subscribe<S: Subscriber>(self, subscriber: S) -> Self {
        self.registrations
            .lock()
            .push(Registration::Declared(Box::new(subscriber)));
        self
    }

    /// Registers a plain framework handler on `(topic, options.channel)`.
    pub fn handle(
        self,
        topic: impl Into<String>,
        options: SubscribeOptions,
        handler: Handler,
    ) -> Self {
        let topic = topic.into();
        let name = format!("{topic}/{}", options.channel);
        self.registrations.lock().push(Registration::Plain {
            name,
            topic,
            options,
            handler,
        });
        self
    }

    /// Connection state of every running subscription.
    pub fn health(&self) -> Vec<SubscriptionHealth> {
        health_of(&self.running.lock())
    }

    /// Whether the server runs and every subscription has at least one nsqd connection.
    pub fn is_healthy(&self) -> bool {
        is_healthy(&self.running.lock())
    }

    /// A handle that answers [`is_healthy`](Self::is_healthy) after this server was moved
    /// into the App; give it to the gRPC server so its health service reports the consumers:
    /// `GrpcServer::new(..).health_check("nsq", nsq.health_check())`.
    pub fn health_check(&self) -> NsqHealthCheck {
        NsqHealthCheck {
            running: self.running.clone(),
        }
    }

    /// The `(topic, channel)` keys registered, after configuration overrides.
    pub fn subscriptions(&self) -> Result<Vec<SubscriptionKey>, ServeError> {
        Ok(self.specs()?.into_iter().map(|s| s.key).collect())
    }

    fn specs(&self) -> Result<Vec<Spec>, ServeError> {
        let empty = Container::empty();
        let container = self.container.as_ref().unwrap_or(&empty);
        let mut specs: Vec<Spec> = Vec::new();
        for registration in self.registrations.lock().iter() {
            let (name, mut topic, mut options, handler) = match registration {
                Registration::Declared(subscriber) => {
                    let handler =
                        subscriber
                            .handler(container)
                            .map_err(|source| ServeError::Provide {
                                subscriber: subscriber.name().to_string(),
                                source,
                            })?;
                    (
                        subscriber.name().to_string(),
                        subscriber.topic().to_string(),
                        subscriber.options(),
                        handler,
                    )
                }
                Registration::Plain {
                    name,
                    topic,
                    options,
                    handler,
                } => (
                    name.clone(),
                    topic.clone(),
                    options.clone(),
                    handler.clone(),
                ),
            };
            if let Some(over) = self.config.subscribers.get(&name) {
                over.apply(&mut topic, &mut options)?;
            }
            let key = SubscriptionKey::new(topic, options.channel.clone());
            validate(&key, &options).map_err(|reason| ServeError::Invalid {
                subscriber: name.clone(),
                reason,
            })?;
            if specs.iter().any(|s| s.key == key) {
                return Err(ServeError::Duplicate {
                    topic: key.topic,
                    channel: key.channel,
                });
            }
            specs.push(Spec {
                key,
                options,
                handler: self.stack.apply(handler),
            });
        }
        Ok(specs)
    }

    async fn start_all(&self, app: &AppInfo) -> Result<(), ServeError> {
        if !self.config.has_addresses() {
            return Err(ServeError::NoAddresses);
        }
        let specs = self.specs()?;
        let client = self.config.client_config()?;
        let timeout = self.config.connect_timeout()?;
        let topology = Topology::new(timeout);
        let nodes = topology.nodes(&self.config).await;
        if self.config.create_topics {
            create_declared(&topology, &nodes, &specs).await?;
        }
        let dead_letters = if specs.iter().any(|s| s.options.dead_letter.is_some()) {
            let producer = Producer::new(nodes.tcp.clone(), client.clone()).map_err(|source| {
                ServeError::Client {
                    operation: "dead-letter producer".into(),
                    source,
                }
            })?;
            *self.dead_letters.lock() = Some(producer.clone());
            Some(producer)
        } else {
            None
        };
        let mut started: Vec<Arc<Running>> = Vec::new();
        for spec in specs {
            let operation = spec.key.operation();
            let running = start_subscription(
                spec,
                &client,
                &nodes,
                &self.config.lookupd_http_addresses,
                Some(app.clone()),
                dead_letters.clone(),
            )
            .await;
            match running {
                Ok(running) => started.push(Arc::new(running)),
                Err(source) => {
                    // `stop` drains what did start.
                    self.running.lock().extend(started);
                    return Err(ServeError::Client { operation, source });
                }
            }
        }
        // Published all at once, so health never sees a partial set as complete.
        self.running.lock().extend(started.iter().cloned());
        let running = started;
        for running in running {
            if let Err(source) = running.wait_connected(timeout).await {
                if self.config.lookupd_http_addresses.is_empty() {
                    return Err(ServeError::Client {
                        operation: running.key.operation(),
                        source,
                    });
                }
                // With discovery, nsqd may appear later; the consumer keeps polling.
                tracing::warn!(operation = %running.key.operation(), "no nsqd found through lookupd yet; still polling");
            }
        }
        Ok(())
    }
}

/// An [`NsqServer`]'s health as a [`framework::health::HealthCheck`]: serving while the
/// server runs and every subscription has at least one nsqd connection.
#[derive(Clone)]
pub struct NsqHealthCheck {
    running: Arc<Mutex<Vec<Arc<Running>>>>,
}

impl NsqHealthCheck {
    /// Connection state of every running subscription.
    pub fn subscriptions(&self) -> Vec<SubscriptionHealth> {
        health_of(&self.running.lock())
    }
}

impl std::fmt::Debug for NsqHealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsqHealthCheck")
            .field("subscriptions", &self.subscriptions())
            .finish()
    }
}

impl HealthCheck for NsqHealthCheck {
    fn is_serving(&self) -> bool {
        is_healthy(&self.running.lock())
    }
}

fn health_of(running: &[Arc<Running>]) -> Vec<SubscriptionHealth> {
    running
        .iter()
        .map(|running| {
            let stats = running.stats();
            SubscriptionHealth {
                topic: running.key.topic.clone(),
                channel: running.key.channel.clone(),
                connections: stats.connections,
                received: stats.messages_received,
                finished: stats.messages_finished,
                requeued: stats.messages_requeued,
            }
        })
        .collect()
}

fn is_healthy(running: &[Arc<Running>]) -> bool {
    !running.is_empty() && running.iter().all(|r| r.stats().connections > 0)
}

/// Creates every subscription's topic and channel, and every dead-letter topic, on every
/// known nsqd.
async fn create_declared(
    topology: &Topology,
    nodes: &Nodes,
    specs: &[Spec],
) -> Result<(), ServeError> {
    if nodes.http.is_empty() {
        tracing::warn!("no nsqd HTTP address known: declared topics and channels are not created ahead of consumers");
        return Ok(());
    }
    let mut pairs: Vec<(&str, Option<&str>)> = Vec::new();
    for spec in specs {
        pairs.push((&spec.key.topic, Some(&spec.key.channel)));
    }
    let dead: BTreeSet<&str> = specs
        .iter()
        .filter_map(|s| s.options.dead_letter.as_deref())
        .collect();
    pairs.extend(dead.into_iter().map(|t| (t, None)));
    let declared = declare(pairs);
    for nsqd in &nodes.http {
        topology
            .create(nsqd, &declared)
            .await
            .map_err(|source| ServeError::Declare {
                nsqd: nsqd.clone(),
                source,
            })?;
    }
    Ok(())
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[async_trait]
impl Server for NsqServer {
    fn name(&self) -> &str {
        "nsq"
    }

    async fn start(&self, app: &AppInfo) -> Result<(), BoxError> {
        match self.start_all(app).await {
            Ok(()) => {
                let count = self.running.lock().len();
                tracing::info!(subscriptions = count, "nsq server started");
                Ok(())
            }
            Err(err) => {
                // Leave nothing half-started behind.
                self.stop(Instant::now() + Duration::from_secs(1)).await?;
                Err(Box::new(err))
            }
        }
    }

    async fn stop(&self, deadline: Instant) -> Result<(), BoxError> {
        let running: Vec<Arc<Running>> = std::mem::take(&mut *self.running.lock());
        let drains = running.iter().map(|r| r.drain(remaining(deadline)));
        futures::future::join_all(drains).await;
        let producer = self.dead_letters.lock().take();
        if let Some(producer) = producer {
            if tokio::time::timeout(remaining(deadline), producer.stop())
                .await
                .is_err()
            {
                tracing::warn!("dead-letter producer did not stop before the deadline");
            }
        }
        Ok(())
    }

    fn endpoint(&self) -> Option<Endpoint> {
        let addresses = if self.config.lookupd_http_addresses.is_empty() {
            &self.config.nsqd_tcp_addresses
        } else {
            &self.config.lookupd_http_addresses
        };
        let scheme = if self.config.lookupd_http_addresses.is_empty() {
            "nsq"
        } else {
            "nsqlookupd"
        };
        Some(Endpoint::new(format!("{scheme}://{}", addresses.join(","))))
    }
}
