//! The consumer: subscribes a topic/channel on nsqd found directly or through lookupd, runs
//! a handler per message with go-nsq's flow control (RDY share and redistribution,
//! backoff, max attempts), and drains gracefully.

mod connection;
mod coordinator;
mod dispatch;
mod handler;
mod message;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_util::sync::CancellationToken;

pub use handler::{ExhaustedHook, Handler, HandlerError};
pub use message::Message;

use crate::backoff::Signal;
use crate::config::Config;
use crate::error::Error;
use crate::lookupd::{initial_poll_jitter, Lookupd};
use connection::Source;
use coordinator::Coordinator;
use message::{ConnShared, Counters, Shared};

/// What the coordinator hears about.
pub(crate) enum Event {
    Connected {
        conn: Arc<ConnShared>,
    },
    Disconnected {
        conn: u64,
    },
    MessageReceived {
        conn: u64,
    },
    Answered {
        #[allow(dead_code)]
        conn: u64,
        signal: Signal,
    },
    CloseWait {
        conn: u64,
    },
    SupervisorEnded {
        addr: String,
        #[allow(dead_code)]
        source: Source,
    },
    Discovered(Vec<String>),
    AddNsqd(String),
    SetMaxInFlight(usize),
    Drain {
        timeout: Duration,
        done: Option<oneshot::Sender<DrainReport>>,
    },
}

/// Counters of one consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Messages received from nsqd.
    pub messages_received: u64,
    /// Messages finished (FIN written).
    pub messages_finished: u64,
    /// Messages requeued (REQ written).
    pub messages_requeued: u64,
    /// Currently subscribed connections.
    pub connections: usize,
}

/// The outcome of [`Consumer::drain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// In-flight messages still unanswered at the deadline, requeued (REQ 0) by the drain.
    pub requeued: usize,
}

/// Consumes one topic/channel.
///
/// ```no_run
/// # async fn run() -> Result<(), transport_nsq::Error> {
/// use std::time::Duration;
/// use transport_nsq::{Config, Consumer, HandlerError, Message};
///
/// let mut config = Config::default();
/// config.max_in_flight = 10;
/// let consumer = Consumer::builder("orders", "billing")
///     .config(config)
///     .nsqd_address("127.0.0.1:4150")            // or .lookupd_address("127.0.0.1:4161")
///     .concurrency(4)
///     .handler(|msg: Message| async move {
///         if msg.body().is_empty() {
///             return Err(HandlerError::msg("empty order"));  // REQ with backoff
///         }
///         Ok::<_, HandlerError>(())                          // FIN
///     })
///     .start()
///     .await?;
/// println!("{:?}", consumer.stats());
/// consumer.drain(Duration::from_secs(10)).await;            // graceful stop
/// # Ok(()) }
/// ```
pub struct Consumer {
    shared: Arc<Shared>,
    connections: watch::Receiver<usize>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("topic", &self.shared.topic)
            .field("channel", &self.shared.channel)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Configures and starts a [`Consumer`].
pub struct ConsumerBuilder {
    topic: String,
    channel: String,
    config: Config,
    nsqd: Vec<String>,
    lookupd: Vec<String>,
    handler: Option<Arc<dyn Handler>>,
    on_exhausted: Option<ExhaustedHook>,
    concurrency: usize,
}

impl Consumer {
    /// Starts configuring a consumer of `topic` / `channel`.
    pub fn builder(topic: impl Into<String>, channel: impl Into<String>) -> ConsumerBuilder {
        ConsumerBuilder {
            topic: topic.into(),
            channel: channel.into(),
            config: Config::default(),
            nsqd: Vec::new(),
            lookupd: Vec::new(),
            handler: None,
            on_exhausted: None,
            concurrency: 1,
        }
    }

    /// The topic consumed.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The channel consumed.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// Current counters.
    pub fn stats(&self) -> ConsumerStats {
        let c = &self.shared.counters;
        ConsumerStats {
            messages_received: c.received.load(Ordering::Relaxed),
            messages_finished: c.finished.load(Ordering::Relaxed),
            messages_requeued: c.requeued.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
        }
    }

    /// Changes `max_in_flight` at runtime (0 pauses consumption).
    pub fn set_max_in_flight(&self, max_in_flight: usize) {
        let _ = self
            .shared
            .events
            .send(Event::SetMaxInFlight(max_in_flight));
    }

    /// Adds a directly connected nsqd at runtime.
    pub fn connect_to_nsqd(&self, addr: impl Into<String>) {
        let _ = self.shared.events.send(Event::AddNsqd(addr.into()));
    }

    /// Waits until at least `n` connections are subscribed.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> Result<(), Error> {
        let mut rx = self.connections.clone();
        let reached = tokio::time::timeout(timeout, async move {
            rx.wait_for(|c| *c >= n).await.map(|_| ()).is_ok()
        })
        .await
        .map_err(|_| Error::Timeout {
            what: "waiting for connections",
            after: timeout,
        })?;
        if reached {
            Ok(())
        } else {
            Err(Error::Stopped)
        }
    }

    /// Graceful stop: RDY 0 everywhere, wait up to `timeout` for in-flight messages to be
    /// answered, requeue (REQ 0) the ones that are not, send CLS, wait briefly for
    /// CLOSE_WAIT, close. No message is lost: anything not finished is back in nsqd.
    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        let (done, report) = oneshot::channel();
        if self
            .shared
            .events
            .send(Event::Drain {
                timeout,
                done: Some(done),
            })
            .is_err()
        {
            return DrainReport::default();
        }
        report.await.unwrap_or_default()
    }

    /// [`Consumer::drain`] with the configured `close_timeout`.
    pub async fn stop(&self) -> DrainReport {
        self.drain(self.shared.config.close_timeout).await
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.shared.events.send(Event::Drain {
            timeout: Duration::ZERO,
            done: None,
        });
    }
}

impl ConsumerBuilder {
    /// Client options (go-nsq's); defaults otherwise.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Connect to this nsqd directly (repeatable).
    pub fn nsqd_address(mut self, addr: impl Into<String>) -> Self {
        self.nsqd.push(addr.into());
        self
    }

    /// Connect to these nsqd directly.
    pub fn nsqd_addresses<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.nsqd.extend(addrs.into_iter().map(Into::into));
        self
    }

    /// Discover nsqd through this lookupd HTTP address (repeatable).
    pub fn lookupd_address(mut self, addr: impl Into<String>) -> Self {
        self.lookupd.push(addr.into());
        self
    }

    /// Discover nsqd through these lookupd HTTP addresses.
    pub fn lookupd_addresses<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.lookupd.extend(addrs.into_iter().map(Into::into));
        self
    }

    /// The message handler (required).
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// How many handler invocations may run at once (default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Called for messages whose attempts exceed `max_attempts`, before they are finished.
    pub fn on_exhausted<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let hook: ExhaustedHook = Arc::new(move |m| -> BoxFuture<'static, ()> { hook(m).boxed() });
        self.on_exhausted = Some(hook);
        self
    }

    /// Validates the settings, then connects in the background (see
    /// [`Consumer::wait_for_connections`]). Must be called within a tokio runtime.
    pub async fn start(self) -> Result<Consumer, Error> {
        if !is_valid_topic_name(&self.topic) {
            return Err(Error::InvalidTopic(self.topic));
        }
        if !is_valid_channel_name(&self.channel) {
            return Err(Error::InvalidChannel(self.channel));
        }
        self.config.validate()?;
        if self.nsqd.is_empty() && self.lookupd.is_empty() {
            return Err(Error::NoAddresses);
        }
        let handler = self.handler.ok_or(Error::MissingHandler)?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (dispatch_tx, dispatch_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            topic: self.topic,
            channel: self.channel,
            config: self.config,
            counters: Counters::default(),
            events: events_tx,
            answered: Notify::new(),
        });
        let stopping = CancellationToken::new();
        let poll_now = Arc::new(Notify::new());
        let (conn_tx, conn_rx) = watch::channel(0usize);

        tokio::spawn(
            dispatch::Dispatcher {
                handler,
                on_exhausted: self.on_exhausted,
                concurrency: self.concurrency,
                max_attempts: shared.config.max_attempts,
                auto_touch: shared.config.auto_touch,
            }
            .run(dispatch_rx),
        );
        let mut coordinator = Coordinator::new(
            shared.clone(),
            events_rx,
            dispatch_tx,
            stopping.clone(),
            poll_now.clone(),
            !self.lookupd.is_empty(),
            conn_tx,
        );
        for addr in self.nsqd {
            coordinator.spawn_connection(addr, Source::Direct);
        }
        tokio::spawn(coordinator.run());
        if !self.lookupd.is_empty() {
            let lookupd = Lookupd::new(
                self.lookupd,
                shared.config.lookupd_poll_timeout,
                &shared.config.auth_secret,
            );
            tokio::spawn(poll_lookupd(lookupd, shared.clone(), poll_now, stopping));
        }
        Ok(Consumer {
            shared,
            connections: conn_rx,
        })
    }
}

/// Polls lookupd: once now, again after a random jitter, then every poll interval or
/// whenever a connection closes.
async fn poll_lookupd(
    mut lookupd: Lookupd,
    shared: Arc<Shared>,
    poll_now: Arc<Notify>,
    stopping: CancellationToken,
) {
    let config = &shared.config;
    let mut wait = initial_poll_jitter(
        config.lookupd_poll_interval,
        config.lookupd_poll_jitter,
        &mut rand::thread_rng(),
    );
    loop {
        let polled = tokio::select! {
            _ = stopping.cancelled() => break,
            p = lookupd.poll(&shared.topic) => p,
        };
        match polled {
            Ok(producers) => {
                let addrs: Vec<String> = producers.iter().map(|p| p.tcp_address()).collect();
                tracing::debug!(?addrs, topic = %shared.topic, "lookupd producers");
                if shared.events.send(Event::Discovered(addrs)).is_err() {
                    break;
                }
            }
            Err(e) => tracing::warn!(error = %e, "lookupd poll failed"),
        }
        tokio::select! {
            _ = stopping.cancelled() => break,
            _ = poll_now.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        wait = config.lookupd_poll_interval;
    }
}
