//! The consuming side shared by `to-file`, `to-nsq` and `to-http`: one consumer per topic on
//! the given nsqds or through lookupd, and waiting for SIGINT/SIGTERM to drain and stop.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};
use transport_nsq::{Config, Consumer, HandlerError, Message};

/// How long directly given nsqds get to accept the subscription.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where messages come from.
#[derive(Debug, Clone)]
pub struct Source {
    pub nsqd_tcp_address: Vec<String>,
    pub lookupd_http_address: Vec<String>,
    pub config: Config,
}

impl Source {
    /// Checks the Go tools' rule: exactly one kind of address.
    pub fn new(
        nsqd_tcp_address: Vec<String>,
        lookupd_http_address: Vec<String>,
        max_in_flight: usize,
        consumer_opt: &[String],
    ) -> anyhow::Result<Self> {
        if nsqd_tcp_address.is_empty() && lookupd_http_address.is_empty() {
            bail!("--nsqd-tcp-address or --lookupd-http-address required");
        }
        if !nsqd_tcp_address.is_empty() && !lookupd_http_address.is_empty() {
            bail!("use --nsqd-tcp-address or --lookupd-http-address not both");
        }
        let mut config = Config {
            max_in_flight,
            ..Config::default()
        };
        config
            .apply_options(consumer_opt)
            .context("invalid --consumer-opt")?;
        Ok(Self {
            nsqd_tcp_address,
            lookupd_http_address,
            config,
        })
    }

    /// Subscribes `handler` to `topic`/`channel`; `Ok` FINs a message, `Err` requeues it.
    pub async fn consume<F, Fut>(
        &self,
        topic: &str,
        channel: &str,
        handler: F,
    ) -> anyhow::Result<Consumer>
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let consumer = Consumer::builder(topic.to_owned(), channel.to_owned())
            .config(self.config.clone())
            .nsqd_addresses(self.nsqd_tcp_address.clone())
            .lookupd_addresses(self.lookupd_http_address.clone())
            .handler(handler)
            .start()
            .await
            .with_context(|| format!("starting consumer for topic {topic}"))?;
        if !self.nsqd_tcp_address.is_empty() {
            let all = self.nsqd_tcp_address.len();
            if let Err(e) = consumer.wait_for_connections(all, CONNECT_TIMEOUT).await {
                consumer.drain(Duration::ZERO).await;
                bail!("could not subscribe to every nsqd for topic {topic}: {e}");
            }
        }
        Ok(consumer)
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
