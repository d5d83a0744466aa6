//! RDY bookkeeping for one consumer, as pure logic (no IO): which RDY value each connection
//! should get so that the sum never exceeds `max_in_flight`, each connection gets its share,
//! and, when there are more connections than `max_in_flight`, the budget rotates so every
//! nsqd is eventually polled (go-nsq's `updateRDY`, `perConnMaxInFlight`, `redistributeRDY`).
//!
//! Methods return the RDY commands to send; the consumer writes them to the connections.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

/// What [`RdyLedger::update`] decided for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdyUpdate {
    /// Write `RDY n` to the connection.
    Send(u64),
    /// The connection already has this value; nothing to write.
    Unchanged,
    /// No room under `max_in_flight`. When `starving` (the connection sits at RDY 0) the
    /// caller should retry later (go-nsq: after 5 s) so the connection is not starved forever.
    OverMaxInFlight {
        /// The connection is at RDY 0.
        starving: bool,
    },
}

#[derive(Debug, Clone)]
struct ConnRdy {
    rdy: u64,
    max_rdy: u64,
    last_message: Option<Instant>,
    last_rdy_change: Instant,
    closing: bool,
}

/// The RDY state of all connections of one consumer, keyed by connection id.
#[derive(Debug, Clone)]
pub struct RdyLedger<K: Ord + Clone> {
    conns: BTreeMap<K, ConnRdy>,
    max_in_flight: u64,
}

/// `clamp(max_in_flight / conns, 1, max_in_flight)` (go-nsq `perConnMaxInFlight`).
pub fn per_conn_share(max_in_flight: u64, conns: usize) -> u64 {
    if conns == 0 {
        return max_in_flight;
    }
    (max_in_flight / conns as u64).max(1).min(max_in_flight)
}

impl<K: Ord + Clone> RdyLedger<K> {
    /// An empty ledger.
    pub fn new(max_in_flight: u64) -> Self {
        Self {
            conns: BTreeMap::new(),
            max_in_flight,
        }
    }

    /// Current `max_in_flight`.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight
    }

    /// Changes `max_in_flight`; follow with [`RdyLedger::rebalance`].
    pub fn set_max_in_flight(&mut self, max_in_flight: u64) {
        self.max_in_flight = max_in_flight;
    }

    /// Registers a subscribed connection at RDY 0. `max_rdy` is nsqd's `max_rdy_count`.
    pub fn add(&mut self, key: K, max_rdy: u64, now: Instant) {
        self.conns.insert(
            key,
            ConnRdy {
                rdy: 0,
                max_rdy,
                last_message: None,
                last_rdy_change: now,
                closing: false,
            },
        );
    }

    /// Forgets a connection; returns the RDY it held (now returned to the budget).
    pub fn remove(&mut self, key: &K) -> u64 {
        self.conns.remove(key).map(|c| c.rdy).unwrap_or(0)
    }

    /// Marks a connection as closing: it never gets RDY again.
    pub fn mark_closing(&mut self, key: &K) {
        if let Some(c) = self.conns.get_mut(key) {
            c.closing = true;
        }
    }

    /// Number of registered connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Keys of all registered connections.
    pub fn keys(&self) -> Vec<K> {
        self.conns.keys().cloned().collect()
    }

    /// Last RDY sent to a connection.
    pub fn rdy(&self, key: &K) -> u64 {
        self.conns.get(key).map(|c| c.rdy).unwrap_or(0)
    }

    /// Σ of the last RDY sent to every connection.
    pub fn total(&self) -> u64 {
        self.conns.values().map(|c| c.rdy).sum()
    }

    /// This consumer's per-connection share.
    pub fn per_conn(&self) -> u64 {
        per_conn_share(self.max_in_flight, self.conns.len())
    }

    /// Records that a message arrived on `key` (for idle detection).
    pub fn record_message(&mut self, key: &K, now: Instant) {
        if let Some(c) = self.conns.get_mut(key) {
            c.last_message = Some(now);
        }
    }

    /// go-nsq `updateRDY`: caps `count` at the connection's `max_rdy_count` and at the room
    /// left under `max_in_flight`, skips no-ops, and records the new value.
    pub fn update(&mut self, key: &K, count: u64, now: Instant) -> RdyUpdate {
        let total = self.total();
        let mif = self.max_in_flight;
        let Some(conn) = self.conns.get_mut(key) else {
            return RdyUpdate::Unchanged;
        };
        if conn.closing {
            return RdyUpdate::Unchanged;
        }
        let mut count = count.min(conn.max_rdy);
        let room = mif as i128 - total as i128 + conn.rdy as i128;
        if room > 0 && room < count as i128 {
            count = room as u64;
        }
        if room <= 0 && count > 0 {
            return RdyUpdate::OverMaxInFlight {
                starving: conn.rdy == 0,
            };
        }
        if count == conn.rdy {
            return RdyUpdate::Unchanged;
        }
        conn.rdy = count;
        conn.last_rdy_change = now;
        RdyUpdate::Send(count)
    }

    /// Sets every connection to `count` (RDY 0 for backoff/drain), lowering before raising.
    pub fn set_all(&mut self, count: u64, now: Instant) -> Vec<(K, u64)> {
        let mut keys: Vec<K> = self.keys();
        // Lower first so raising finds room under max_in_flight.
        keys.sort_by_key(|k| std::cmp::Reverse(self.rdy(k)));
        keys.into_iter()
            .filter_map(|k| match self.update(&k, count, now) {
                RdyUpdate::Send(n) => Some((k, n)),
                _ => None,
            })
            .collect()
    }

    /// Every connection to its share (new connection, changed `max_in_flight`, backoff end).
    pub fn rebalance(&mut self, now: Instant) -> Vec<(K, u64)> {
        let share = self.per_conn();
        let mut sends = Vec::new();
        let (over, under): (Vec<K>, Vec<K>) =
            self.keys().into_iter().partition(|k| self.rdy(k) > share);
        for k in over.into_iter().chain(under) {
            if let RdyUpdate::Send(n) = self.update(&k, share, now) {
                sends.push((k, n));
            }
        }
        sends
    }

    /// True when redistribution has work to do (go-nsq's `needRDYRedistributed` triggers).
    pub fn needs_redistribution(&self, in_backoff: bool) -> bool {
        let n = self.conns.len();
        n > 0 && (n as u64 > self.max_in_flight || (in_backoff && n > 1))
    }

    /// go-nsq `redistributeRDY`: takes RDY away from idle or long-held connections and hands
    /// the free budget out as RDY 1 to randomly chosen connections at RDY 0.
    pub fn redistribute(
        &mut self,
        in_backoff: bool,
        now: Instant,
        low_rdy_idle_timeout: Duration,
        low_rdy_timeout: Duration,
        rng: &mut impl Rng,
    ) -> Vec<(K, u64)> {
        if !self.needs_redistribution(in_backoff) {
            return Vec::new();
        }
        let mut sends = Vec::new();
        for k in self.keys() {
            let Some(c) = self.conns.get(&k) else {
                continue;
            };
            if c.rdy == 0 || c.closing {
                continue;
            }
            let idle = c
                .last_message
                .map(|t| now.saturating_duration_since(t) > low_rdy_idle_timeout)
                .unwrap_or(true);
            let held = now.saturating_duration_since(c.last_rdy_change) > low_rdy_timeout;
            if idle || held {
                if let RdyUpdate::Send(n) = self.update(&k, 0, now) {
                    sends.push((k, n));
                }
            }
        }
        let budget = if in_backoff { 1 } else { self.max_in_flight };
        let mut available = budget.saturating_sub(self.total());
        let mut candidates: Vec<K> = self
            .conns
            .iter()
            .filter(|(_, c)| c.rdy == 0 && !c.closing)
            .map(|(k, _)| k.clone())
            .collect();
        candidates.shuffle(rng);
        for k in candidates {
            if available == 0 {
                break;
            }
            if let RdyUpdate::Send(n) = self.update(&k, 1, now) {
                available -= 1;
                sends.push((k, n));
            }
        }
        sends
    }

    /// A random connection that is not closing (backoff's "test the waters").
    pub fn random_conn(&self, rng: &mut impl Rng) -> Option<K> {
        let open: Vec<&K> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closing)
            .map(|(k, _)| k)
            .collect();
        open.choose(rng).map(|k| (*k).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn share_is_clamped() {
        assert_eq!(per_conn_share(10, 3), 3);
        assert_eq!(per_conn_share(1, 3), 1);
        assert_eq!(per_conn_share(0, 3), 0);
        assert_eq!(per_conn_share(200, 1), 200);
        assert_eq!(per_conn_share(5, 0), 5);
    }

    #[test]
    fn update_caps_at_max_rdy_and_room() {
        let now = Instant::now();
        let mut l = RdyLedger::new(10);
        l.add(1, 4, now);
        l.add(2, 2500, now);
        assert_eq!(l.update(&1, 10, now), RdyUpdate::Send(4));
        assert_eq!(l.update(&2, 10, now), RdyUpdate::Send(6));
        assert_eq!(l.update(&2, 6, now), RdyUpdate::Unchanged);
        assert_eq!(l.total(), 10);
        l.set_max_in_flight(8);
        // Over the new limit: a re-send is truncated to the room left.
        assert_eq!(l.update(&1, 4, now), RdyUpdate::Send(2));
        assert_eq!(l.update(&2, 6, now), RdyUpdate::Unchanged);
        assert_eq!(l.total(), 8);
    }

    #[test]
    fn over_max_in_flight_reports_starvation() {
        let now = Instant::now();
        let mut l = RdyLedger::new(1);
        l.add("a", 2500, now);
        l.add("b", 2500, now);
        assert_eq!(l.update(&"a", 1, now), RdyUpdate::Send(1));
        assert_eq!(
            l.update(&"b", 1, now),
            RdyUpdate::OverMaxInFlight { starving: true }
        );
        assert_eq!(l.update(&"b", 0, now), RdyUpdate::Unchanged);
    }

    #[test]
    fn rebalance_lowers_first_and_never_exceeds_mif() {
        let now = Instant::now();
        let mut l = RdyLedger::new(9);
        l.add(1, 2500, now);
        assert_eq!(l.rebalance(now), vec![(1, 9)]);
        l.add(2, 2500, now);
        l.add(3, 2500, now);
        assert_eq!(l.rebalance(now), vec![(1, 3), (2, 3), (3, 3)]);
        assert_eq!(l.total(), 9);
        assert_eq!(l.remove(&3), 3);
        assert_eq!(l.rebalance(now), vec![(1, 4), (2, 4)]);
    }

    #[test]
    fn redistribution_rotates_a_single_rdy() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let mut l = RdyLedger::new(1);
        for k in 0..3 {
            l.add(k, 2500, start);
        }
        let sends = l.rebalance(start);
        assert_eq!(sends.len(), 1, "only one conn fits: {sends:?}");
        assert_eq!(l.total(), 1);
        let idle = Duration::from_secs(10);
        let held = Duration::from_secs(30);
        let mut seen = std::collections::BTreeSet::new();
        let mut now = start;
        for _ in 0..30 {
            now += Duration::from_secs(11);
            let sends = l.redistribute(false, now, idle, held, &mut rng);
            assert!(l.total() <= 1);
            for (k, n) in sends {
                if n == 1 {
                    seen.insert(k);
                }
            }
        }
        assert_eq!(seen.len(), 3, "every connection eventually polled");
    }

    #[test]
    fn busy_connection_keeps_rdy() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let mut l = RdyLedger::new(1);
        l.add(0, 2500, start);
        l.add(1, 2500, start);
        l.update(&0, 1, start);
        let now = start + Duration::from_secs(5);
        l.record_message(&0, now);
        let sends = l.redistribute(
            false,
            now,
            Duration::from_secs(10),
            Duration::from_secs(30),
            &mut rng,
        );
        assert!(sends.is_empty(), "{sends:?}");
        assert_eq!(l.rdy(&0), 1);
    }

    #[test]
    fn backoff_budget_is_one() {
        let now = Instant::now();
        let mut rng = StdRng::seed_from_u64(3);
        let mut l = RdyLedger::new(10);
        l.add(0, 2500, now);
        l.add(1, 2500, now);
        assert!(l.needs_redistribution(true));
        let sends = l.redistribute(
            true,
            now,
            Duration::from_secs(10),
            Duration::from_secs(30),
            &mut rng,
        );
        assert_eq!(sends.len(), 1);
        assert_eq!(l.total(), 1);
        assert_eq!(l.set_all(0, now).len(), 1);
        assert_eq!(l.total(), 0);
        assert!(l.random_conn(&mut rng).is_some());
    }
}
