//! Read holds: records a reader took but has not settled yet (a message in flight to a
//! consumer). While a record is held, the persisted read position stays at it, so a crash
//! re-reads it (and everything after it) instead of losing it; and data files are deleted only
//! once the persisted read position has moved past them.
//!
//! Go's diskqueue forgets a record as soon as it is read. nsqd's `--sync-ack` mode holds the
//! records of its channel queues until the message is FINed (or written back to the queue),
//! which makes "acknowledged" mean "never lost until a consumer finished it".

use std::collections::BTreeMap;

use super::meta::Position;

/// A held record, returned by [`super::DiskQueue::pop_held`]; give it back to
/// [`super::DiskQueue::release`] once the record is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadHold(u64);

/// The held records of one queue, in read order.
#[derive(Debug, Default)]
pub(crate) struct ReadHolds {
    /// Read sequence number of each held record → where the record starts.
    held: BTreeMap<u64, Position>,
}

impl ReadHolds {
    /// Holds the record that starts at `start` and was the `seq`-th read.
    pub fn hold(&mut self, seq: u64, start: Position) -> ReadHold {
        self.held.insert(seq, start);
        ReadHold(seq)
    }

    /// Settles one record; false if it was not held (already released, or the queue was
    /// emptied since).
    pub fn release(&mut self, hold: ReadHold) -> bool {
        self.held.remove(&hold.0).is_some()
    }

    /// Settles every record.
    pub fn clear(&mut self) {
        self.held.clear();
    }

    /// Number of held records.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The oldest held record: its read sequence number and start.
    pub fn oldest(&self) -> Option<(u64, Position)> {
        self.held.first_key_value().map(|(&seq, &pos)| (seq, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_follows_releases_in_any_order() {
        let mut holds = ReadHolds::default();
        let a = holds.hold(0, Position::new(0, 0));
        let b = holds.hold(1, Position::new(0, 30));
        let c = holds.hold(2, Position::new(1, 0));
        assert_eq!(holds.oldest(), Some((0, Position::new(0, 0))));
        assert!(holds.release(b));
        assert!(!holds.release(b), "a hold is released once");
        assert_eq!(holds.oldest(), Some((0, Position::new(0, 0))));
        assert!(holds.release(a));
        assert_eq!(holds.oldest(), Some((2, Position::new(1, 0))));
        assert_eq!(holds.len(), 1);
        holds.clear();
        assert!(!holds.release(c));
        assert_eq!(holds.oldest(), None);
    }
}
