//! Consumer backoff, go-nsq's algorithm as a pure state machine: handler failures raise a
//! level, successes lower it; while the level is above 0 every connection gets RDY 0 and,
//! when the level's timer fires, one connection gets RDY 1 to test the waters.
//!
//! The controller only decides; the consumer applies its [`BackoffAction`]s to connections.

use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// How the backoff duration grows with the level (go-nsq `backoff_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffStrategy {
    /// `multiplier × 2^level` (go-nsq `exponential`, the default).
    #[default]
    Exponential,
    /// Uniform in `[0, multiplier × 2^level)` (go-nsq `full_jitter`).
    FullJitter,
}

impl FromStr for BackoffStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "exponential" => Ok(Self::Exponential),
            "full_jitter" => Ok(Self::FullJitter),
            other => Err(format!(
                "unknown backoff strategy {other:?} (exponential, full_jitter)"
            )),
        }
    }
}

impl BackoffStrategy {
    /// The backoff duration for `level` (≥ 1), before capping.
    pub fn calculate(self, multiplier: Duration, level: u32, rng: &mut impl Rng) -> Duration {
        let factor = 2u32.checked_pow(level).unwrap_or(u32::MAX);
        let full = multiplier.saturating_mul(factor);
        match self {
            Self::Exponential => full,
            Self::FullJitter => {
                let nanos = full.as_nanos().min(u64::MAX as u128) as u64;
                if nanos == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(rng.gen_range(0..nanos))
                }
            }
        }
    }
}

/// The outcome of one handled message, as the backoff controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Message finished: lowers the backoff level.
    Success,
    /// Message requeued with backoff: raises the level.
    Failure,
    /// Message requeued without backoff: level unchanged.
    Continue,
}

/// What the consumer must do after a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffAction {
    /// Nothing changes.
    None,
    /// Backoff ended: every connection goes back to its RDY share.
    ResumeAll,
    /// Send RDY 0 to every connection; after the duration, call
    /// [`BackoffController::timer_fired`] and send RDY 1 to one random connection.
    PauseAll(Duration),
}

/// go-nsq's backoff state (`backoffCounter` plus the running timer).
#[derive(Debug, Clone)]
pub struct BackoffController {
    strategy: BackoffStrategy,
    multiplier: Duration,
    max: Duration,
    level: u32,
    timer_running: bool,
}

impl BackoffController {
    /// A controller at level 0.
    pub fn new(strategy: BackoffStrategy, multiplier: Duration, max: Duration) -> Self {
        Self {
            strategy,
            multiplier,
            max,
            level: 0,
            timer_running: false,
        }
    }

    /// The current level (0 = not backing off).
    pub fn level(&self) -> u32 {
        self.level
    }

    /// True while the level is above 0 (RDY is limited to one connection at 1).
    pub fn in_backoff(&self) -> bool {
        self.level > 0
    }

    /// True while a backoff timer runs (signals are ignored then).
    pub fn timer_running(&self) -> bool {
        self.timer_running
    }

    /// Applies one message outcome.
    pub fn signal(&mut self, signal: Signal, rng: &mut impl Rng) -> BackoffAction {
        if self.timer_running {
            return BackoffAction::None;
        }
        let mut updated = false;
        match signal {
            Signal::Success if self.level > 0 => {
                self.level -= 1;
                updated = true;
            }
            Signal::Failure => {
                let next = self
                    .strategy
                    .calculate(self.multiplier, self.level + 1, rng);
                if next <= self.max {
                    self.level += 1;
                    updated = true;
                }
            }
            _ => {}
        }
        if self.level == 0 && updated {
            BackoffAction::ResumeAll
        } else if self.level > 0 {
            let duration = self
                .strategy
                .calculate(self.multiplier, self.level, rng)
                .min(self.max);
            self.timer_running = true;
            BackoffAction::PauseAll(duration)
        } else {
            BackoffAction::None
        }
    }

    /// The backoff timer fired: the consumer now sends RDY 1 to one connection.
    pub fn timer_fired(&mut self) {
        self.timer_running = false;
    }

    /// The timer fired but no connection could take RDY 1: go-nsq retries after 1 s.
    pub fn rearm(&mut self) -> Duration {
        self.timer_running = true;
        Duration::from_secs(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn exponential_doubles_from_two_multipliers() {
        let m = Duration::from_secs(1);
        let s = BackoffStrategy::Exponential;
        assert_eq!(s.calculate(m, 1, &mut rng()), Duration::from_secs(2));
        assert_eq!(s.calculate(m, 3, &mut rng()), Duration::from_secs(8));
        assert_eq!(s.calculate(m, 40, &mut rng()), m.saturating_mul(u32::MAX));
    }

    #[test]
    fn full_jitter_stays_below_the_exponential_value() {
        let m = Duration::from_millis(100);
        let mut r = rng();
        for level in 1..8 {
            let cap = BackoffStrategy::Exponential.calculate(m, level, &mut r);
            let d = BackoffStrategy::FullJitter.calculate(m, level, &mut r);
            assert!(d < cap, "{d:?} < {cap:?}");
        }
        assert_eq!(
            BackoffStrategy::FullJitter.calculate(Duration::ZERO, 1, &mut r),
            Duration::ZERO
        );
    }

    #[test]
    fn failure_pauses_and_success_resumes() {
        let mut c = BackoffController::new(
            BackoffStrategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(120),
        );
        let mut r = rng();
        assert_eq!(c.signal(Signal::Success, &mut r), BackoffAction::None);
        assert_eq!(
            c.signal(Signal::Failure, &mut r),
            BackoffAction::PauseAll(Duration::from_secs(2))
        );
        // ignored while the timer runs
        assert_eq!(c.signal(Signal::Failure, &mut r), BackoffAction::None);
        assert_eq!(c.level(), 1);
        c.timer_fired();
        assert_eq!(
            c.signal(Signal::Failure, &mut r),
            BackoffAction::PauseAll(Duration::from_secs(4))
        );
        c.timer_fired();
        assert_eq!(
            c.signal(Signal::Success, &mut r),
            BackoffAction::PauseAll(Duration::from_secs(2))
        );
        c.timer_fired();
        assert_eq!(c.signal(Signal::Success, &mut r), BackoffAction::ResumeAll);
        assert!(!c.in_backoff());
    }

    #[test]
    fn continue_keeps_level_and_pauses_again() {
        let mut c = BackoffController::new(
            BackoffStrategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(120),
        );
        let mut r = rng();
        c.signal(Signal::Failure, &mut r);
        c.timer_fired();
        assert_eq!(
            c.signal(Signal::Continue, &mut r),
            BackoffAction::PauseAll(Duration::from_secs(2))
        );
        assert_eq!(c.level(), 1);
    }

    #[test]
    fn level_stops_growing_at_max_and_zero_max_disables() {
        let mut c = BackoffController::new(
            BackoffStrategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        let mut r = rng();
        for _ in 0..5 {
            c.signal(Signal::Failure, &mut r);
            c.timer_fired();
        }
        assert_eq!(c.level(), 2); // 2s, 4s fit; 8s > 5s
        let mut off = BackoffController::new(
            BackoffStrategy::Exponential,
            Duration::from_secs(1),
            Duration::ZERO,
        );
        assert_eq!(off.signal(Signal::Failure, &mut r), BackoffAction::None);
        assert!(!off.in_backoff());
    }

    #[test]
    fn rearm_restarts_the_timer() {
        let mut c = BackoffController::new(
            BackoffStrategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        let mut r = rng();
        c.signal(Signal::Failure, &mut r);
        c.timer_fired();
        assert_eq!(c.rearm(), Duration::from_secs(1));
        assert!(c.timer_running());
    }
}
