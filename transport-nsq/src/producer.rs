//! The producer: publishes (PUB, MPUB, DPUB) to one or several nsqd.
//!
//! Each nsqd gets one lazily opened connection, driven by a task that pipelines publishes
//! and completes them strictly in order as `OK`/error frames come back. Across several
//! nsqd the producer rotates over the healthy ones and, when a connection fails or nsqd
//! reports `E_*PUB_FAILED`, retries the publish on the next one (nodes that failed are
//! tried last until their retry delay passes). Every call has a deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nsq_wire::command::Command;
use nsq_wire::names::is_valid_topic_name;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::Config;
use crate::conn::{self, ConnEvent, Connection};
use crate::error::Error;

/// Publishes messages to nsqd.
///
/// Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn run() -> Result<(), transport_nsq::Error> {
/// use transport_nsq::{Config, Producer};
///
/// let producer = Producer::new(["127.0.0.1:4150"], Config::default())?;
/// producer.publish("orders", "hello").await?;           // resolves on nsqd's OK
/// producer.multi_publish("orders", vec!["a", "b"]).await?;
/// producer.deferred_publish("orders", std::time::Duration::from_secs(5), "later").await?;
/// producer.stop().await;                                 // flushes pending publishes
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    config: Config,
    nodes: Vec<Node>,
    next: AtomicUsize,
    stopped: AtomicBool,
    active: AtomicUsize,
    idle: Notify,
}

struct Node {
    addr: String,
    conn: tokio::sync::Mutex<Option<NodeConn>>,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    retry_after: Option<Instant>,
}

struct NodeConn {
    requests: mpsc::UnboundedSender<Request>,
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<(), Error>>,
}

/// Decrements the active-publish count on drop (also when the caller's future is dropped).
struct ActiveGuard<'a>(&'a Inner);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("nsqd", &self.addresses())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Producer {
    /// A producer for the given nsqd TCP addresses. No connection is opened until the first
    /// publish or [`Producer::ping`].
    pub fn new<I, S>(addrs: I, config: Config) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        config.validate()?;
        let nodes: Vec<Node> = addrs
            .into_iter()
            .map(|a| Node {
                addr: a.into(),
                conn: tokio::sync::Mutex::new(None),
                health: Mutex::new(Health::default()),
            })
            .collect();
        if nodes.is_empty() {
            return Err(Error::NoAddresses);
        }
        let timeout = config.publish_timeout;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                nodes,
                next: AtomicUsize::new(0),
                stopped: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
            timeout,
        })
    }

    /// The configured nsqd addresses.
    pub fn addresses(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// A handle sharing this producer's connections whose calls use `timeout` as deadline.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout,
        }
    }

    /// `PUB`: resolves when nsqd answered `OK`.
    pub async fn publish(&self, topic: &str, body: impl Into<Bytes>) -> Result<(), Error> {
        let body = body.into();
        self.check_body(&body)?;
        self.send(
            topic,
            Command::Pub {
                topic: topic.to_string(),
                body,
            },
        )
        .await
    }

    /// `MPUB`: all bodies in one command, accepted or rejected together.
    pub async fn multi_publish<B: Into<Bytes>>(
        &self,
        topic: &str,
        bodies: Vec<B>,
    ) -> Result<(), Error> {
        let bodies: Vec<Bytes> = bodies.into_iter().map(Into::into).collect();
        if bodies.is_empty() {
            return Err(Error::InvalidMessage(
                "MPUB needs at least one message".into(),
            ));
        }
        for b in &bodies {
            self.check_body(b)?;
        }
        self.send(
            topic,
            Command::Mpub {
                topic: topic.to_string(),
                bodies,
            },
        )
        .await
    }

    /// `DPUB`: the message becomes deliverable after `delay` (sent in whole milliseconds).
    pub async fn deferred_publish(
        &self,
        topic: &str,
        delay: Duration,
        body: impl Into<Bytes>,
    ) -> Result<(), Error> {
        let body = body.into();
        self.check_body(&body)?;
        let defer_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.send(
            topic,
            Command::Dpub {
                topic: topic.to_string(),
                defer_ms,
                body,
            },
        )
        .await
    }

    /// Opens (if needed) a connection to every nsqd and writes a `NOP`. Succeeds when at
    /// least one nsqd is reachable; unreachable ones are marked unhealthy.
    pub async fn ping(&self) -> Result<(), Error> {
        let _guard = self.enter()?;
        let mut last_err = Error::NoAddresses;
        let mut any = false;
        for node in &self.inner.nodes {
            let result = tokio::time::timeout(self.timeout, node.ping(&self.inner.config)).await;
            match result.unwrap_or(Err(Error::Timeout {
                what: "ping",
                after: self.timeout,
            })) {
                Ok(()) => {
                    node.mark_healthy();
                    any = true;
                }
                Err(e) => {
                    node.mark_failed(&self.inner.config);
                    last_err = e;
                }
            }
        }
        if any {
            Ok(())
        } else {
            Err(last_err)
        }
    }

    /// Stops accepting publishes, waits (up to `close_timeout`) for pending ones to be
    /// answered, then closes every connection.
    pub async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        let wait_idle = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.inner.active.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(self.inner.config.close_timeout, wait_idle)
            .await
            .is_err()
        {
            tracing::warn!("producer stop: pending publishes did not finish in time");
        }
        for node in &self.inner.nodes {
            // Dropping the request sender ends the connection task once it is idle.
            node.conn.lock().await.take();
        }
    }

    fn enter(&self) -> Result<ActiveGuard<'_>, Error> {
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        let guard = ActiveGuard(&self.inner);
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(Error::Stopped);
        }
        Ok(guard)
    }

    fn check_body(&self, body: &Bytes) -> Result<(), Error> {
        if body.is_empty() {
            return Err(Error::InvalidMessage("message body is empty".into()));
        }
        let max = self.inner.config.max_msg_size;
        if max > 0 && body.len() > max as usize {
            return Err(Error::InvalidMessage(format!(
                "message of {} bytes exceeds max_msg_size {max}",
                body.len()
            )));
        }
        Ok(())
    }

    async fn send(&self, topic: &str, command: Command) -> Result<(), Error> {
        if !is_valid_topic_name(topic) {
            return Err(Error::InvalidTopic(topic.to_string()));
        }
        let _guard = self.enter()?;
        let attempt = async {
            let mut last_err = Error::NoAddresses;
            for node in self.order() {
                match node.publish(&self.inner.config, command.clone()).await {
                    Ok(()) => {
                        node.mark_healthy();
                        return Ok(());
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(nsqd = %node.addr, error = %e, "publish failed, trying next nsqd");
                        node.mark_failed(&self.inner.config);
                        last_err = e;
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(last_err)
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| Error::Timeout {
                what: "publish",
                after: self.timeout,
            })?
    }

    /// Nodes to try, rotating the start; nodes in their retry delay go last.
    fn order(&self) -> Vec<&Node> {
        let nodes = &self.inner.nodes;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % nodes.len();
        let now = Instant::now();
        let (mut healthy, unhealthy): (Vec<&Node>, Vec<&Node>) = (0..nodes.len())
            .map(|i| &nodes[(start + i) % nodes.len()])
            .partition(|n| n.available(now));
        healthy.extend(unhealthy);
        healthy
    }
}

impl Node {
    fn available(&self, now: Instant) -> bool {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match health.retry_after {
            Some(t) => now >= t,
            None => true,
        }
    }

    fn mark_healthy(&self) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        *health = Health::default();
    }

    fn mark_failed(&self, config: &Config) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.failures = health.failures.saturating_add(1);
        let exp = health.failures.saturating_sub(1).min(16);
        let delay = config
            .reconnect_min_delay
            .saturating_mul(1 << exp)
            .min(config.reconnect_max_delay);
        health.retry_after = Some(Instant::now() + delay);
    }

    async fn requests(&self, config: &Config) -> Result<mpsc::UnboundedSender<Request>, Error> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            if !conn.requests.is_closed() {
                return Ok(conn.requests.clone());
            }
        }
        let connection = conn::connect(&self.addr, config, None).await?;
        tracing::debug!(nsqd = %self.addr, "producer connected");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_connection(connection, rx));
        *slot = Some(NodeConn {
            requests: tx.clone(),
        });
        Ok(tx)
    }

    async fn publish(&self, config: &Config, command: Command) -> Result<(), Error> {
        // A request dropped unanswered by a connection that was already closing was never
        // written, so it is safe to send it once more on a fresh connection.
        for _ in 0..2 {
            let requests = self.requests(config).await?;
            let (reply, answer) = oneshot::channel();
            let request = Request {
                command: command.clone(),
                reply,
            };
            if requests.send(request).is_err() {
                continue;
            }
            if let Ok(result) = answer.await {
                return result;
            }
        }
        Err(Error::ConnectionLost {
            addr: self.addr.clone(),
        })
    }

    async fn ping(&self, config: &Config) -> Result<(), Error> {
        let requests = self.requests(config).await?;
        let (reply, answer) = oneshot::channel();
        requests
            .send(Request {
                command: Command::Nop,
                reply,
            })
            .map_err(|_| Error::ConnectionLost {
                addr: self.addr.clone(),
            })?;
        answer.await.map_err(|_| Error::ConnectionLost {
            addr: self.addr.clone(),
        })?
    }
}

/// Drives one producer connection: writes requests in order and matches each response or
/// error frame to the oldest pending one.
async fn run_connection(mut conn: Connection, mut requests: mpsc::UnboundedReceiver<Request>) {
    let addr = conn.addr.clone();
    let mut pending: std::collections::VecDeque<oneshot::Sender<Result<(), Error>>> =
        Default::default();
    let mut accepting = true;
    let failure = loop {
        if !accepting && pending.is_empty() {
            break None;
        }
        tokio::select! {
            request = requests.recv(), if accepting => match request {
                Some(Request { command: Command::Nop, reply }) => {
                    // NOP has no reply: it is answered as soon as it is queued.
                    let result = conn.writer.send(Command::Nop);
                    let _ = reply.send(result);
                }
                Some(Request { command, reply }) => {
                    if let Err(e) = conn.writer.send(command) {
                        let _ = reply.send(Err(e));
                        break None;
                    }
                    pending.push_back(reply);
                }
                None => accepting = false,
            },
            event = conn.events.recv() => match event {
                Some(ConnEvent::Response(data)) => match pending.pop_front() {
                    Some(reply) => { let _ = reply.send(Ok(())); }
                    None => break Some(format!("unexpected response {:?}", String::from_utf8_lossy(&data))),
                },
                Some(ConnEvent::Error(data)) => match pending.pop_front() {
                    Some(reply) => { let _ = reply.send(Err(Error::broker(&addr, &data))); }
                    None => break Some(format!("unexpected error {:?}", String::from_utf8_lossy(&data))),
                },
                Some(ConnEvent::Message(_)) => break Some("unexpected message frame".to_string()),
                Some(ConnEvent::Closed(reason)) => {
                    if let Some(e) = reason { tracing::debug!(nsqd = %addr, error = %e, "producer connection closed"); }
                    break None;
                }
                None => break None,
            },
        }
    };
    if let Some(reason) = failure {
        tracing::warn!(nsqd = %addr, %reason, "protocol violation, closing producer connection");
    }
    conn.writer.close();
    requests.close();
    for reply in pending.drain(..) {
        let _ = reply.send(Err(Error::ConnectionLost { addr: addr.clone() }));
    }
    // Requests queued but never written are failed by dropping their reply senders.
}
