//! End-to-end processing latency (`--e2e-processing-latency-percentile`): the time from a
//! message's publish timestamp to its FIN, kept per channel over a sliding window and
//! reported as configured percentiles in `/stats` and statsd.
//!
//! Like Go nsqd's `internal/quantile`, a recorder keeps two sketches that each cover half of
//! `--e2e-processing-latency-window-time`: samples go into the current one; every half
//! window the other one is cleared and becomes current; queries merge both, so a result
//! covers between half a window and a whole window of FINs. A topic's value is the merge of
//! its channels' recorders.
//!
//! The sketch is an HDR histogram (2 significant digits, so values are within 1%), where Go
//! uses a biased-quantile stream (`perks`); the spec leaves the algorithm open. Recording is
//! an array increment under an uncontended lock, and only happens when percentiles are
//! configured: a disabled recorder is a `None` checked on FIN.
//!
//! ```
//! use std::time::Duration;
//! use broker::nsqd::e2e_latency::E2eLatency;
//!
//! let e2e = E2eLatency::new(Duration::from_secs(600), &[0.99, 0.5]);
//! e2e.record_latency(2_000_000); // 2 ms
//! let stats = e2e.stats();
//! assert_eq!(stats.count, 1);
//! assert_eq!(stats.percentiles.unwrap().len(), 2);
//! ```

use std::time::{Duration, Instant};

use hdrhistogram::{CreationError, Histogram};
use parking_lot::Mutex;

use super::guid::now_ns;
use super::options::NsqdOptions;
use super::stats::{LatencyStats, Percentile};

/// Smallest latency the sketch tells apart from zero (1 µs): nothing crosses a network
/// faster, and a coarser floor keeps the histogram small.
const LOWEST_NS: u64 = 1_000;
/// Initial range (10 s); the histogram grows on its own for longer latencies.
const INITIAL_HIGHEST_NS: u64 = 10_000_000_000;
/// Relative precision of reported values: 2 digits = 1%.
const SIGNIFICANT_DIGITS: u8 = 2;

/// A channel's e2e latency recorder; disabled (no cost beyond one branch) when no
/// percentiles are configured.
#[derive(Debug, Default)]
pub struct E2eLatency {
    inner: Option<Box<Recorder>>,
}

#[derive(Debug)]
struct Recorder {
    percentiles: Box<[f64]>,
    half_window: Duration,
    windows: Mutex<Windows>,
}

#[derive(Debug)]
struct Windows {
    sketches: [Histogram<u64>; 2],
    current: usize,
    /// When `current` became current.
    last_move: Instant,
}

impl E2eLatency {
    /// A recorder for `percentiles` over `window`; disabled when `percentiles` is empty.
    pub fn new(window: Duration, percentiles: &[f64]) -> E2eLatency {
        if percentiles.is_empty() {
            return E2eLatency::default();
        }
        let sketches = match (new_sketch(), new_sketch()) {
            (Ok(a), Ok(b)) => [a, b],
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!(%err, "e2e latency sketch; percentiles disabled");
                return E2eLatency::default();
            }
        };
        let windows = Windows {
            sketches,
            current: 0,
            last_move: Instant::now(),
        };
        E2eLatency {
            inner: Some(Box::new(Recorder {
                percentiles: percentiles.into(),
                // A zero window would mean rotating on every sample; 1 ns has that effect
                // without dividing by zero.
                half_window: (window / 2).max(Duration::from_nanos(1)),
                windows: Mutex::new(windows),
            })),
        }
    }

    /// The recorder nsqd's options ask for.
    pub fn from_options(opts: &NsqdOptions) -> E2eLatency {
        E2eLatency::new(
            opts.e2e_processing_latency_window_time,
            &opts.e2e_processing_latency_percentile,
        )
    }

    /// Whether percentiles are configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records a FIN of a message published at `timestamp_ns` (Unix ns).
    #[inline]
    pub fn record(&self, timestamp_ns: i64) {
        if let Some(recorder) = &self.inner {
            let latency = now_ns().saturating_sub(timestamp_ns);
            // A timestamp in the future (clock step, foreign publisher) counts as zero.
            recorder.record(u64::try_from(latency).unwrap_or(0), Instant::now());
        }
    }

    /// Records one latency in nanoseconds.
    pub fn record_latency(&self, latency_ns: u64) {
        if let Some(recorder) = &self.inner {
            recorder.record(latency_ns, Instant::now());
        }
    }

    /// The `/stats` view: `{count: 0, percentiles: null}` when disabled.
    pub fn stats(&self) -> LatencyStats {
        E2eLatency::merged([self])
    }

    /// The merge of several recorders (a topic's channels), as Go's
    /// `AggregateChannelE2eProcessingLatency`: disabled ones are skipped, and with none
    /// enabled the result is `{count: 0, percentiles: null}`.
    pub fn merged<'a, I>(recorders: I) -> LatencyStats
    where
        I: IntoIterator<Item = &'a E2eLatency>,
    {
        let now = Instant::now();
        let mut total: Option<(Histogram<u64>, &[f64])> = None;
        for recorder in recorders.into_iter().filter_map(|r| r.inner.as_deref()) {
            if total.is_none() {
                // Same bounds as the recorders' sketches, which were created fine.
                let Ok(sum) = new_sketch() else { break };
                total = Some((sum, &recorder.percentiles));
            }
            if let Some((sum, _)) = &mut total {
                recorder.add_to(sum, now);
            }
        }
        let Some((sum, percentiles)) = total else {
            return LatencyStats::default();
        };
        LatencyStats {
            count: sum.len(),
            percentiles: Some(
                percentiles
                    .iter()
                    .map(|&quantile| Percentile {
                        quantile,
                        value: if sum.is_empty() {
                            0.0
                        } else {
                            sum.value_at_quantile(quantile) as f64
                        },
                    })
                    .collect(),
            ),
        }
    }
}

impl Recorder {
    fn record(&self, latency_ns: u64, now: Instant) {
        let mut windows = self.windows.lock();
        windows.advance(now, self.half_window);
        let current = windows.current;
        let sketch = &mut windows.sketches[current];
        if sketch.record(latency_ns).is_err() {
            // Growing failed (a range beyond usize): keep the sample, clamped.
            sketch.saturating_record(latency_ns);
        }
    }

    /// Adds both halves of the window to `sum`.
    fn add_to(&self, sum: &mut Histogram<u64>, now: Instant) {
        let mut windows = self.windows.lock();
        windows.advance(now, self.half_window);
        for sketch in &windows.sketches {
            if let Err(err) = sum.add(sketch) {
                tracing::warn!(%err, "merging e2e latency sketches");
            }
        }
    }
}

impl Windows {
    /// Rotates once per elapsed half window (clearing the sketch that becomes current), so
    /// samples older than a whole window are dropped.
    fn advance(&mut self, now: Instant, half_window: Duration) {
        let elapsed = now.saturating_duration_since(self.last_move);
        if elapsed <= half_window {
            return;
        }
        let steps = elapsed.as_nanos() / half_window.as_nanos();
        if steps >= 2 {
            self.sketches.iter_mut().for_each(Histogram::reset);
        } else {
            self.current ^= 1;
            self.sketches[self.current].reset();
        }
        if steps % 2 == 1 && steps >= 2 {
            self.current ^= 1;
        }
        // Whole half windows only, so rotations stay on the original grid, as in Go.
        let step_nanos =
            u64::try_from(steps.saturating_mul(half_window.as_nanos())).unwrap_or(u64::MAX);
        self.last_move = self
            .last_move
            .checked_add(Duration::from_nanos(step_nanos))
            .unwrap_or(now);
    }
}

fn new_sketch() -> Result<Histogram<u64>, CreationError> {
    let mut sketch = Histogram::new_with_bounds(LOWEST_NS, INITIAL_HIGHEST_NS, SIGNIFICANT_DIGITS)?;
    sketch.auto(true);
    Ok(sketch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn disabled_reports_count_zero_and_null() {
        let e2e = E2eLatency::new(Duration::from_secs(600), &[]);
        assert!(!e2e.is_enabled());
        e2e.record(0);
        assert_eq!(e2e.stats(), LatencyStats::default());
    }

    #[test]
    fn enabled_without_samples_reports_zero_values() {
        let e2e = E2eLatency::new(Duration::from_secs(600), &[0.99, 0.5]);
        let stats = e2e.stats();
        assert_eq!(stats.count, 0);
        let values: Vec<_> = stats
            .percentiles
            .unwrap()
            .iter()
            .map(|p| (p.quantile, p.value))
            .collect();
        assert_eq!(values, vec![(0.99, 0.0), (0.5, 0.0)]);
    }

    #[test]
    fn percentiles_are_within_one_percent_in_configured_order() {
        let e2e = E2eLatency::new(Duration::from_secs(600), &[1.0, 0.99, 0.5]);
        for ms in 1..=100 {
            e2e.record_latency(ms * MS);
        }
        let stats = e2e.stats();
        assert_eq!(stats.count, 100);
        let p = stats.percentiles.unwrap();
        let close = |value: f64, want: u64| (value - want as f64).abs() <= want as f64 * 0.01;
        assert_eq!(p[0].quantile, 1.0);
        assert!(close(p[0].value, 100 * MS), "{p:?}");
        assert!(close(p[1].value, 99 * MS), "{p:?}");
        assert!(close(p[2].value, 50 * MS), "{p:?}");
    }

    #[test]
    fn timestamps_become_latencies_and_future_ones_count_as_zero() {
        let e2e = E2eLatency::new(Duration::from_secs(600), &[1.0]);
        e2e.record(now_ns() - 5_000 * MS as i64);
        e2e.record(now_ns() + 1_000_000 * MS as i64);
        let stats = e2e.stats();
        assert_eq!(stats.count, 2);
        let max = stats.percentiles.unwrap()[0].value;
        assert!(max >= 4_900.0 * MS as f64, "{max}");
    }

    #[test]
    fn long_latencies_grow_the_sketch() {
        let e2e = E2eLatency::new(Duration::from_secs(600), &[1.0]);
        let day = 86_400_000 * MS;
        e2e.record_latency(day);
        let max = e2e.stats().percentiles.unwrap()[0].value;
        assert!((max - day as f64).abs() <= day as f64 * 0.01, "{max}");
    }

    #[test]
    fn samples_expire_after_a_whole_window() {
        let half = Duration::from_secs(300);
        let e2e = E2eLatency::new(half * 2, &[0.5]);
        let recorder = e2e.inner.as_deref().unwrap();
        let start = recorder.windows.lock().last_move;
        recorder.record(MS, start);
        // Half a window later the sample is in the older sketch but still counted.
        recorder.record(2 * MS, start + half + Duration::from_secs(1));
        let mut sum = new_sketch().unwrap();
        recorder.add_to(&mut sum, start + half + Duration::from_secs(2));
        assert_eq!(sum.len(), 2);
        // After another half window the first sample's sketch was cleared.
        let mut sum = new_sketch().unwrap();
        recorder.add_to(&mut sum, start + half * 2 + Duration::from_secs(1));
        assert_eq!(sum.len(), 1);
        // Long idle: everything is gone.
        let mut sum = new_sketch().unwrap();
        recorder.add_to(&mut sum, start + half * 7);
        assert_eq!(sum.len(), 0);
        recorder.record(3 * MS, start + half * 7);
        let mut sum = new_sketch().unwrap();
        recorder.add_to(&mut sum, start + half * 7);
        assert_eq!(sum.len(), 1);
    }

    #[test]
    fn zero_window_does_not_hang() {
        let e2e = E2eLatency::new(Duration::ZERO, &[0.5]);
        for _ in 0..10 {
            e2e.record_latency(MS);
        }
        assert!(e2e.stats().count <= 10);
    }

    #[test]
    fn merge_sums_enabled_recorders_and_skips_disabled_ones() {
        let a = E2eLatency::new(Duration::from_secs(600), &[1.0]);
        let b = E2eLatency::new(Duration::from_secs(600), &[1.0]);
        let off = E2eLatency::default();
        a.record_latency(MS);
        b.record_latency(3 * MS);
        b.record_latency(3 * MS);
        let merged = E2eLatency::merged([&a, &off, &b]);
        assert_eq!(merged.count, 3);
        let max = merged.percentiles.unwrap()[0].value;
        assert!((max - 3.0 * MS as f64).abs() <= 0.03 * MS as f64, "{max}");
        assert_eq!(E2eLatency::merged([&off]), LatencyStats::default());
        assert_eq!(E2eLatency::merged([]), LatencyStats::default());
    }
}
