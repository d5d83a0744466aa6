//! What the notifier received, in memory, in arrival order.

use parking_lot::Mutex;

/// One event as a channel received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The channel (`email`, `analytics`).
    pub channel: String,
    /// The order id.
    pub order_id: String,
    /// The trace id the event carried (empty if none).
    pub trace_id: String,
    /// Delivery attempts.
    pub attempts: u32,
}

/// The record of received events.
#[derive(Debug, Default)]
pub struct ReceivedStore {
    entries: Mutex<Vec<Received>>,
}

impl ReceivedStore {
    /// Adds an entry.
    pub fn add(&self, entry: Received) {
        self.entries.lock().push(entry);
    }

    /// Entries of `channel` (every channel when empty).
    pub fn list(&self, channel: &str) -> Vec<Received> {
        self.entries
            .lock()
            .iter()
            .filter(|e| channel.is_empty() || e.channel == channel)
            .cloned()
            .collect()
    }
}
