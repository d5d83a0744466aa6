//! nsqd's health, as Go nsqd keeps it (`SetHealth`, `IsHealthy`, `GetHealth`): every disk
//! write (a topic's or channel's disk-queue put or group commit, an `nsqd.dat` rewrite)
//! records its outcome, so the last one decides. A failure makes `/ping` answer 500
//! `NOK - <error>` and `/stats` report the same text until a later write succeeds.
//!
//! Successful writes are the hot path: they cost one atomic load while nsqd is healthy.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// The outcome of the last disk write.
#[derive(Debug, Default)]
pub struct Health {
    failing: AtomicBool,
    error: Mutex<Option<String>>,
}

impl Health {
    /// Records a write's outcome: an error makes nsqd unhealthy, a success healthy again.
    pub fn record<T, E: Display>(&self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.set(None),
            Err(err) => self.set(Some(err.to_string())),
        }
    }

    /// Sets the error (`None`: healthy).
    pub fn set(&self, error: Option<String>) {
        if error.is_none() && !self.failing.load(Ordering::Acquire) {
            return;
        }
        let mut current = self.error.lock();
        match (&*current, &error) {
            (None, Some(err)) => tracing::error!(error = %err, "nsqd is unhealthy"),
            (Some(_), None) => tracing::info!("nsqd is healthy again"),
            _ => {}
        }
        self.failing.store(error.is_some(), Ordering::Release);
        *current = error;
    }

    /// The last write's error, if it failed.
    pub fn error(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.error.lock().clone()
    }

    /// Go's `GetHealth`: `OK` or `NOK - <error>`.
    pub fn status(&self) -> String {
        match self.error() {
            None => "OK".into(),
            Some(err) => format!("NOK - {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_write_decides() {
        let health = Health::default();
        assert_eq!(health.status(), "OK");
        health.record::<(), _>(&Err("disk full"));
        assert_eq!(health.status(), "NOK - disk full");
        assert_eq!(health.error().as_deref(), Some("disk full"));
        health.record::<_, String>(&Ok(()));
        assert_eq!(health.status(), "OK");
        assert_eq!(health.error(), None);
    }
}
