//! Topic/channel lifecycle events, broadcast for lookupd registration and `nsqd.dat`
//! persistence.

/// Capacity of the lifecycle broadcast channel (slow receivers see `Lagged`).
pub const EVENT_CAPACITY: usize = 1024;

/// Something happened to a topic or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsqdEvent {
    TopicCreated { topic: String },
    TopicDeleted { topic: String },
    TopicPaused { topic: String },
    TopicUnpaused { topic: String },
    ChannelCreated { topic: String, channel: String },
    ChannelDeleted { topic: String, channel: String },
    ChannelPaused { topic: String, channel: String },
    ChannelUnpaused { topic: String, channel: String },
}
