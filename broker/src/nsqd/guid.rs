//! Message ids: unique and monotonic per topic, seeded from the clock like nsqd's
//! Snowflake-style generator (`((now_ns >> 20) - epoch) << 22 | node_id << 12 | seq`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nsq_wire::message::MessageId;

/// nsqd's custom epoch, in units of 2^20 ns (~1.05 ms).
const EPOCH: u64 = 1_288_834_974_288;

/// A per-topic id generator. Ids never repeat within one generator and, being seeded from
/// the clock, not across restarts either (unless the clock jumps back).
#[derive(Debug)]
pub struct IdGenerator {
    node_bits: u64,
    last: AtomicU64,
}

impl IdGenerator {
    /// A generator for `node_id` (0..1024).
    pub fn new(node_id: i64) -> Self {
        IdGenerator {
            node_bits: ((node_id as u64) & 0x3ff) << 12,
            last: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> MessageId {
        MessageId::from_u64(self.next_block(1))
    }

    /// Reserves `count` consecutive ids and returns the first: the batch's messages get
    /// `first`, `first + 1`, ... (an MPUB is stored with its first id only).
    pub fn next_block(&self, count: usize) -> u64 {
        let span = (count.max(1) - 1) as u64;
        let candidate = (clock_ticks().saturating_sub(EPOCH) << 22) | self.node_bits;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let first = candidate.max(last.wrapping_add(1));
            let block_last = first.wrapping_add(span);
            match self.last.compare_exchange_weak(
                last,
                block_last,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return first,
                Err(current) => last = current,
            }
        }
    }
}

fn clock_ticks() -> u64 {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ns >> 20
}

/// Nanoseconds since the Unix epoch (a message timestamp).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_monotonic_hex() {
        let gen = IdGenerator::new(5);
        let mut prev = gen.next_id();
        for _ in 0..10_000 {
            let id = gen.next_id();
            assert!(id > prev);
            assert!(id.as_bytes().iter().all(|b| b.is_ascii_hexdigit()));
            prev = id;
        }
    }

    #[test]
    fn blocks_do_not_overlap() {
        let gen = IdGenerator::new(1);
        let a = gen.next_block(200);
        let b = gen.next_block(200);
        let c = gen.next_id();
        assert!(b >= a + 200);
        assert!(c > MessageId::from_u64(b + 199));
    }
}
