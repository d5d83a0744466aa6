//! The consumer's single owner of flow control: tracks subscribed connections, decides RDY
//! (share, redistribution, backoff) through [`RdyLedger`] and [`BackoffController`], spawns
//! connections for discovered nsqd, and runs drain to completion.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nsq_wire::command::Command;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::{self, Source};
use super::message::{ConnShared, Message, Shared};
use super::{DrainReport, Event};
use crate::backoff::{BackoffAction, BackoffController};
use crate::rdy::{RdyLedger, RdyUpdate};

enum Phase {
    /// RDY 0 sent; waiting for in-flight messages until the deadline.
    Waiting { deadline: Instant },
    /// CLS sent; waiting for CLOSE_WAIT until the deadline.
    Closing { deadline: Instant },
}

struct Drain {
    phase: Phase,
    waiters: Vec<oneshot::Sender<DrainReport>>,
    report: DrainReport,
}

pub(crate) struct Coordinator {
    pub shared: Arc<Shared>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub dispatch: mpsc::UnboundedSender<Message>,
    pub stopping: CancellationToken,
    pub poll_now: Arc<Notify>,
    pub has_lookupd: bool,
    pub connections: watch::Sender<usize>,
    ledger: RdyLedger<u64>,
    backoff: BackoffController,
    conns: HashMap<u64, Arc<ConnShared>>,
    known: HashMap<String, Source>,
    backoff_until: Option<Instant>,
    drain: Option<Drain>,
    rng: StdRng,
}

impl Coordinator {
    pub fn new(
        shared: Arc<Shared>,
        events: mpsc::UnboundedReceiver<Event>,
        dispatch: mpsc::UnboundedSender<Message>,
        stopping: CancellationToken,
        poll_now: Arc<Notify>,
        has_lookupd: bool,
        connections: watch::Sender<usize>,
    ) -> Self {
        let c = &shared.config;
        let ledger = RdyLedger::new(c.max_in_flight as u64);
        let backoff = BackoffController::new(
            c.backoff_strategy,
            c.backoff_multiplier,
            c.max_backoff_duration,
        );
        Self {
            shared,
            events,
            dispatch,
            stopping,
            poll_now,
            has_lookupd,
            connections,
            ledger,
            backoff,
            conns: HashMap::new(),
            known: HashMap::new(),
            backoff_until: None,
            drain: None,
            rng: StdRng::from_entropy(),
        }
    }

    /// Starts a connection supervisor for `addr` unless one runs already.
    pub fn spawn_connection(&mut self, addr: String, source: Source) {
        if self.stopping.is_cancelled() || self.known.contains_key(&addr) {
            return;
        }
        self.known.insert(addr.clone(), source);
        tokio::spawn(connection::supervise(
            addr,
            source,
            self.shared.clone(),
            self.dispatch.clone(),
            self.stopping.clone(),
        ));
    }

    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.shared.config.rdy_redistribute_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let far = Instant::now() + Duration::from_secs(86400);
            let backoff_at = self.backoff_until.unwrap_or(far);
            let drain_at = match &self.drain {
                Some(Drain {
                    phase: Phase::Waiting { deadline } | Phase::Closing { deadline },
                    ..
                }) => *deadline,
                None => far,
            };
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                _ = ticker.tick() => self.on_tick(),
                _ = tokio::time::sleep_until(backoff_at), if self.backoff_until.is_some() => {
                    self.on_backoff_timer()
                }
                _ = tokio::time::sleep_until(drain_at), if self.drain.is_some() => {}
            }
            if self.advance_drain() {
                break;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let now = Instant::now().into_std();
        match event {
            Event::Connected { conn } => {
                let id = conn.id;
                self.ledger.add(id, conn.info.max_rdy_count, now);
                self.conns.insert(id, conn.clone());
                self.publish_connection_count();
                match &self.drain {
                    Some(Drain {
                        phase: Phase::Closing { .. },
                        ..
                    }) => conn.writer.close(),
                    Some(_) => {}
                    None if !self.backoff.in_backoff() && !self.backoff.timer_running() => {
                        let sends = self.ledger.rebalance(now);
                        self.send_rdy(sends);
                    }
                    None => {}
                }
            }
            Event::Disconnected { conn } => {
                self.conns.remove(&conn);
                let had_rdy = self.ledger.remove(&conn) > 0;
                self.publish_connection_count();
                if self.drain.is_some() {
                    return;
                }
                if self.has_lookupd && !self.stopping.is_cancelled() {
                    self.poll_now.notify_one();
                }
                if !self.backoff.in_backoff() && !self.backoff.timer_running() {
                    let sends = self.ledger.rebalance(now);
                    self.send_rdy(sends);
                } else if had_rdy && !self.backoff.timer_running() && self.ledger.total() == 0 {
                    // The connection testing the waters is gone: test on another one.
                    self.test_one_connection();
                }
            }
            Event::MessageReceived { conn } => self.ledger.record_message(&conn, now),
            Event::Answered { signal, .. } => {
                if self.drain.is_none() {
                    let action = self.backoff.signal(signal, &mut self.rng);
                    self.apply_backoff(action);
                }
            }
            Event::CloseWait { conn } => {
                if let Some(c) = self.conns.get(&conn) {
                    if matches!(
                        self.drain,
                        Some(Drain {
                            phase: Phase::Closing { .. },
                            ..
                        })
                    ) {
                        let requeued = requeue_unanswered(c);
                        if let Some(d) = self.drain.as_mut() {
                            d.report.requeued += requeued;
                        }
                        c.writer.close();
                    }
                }
            }
            Event::SupervisorEnded { addr, .. } => {
                self.known.remove(&addr);
            }
            Event::Discovered(addrs) => {
                for addr in addrs {
                    self.spawn_connection(addr, Source::Lookupd);
                }
            }
            Event::AddNsqd(addr) => self.spawn_connection(addr, Source::Direct),
            Event::SetMaxInFlight(n) => {
                self.ledger.set_max_in_flight(n as u64);
                if self.drain.is_none()
                    && !self.backoff.in_backoff()
                    && !self.backoff.timer_running()
                {
                    let sends = self.ledger.rebalance(now);
                    self.send_rdy(sends);
                }
            }
            Event::Drain { timeout, done } => self.start_drain(timeout, done),
        }
    }

    fn on_tick(&mut self) {
        if self.drain.is_some() || self.backoff.timer_running() {
            return;
        }
        let now = Instant::now().into_std();
        let in_backoff = self.backoff.in_backoff();
        let cfg = &self.shared.config;
        let mut sends = self.ledger.redistribute(
            in_backoff,
            now,
            cfg.low_rdy_idle_timeout,
            cfg.low_rdy_timeout,
            &mut self.rng,
        );
        if !in_backoff && !self.ledger.needs_redistribution(false) {
            // Retries connections that could not get RDY earlier (go-nsq's 5 s retry).
            sends.extend(self.ledger.rebalance(now));
        }
        self.send_rdy(sends);
    }

    fn on_backoff_timer(&mut self) {
        self.backoff_until = None;
        self.backoff.timer_fired();
        if self.drain.is_some() {
            return;
        }
        self.test_one_connection();
    }

    /// Backoff's "test the waters": RDY 1 to one random connection (or retry in 1 s).
    fn test_one_connection(&mut self) {
        let now = Instant::now().into_std();
        if let Some(k) = self.ledger.random_conn(&mut self.rng) {
            match self.ledger.update(&k, 1, now) {
                RdyUpdate::Send(n) => {
                    tracing::warn!(conn = k, "backoff timeout expired, sending RDY 1");
                    self.send_rdy(vec![(k, n)]);
                    return;
                }
                RdyUpdate::Unchanged => return,
                RdyUpdate::OverMaxInFlight { .. } => {}
            }
        }
        let retry = self.backoff.rearm();
        tracing::warn!(?retry, "no connection available to resume, backing off");
        self.backoff_until = Some(Instant::now() + retry);
    }

    fn apply_backoff(&mut self, action: BackoffAction) {
        let now = Instant::now().into_std();
        match action {
            BackoffAction::None => {}
            BackoffAction::ResumeAll => {
                tracing::warn!(rdy = self.ledger.per_conn(), "exiting backoff");
                let sends = self.ledger.rebalance(now);
                self.send_rdy(sends);
            }
            BackoffAction::PauseAll(duration) => {
                tracing::warn!(
                    ?duration,
                    level = self.backoff.level(),
                    "backing off, all connections to RDY 0"
                );
                let sends = self.ledger.set_all(0, now);
                self.send_rdy(sends);
                self.backoff_until = Some(Instant::now() + duration);
            }
        }
    }

    fn send_rdy(&self, sends: Vec<(u64, u64)>) {
        for (id, n) in sends {
            if let Some(c) = self.conns.get(&id) {
                tracing::debug!(nsqd = %c.addr, rdy = n, "RDY");
                let _ = c.writer.send(Command::Rdy(n));
            }
        }
    }

    fn publish_connection_count(&self) {
        let n = self.conns.len();
        self.shared.counters.connections.store(n, Ordering::Relaxed);
        self.connections.send_replace(n);
    }

    fn start_drain(&mut self, timeout: Duration, done: Option<oneshot::Sender<DrainReport>>) {
        if let Some(d) = self.drain.as_mut() {
            d.waiters.extend(done);
            return;
        }
        tracing::info!(?timeout, "draining consumer");
        self.stopping.cancel();
        let now = Instant::now();
        self.backoff_until = None;
        self.ledger.set_max_in_flight(0);
        let sends = self.ledger.set_all(0, now.into_std());
        self.send_rdy(sends);
        self.drain = Some(Drain {
            phase: Phase::Waiting {
                deadline: now + timeout,
            },
            waiters: done.into_iter().collect(),
            report: DrainReport::default(),
        });
    }

    /// Moves drain forward; true once it is complete.
    fn advance_drain(&mut self) -> bool {
        let Some(drain) = self.drain.as_mut() else {
            return false;
        };
        let now = Instant::now();
        match drain.phase {
            Phase::Waiting { deadline } => {
                let in_flight: usize = self.conns.values().map(|c| c.in_flight()).sum();
                if in_flight > 0 && now < deadline {
                    return false;
                }
                for c in self.conns.values() {
                    drain.report.requeued += requeue_unanswered(c);
                    let _ = c.writer.send(Command::Cls);
                }
                let wait = self.shared.config.close_timeout.min(Duration::from_secs(5));
                drain.phase = Phase::Closing {
                    deadline: now + wait,
                };
                self.conns.is_empty() && self.finish_drain()
            }
            Phase::Closing { deadline } => {
                let open = self.conns.values().any(|c| !c.writer.is_closed());
                if open && now < deadline {
                    return false;
                }
                self.finish_drain()
            }
        }
    }

    fn finish_drain(&mut self) -> bool {
        let Some(mut drain) = self.drain.take() else {
            return true;
        };
        for c in self.conns.values() {
            drain.report.requeued += requeue_unanswered(c);
            c.writer.close();
        }
        tracing::info!(requeued = drain.report.requeued, "consumer drained");
        for waiter in drain.waiters {
            let _ = waiter.send(drain.report.clone());
        }
        true
    }
}

/// REQ 0 (no backoff) for every unanswered message of a connection.
fn requeue_unanswered(conn: &ConnShared) -> usize {
    conn.unanswered()
        .into_iter()
        .filter(|m| m.requeue_without_backoff(Some(Duration::ZERO)))
        .count()
}
