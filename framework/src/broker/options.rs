//! Options of publishing and subscribing, and the requeue backoff policy.

use std::time::Duration;

/// How one publish is done.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// Deliver no earlier than this long from now (NSQ `DPUB`).
    pub delay: Option<Duration>,
    /// Fail with [`BrokerError::Timeout`](super::BrokerError::Timeout) if the broker has not
    /// acknowledged within this time.
    pub timeout: Option<Duration>,
    /// Send the body as is, without the envelope (headers are dropped), for consumers
    /// outside the framework.
    pub raw: bool,
}

impl PublishOptions {
    /// Delayed delivery.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// A deadline for the acknowledgement.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No envelope.
    pub fn raw(mut self) -> Self {
        self.raw = true;
        self
    }
}

/// The identity of a subscription: the same topic with two channels is two subscriptions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey {
    /// Topic name.
    pub topic: String,
    /// Channel name.
    pub channel: String,
}

impl SubscriptionKey {
    /// The key of `(topic, channel)`.
    pub fn new(topic: impl Into<String>, channel: impl Into<String>) -> Self {
        SubscriptionKey {
            topic: topic.into(),
            channel: channel.into(),
        }
    }

    /// The transport operation name: `topic/channel`.
    pub fn operation(&self) -> String {
        format!("{}/{}", self.topic, self.channel)
    }
}

/// How a subscription consumes.
///
/// `max_attempts` has go-nsq's meaning: the handler runs at most `max_attempts` times for a
/// message (0 = unlimited); after the last failure the message goes to `dead_letter` (with
/// failure headers) or is dropped with a log line.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// The channel (consumer group); every channel of a topic gets every message.
    pub channel: String,
    /// How many handler calls run at once.
    pub concurrency: usize,
    /// How many messages may be delivered and unacknowledged at once (NSQ `RDY`).
    pub max_in_flight: usize,
    /// Attempts before giving up (go-nsq default 5; 0 = unlimited).
    pub max_attempts: u16,
    /// Delay before a failed message is retried.
    pub backoff: Backoff,
    /// Where messages go after the last failed attempt.
    pub dead_letter: Option<String>,
    /// Keep long-running messages alive (NSQ `TOUCH`) while the handler runs.
    pub auto_touch: bool,
}

impl SubscribeOptions {
    /// Defaults (go-nsq's) for `channel`: concurrency 1, max in flight 1, 5 attempts.
    pub fn new(channel: impl Into<String>) -> Self {
        SubscribeOptions {
            channel: channel.into(),
            concurrency: 1,
            max_in_flight: 1,
            max_attempts: 5,
            backoff: Backoff::default(),
            dead_letter: None,
            auto_touch: false,
        }
    }

    /// Sets concurrency (and raises `max_in_flight` to at least it).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self.max_in_flight = self.max_in_flight.max(concurrency);
        self
    }

    /// Sets max in flight.
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// Sets max attempts (0 = unlimited).
    pub fn max_attempts(mut self, max_attempts: u16) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the retry backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the dead-letter topic.
    pub fn dead_letter(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter = Some(topic.into());
        self
    }

    /// Enables auto-touch.
    pub fn auto_touch(mut self, enabled: bool) -> Self {
        self.auto_touch = enabled;
        self
    }

    /// Whether a message that has been attempted `attempts` times may be tried again.
    pub fn may_retry(&self, attempts: u16) -> bool {
        self.max_attempts == 0 || attempts < self.max_attempts
    }
}

/// The delay before retrying a failed message, by the number of attempts made so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Always the same delay.
    Fixed(Duration),
    /// `step * attempts`, capped at `max` (go-nsq's requeue delay: 90 s steps, 15 min cap).
    Linear {
        /// Delay per attempt made.
        step: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// `initial * 2^(attempts-1)`, capped at `max`.
    Exponential {
        /// Delay after the first attempt.
        initial: Duration,
        /// Upper bound.
        max: Duration,
    },
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Linear {
            step: Duration::from_secs(90),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` attempts (1 after the first failure).
    pub fn delay(&self, attempts: u16) -> Duration {
        let attempts = u32::from(attempts.max(1));
        match *self {
            Backoff::Fixed(delay) => delay,
            Backoff::Linear { step, max } => step.saturating_mul(attempts).min(max),
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(attempts - 1).unwrap_or(u32::MAX);
                initial.saturating_mul(factor).min(max)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_delays() {
        let s = Duration::from_secs;
        let linear = Backoff::default();
        assert_eq!(linear.delay(1), s(90));
        assert_eq!(linear.delay(3), s(270));
        assert_eq!(linear.delay(100), s(900));
        let exp = Backoff::Exponential {
            initial: s(1),
            max: s(60),
        };
        assert_eq!(exp.delay(1), s(1));
        assert_eq!(exp.delay(4), s(8));
        assert_eq!(exp.delay(40), s(60));
        assert_eq!(Backoff::Fixed(s(2)).delay(9), s(2));
    }

    #[test]
    fn attempts_follow_go_nsq() {
        let opts = SubscribeOptions::new("c").max_attempts(3);
        assert!(opts.may_retry(2));
        assert!(!opts.may_retry(3));
        assert!(SubscribeOptions::new("c").max_attempts(0).may_retry(60_000));
    }
}
