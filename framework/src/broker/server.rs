//! [`BrokerServer`]: runs subscriptions on any [`Broker`] as a [`Server`], so the App
//! connects the broker and subscribes at start, and drains and disconnects at stop.

use super::{Broker, BrokerError, Handler, SubscribeOptions, SubscriptionKey};
use crate::app::AppInfo;
use crate::server::Server;
use crate::BoxError;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::time::Instant;

struct Registration {
    topic: String,
    options: SubscribeOptions,
    handler: Handler,
}

/// Subscriptions on a broker, started and stopped by the App.
///
/// ```
/// use framework::broker::{handler_fn, BrokerServer, Delivery, MemoryBroker};
/// use framework::{App, SubscribeOptions};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), framework::BoxError> {
/// let broker = MemoryBroker::new();
/// let server = BrokerServer::new(Arc::new(broker.clone()))
///     .subscribe("orders", SubscribeOptions::new("email"), handler_fn(|_d: Delivery| async { Ok(()) }))
///     .subscribe("orders", SubscribeOptions::new("audit"), handler_fn(|_d: Delivery| async { Ok(()) }));
/// let app = App::builder().signals([]).server(server).build().await?;
/// app.stop_handle().stop();
/// app.run().await?;
/// # Ok(()) }
/// ```
pub struct BrokerServer {
    broker: Arc<dyn Broker>,
    registrations: Vec<Registration>,
}

impl BrokerServer {
    /// Subscriptions on `broker`.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        BrokerServer {
            broker,
            registrations: Vec::new(),
        }
    }

    /// Declares a subscription on `(topic, options.channel)`.
    pub fn subscribe(
        mut self,
        topic: impl Into<String>,
        options: SubscribeOptions,
        handler: Handler,
    ) -> Self {
        self.registrations.push(Registration {
            topic: topic.into(),
            options,
            handler,
        });
        self
    }

    /// Declares a subscription to an [`Event`](super::Event) type's topic on `options.channel`,
    /// decoding each message into the event (see [`event_handler`](super::event_handler)).
    pub fn subscribe_event<E, F, Fut>(self, options: SubscribeOptions, f: F) -> Self
    where
        E: super::Event + Send + 'static,
        F: Fn(E, crate::Context) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.subscribe(E::TOPIC, options, super::event_handler(f))
    }

    /// The declared `(topic, channel)` pairs.
    pub fn subscriptions(&self) -> Vec<SubscriptionKey> {
        self.registrations
            .iter()
            .map(|r| SubscriptionKey::new(&r.topic, &r.options.channel))
            .collect()
    }

    fn check_unique(&self) -> Result<(), BrokerError> {
        let mut seen = HashSet::new();
        for key in self.subscriptions() {
            if !seen.insert(key.clone()) {
                return Err(BrokerError::AlreadySubscribed {
                    topic: key.topic,
                    channel: key.channel,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Server for BrokerServer {
    fn name(&self) -> &str {
        self.broker.name()
    }

    async fn start(&self, _app: &AppInfo) -> Result<(), BoxError> {
        self.check_unique()?;
        self.broker.connect().await?;
        for registration in &self.registrations {
            self.broker
                .subscribe(
                    &registration.topic,
                    registration.options.clone(),
                    registration.handler.clone(),
                )
                .await?;
        }
        Ok(())
    }

    async fn stop(&self, deadline: Instant) -> Result<(), BoxError> {
        match tokio::time::timeout_at(deadline, self.broker.disconnect()).await {
            Ok(result) => Ok(result?),
            Err(_) => Err("broker did not drain by the stop deadline".into()),
        }
    }
}
