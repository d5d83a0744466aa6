//! Per-channel timer structures: the in-flight table (deadline-ordered, with TOUCH) and the
//! deferred queue (REQ with delay, DPUB). Both are binary heaps; the channel's single timer
//! task sleeps until the earliest due time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use nsq_wire::message::{Message, MessageId};
use tokio::time::Instant;

/// A delivered message awaiting FIN/REQ/timeout.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub msg: Message,
    pub client_id: u64,
    pub deadline: Instant,
    /// When this delivery attempt was sent (TOUCH can't extend past it + max-msg-timeout).
    pub delivered_at: Instant,
}

/// Why FIN/REQ/TOUCH could not act on a message (texts are nsqd's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InFlightError {
    #[error("ID not in flight")]
    NotInFlight,
    #[error("client does not own message")]
    NotOwner,
    #[error("exiting")]
    Exiting,
}

/// In-flight ids hashed with aHash: ids from one MPUB are consecutive hex strings that
/// differ only in their last digits, which a weak hasher maps to one bucket.
pub(crate) type IdMap<V> = HashMap<MessageId, V, ahash::RandomState>;

/// In-flight messages by id, plus a deadline heap with lazy deletion (entries whose
/// deadline changed or that were removed are skipped and periodically compacted away).
#[derive(Debug, Default)]
pub struct InFlightTable {
    entries: IdMap<InFlight>,
    heap: BinaryHeap<Reverse<(Instant, MessageId)>>,
}

impl InFlightTable {
    /// Number of messages in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a message with this id is in flight.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.entries.contains_key(id)
    }

    /// Records a delivery; false, recording nothing, if a message with this id is already
    /// in flight.
    pub fn insert(&mut self, entry: InFlight) -> bool {
        use std::collections::hash_map::Entry;
        match self.entries.entry(entry.msg.id) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                self.heap.push(Reverse((entry.deadline, entry.msg.id)));
                slot.insert(entry);
                true
            }
        }
    }

    /// Removes a message owned by `client_id` (FIN, REQ).
    pub fn remove_owned(
        &mut self,
        id: &MessageId,
        client_id: u64,
    ) -> Result<InFlight, InFlightError> {
        use std::collections::hash_map::Entry;
        let Entry::Occupied(slot) = self.entries.entry(*id) else {
            return Err(InFlightError::NotInFlight);
        };
        if slot.get().client_id != client_id {
            return Err(InFlightError::NotOwner);
        }
        let entry = slot.remove();
        self.maybe_compact();
        Ok(entry)
    }

    /// Moves the deadline of a message owned by `client_id` (TOUCH); `new_deadline` gets the
    /// entry and returns the deadline to set.
    pub fn touch(
        &mut self,
        id: &MessageId,
        client_id: u64,
        new_deadline: impl FnOnce(&InFlight) -> Instant,
    ) -> Result<Instant, InFlightError> {
        let entry = self.entries.get_mut(id).ok_or(InFlightError::NotInFlight)?;
        if entry.client_id != client_id {
            return Err(InFlightError::NotOwner);
        }
        let deadline = new_deadline(entry);
        entry.deadline = deadline;
        self.heap.push(Reverse((deadline, *id)));
        self.maybe_compact();
        Ok(deadline)
    }

    /// Removes and returns one message whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<InFlight> {
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.deadline == deadline)
            {
                return self.entries.remove(&id);
            }
        }
        None
    }

    /// The earliest live deadline (drops stale heap entries on the way).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.deadline == deadline)
            {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes everything, returning the messages (channel empty / shutdown).
    pub fn drain(&mut self) -> Vec<InFlight> {
        self.heap.clear();
        self.entries.drain().map(|(_, e)| e).collect()
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 2 * self.entries.len() + 1024 {
            self.heap = self
                .entries
                .values()
                .map(|e| Reverse((e.deadline, e.msg.id)))
                .collect();
        }
    }
}

/// A message waiting for its due time.
#[derive(Debug)]
struct DeferredItem {
    due: Instant,
    seq: u64,
    msg: Message,
}

impl PartialEq for DeferredItem {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for DeferredItem {}
impl PartialOrd for DeferredItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DeferredItem {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// Deferred messages ordered by due time (FIFO among equal due times).
#[derive(Debug, Default)]
pub struct DeferredQueue {
    heap: BinaryHeap<Reverse<DeferredItem>>,
    seq: u64,
}

impl DeferredQueue {
    /// Number of deferred messages.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Defers `msg` until `due`.
    pub fn push(&mut self, msg: Message, due: Instant) {
        self.seq += 1;
        self.heap.push(Reverse(DeferredItem {
            due,
            seq: self.seq,
            msg,
        }));
    }

    /// The earliest due time.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(item)| item.due)
    }

    /// Removes and returns one message due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Message> {
        if self.next_due()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(item)| item.msg)
    }

    /// Removes everything.
    pub fn drain(&mut self) -> Vec<Message> {
        self.heap.drain().map(|Reverse(item)| item.msg).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn msg(n: u64) -> Message {
        Message {
            timestamp: 0,
            attempts: 1,
            id: MessageId::from_u64(n),
            body: Bytes::from_static(b"x"),
        }
    }

    fn entry(n: u64, client: u64, deadline: Instant) -> InFlight {
        InFlight {
            msg: msg(n),
            client_id: client,
            deadline,
            delivered_at: deadline,
        }
    }

    #[test]
    fn ownership_and_expiry() {
        let now = Instant::now();
        let mut t = InFlightTable::default();
        assert!(t.insert(entry(1, 7, now + Duration::from_secs(1))));
        assert!(t.insert(entry(2, 7, now + Duration::from_secs(2))));
        assert!(
            !t.insert(entry(2, 8, now + Duration::from_secs(9))),
            "a second delivery of an id in flight is refused"
        );
        assert!(t.contains(&MessageId::from_u64(2)) && !t.contains(&MessageId::from_u64(3)));
        assert_eq!(
            t.remove_owned(&MessageId::from_u64(1), 8).unwrap_err(),
            InFlightError::NotOwner
        );
        assert_eq!(
            t.remove_owned(&MessageId::from_u64(9), 7).unwrap_err(),
            InFlightError::NotInFlight
        );
        assert!(t.remove_owned(&MessageId::from_u64(1), 7).is_ok());
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(2)));
        assert!(t.pop_expired(now + Duration::from_secs(1)).is_none());
        let touched = t
            .touch(&MessageId::from_u64(2), 7, |_| now + Duration::from_secs(5))
            .unwrap();
        assert_eq!(touched, now + Duration::from_secs(5));
        assert!(t.pop_expired(now + Duration::from_secs(3)).is_none());
        assert_eq!(
            t.pop_expired(now + Duration::from_secs(5)).unwrap().msg.id,
            MessageId::from_u64(2)
        );
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn heap_compacts_after_many_removals() {
        let now = Instant::now();
        let mut t = InFlightTable::default();
        for n in 0..5000 {
            t.insert(entry(n, 1, now + Duration::from_secs(60)));
            t.remove_owned(&MessageId::from_u64(n), 1).unwrap();
        }
        assert!(t.heap.len() <= 1024 + 2);
    }

    #[test]
    fn deferred_in_due_order() {
        let now = Instant::now();
        let mut d = DeferredQueue::default();
        d.push(msg(2), now + Duration::from_millis(20));
        d.push(msg(1), now + Duration::from_millis(10));
        assert_eq!(d.next_due(), Some(now + Duration::from_millis(10)));
        assert!(d.pop_due(now).is_none());
        assert_eq!(
            d.pop_due(now + Duration::from_millis(30)).unwrap().id,
            MessageId::from_u64(1)
        );
        assert_eq!(
            d.pop_due(now + Duration::from_millis(30)).unwrap().id,
            MessageId::from_u64(2)
        );
        assert_eq!(d.len(), 0);
    }
}
