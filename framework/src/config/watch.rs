//! Watching config files: a task polls the files' contents and, when one changes, reloads
//! every layer and calls back with the new [`Config`]. Polling (not inotify) keeps it
//! dependency-free and works on every filesystem, including bind mounts and ConfigMaps.

use super::Config;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Stops the watch when dropped.
#[derive(Debug)]
pub struct WatchHandle {
    task: JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn spawn<F>(config: Config, interval: Duration, on_change: F) -> WatchHandle
where
    F: Fn(Config) + Send + 'static,
{
    let task = tokio::spawn(async move {
        let mut last = config.sources.snapshot();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let current = config.sources.snapshot();
            if current == last {
                continue;
            }
            last = current;
            match config.sources.load() {
                Ok(reloaded) => {
                    tracing::info!("configuration changed; reloaded");
                    on_change(reloaded);
                }
                Err(err) => {
                    tracing::warn!(%err, "configuration changed but does not load; keeping the old one")
                }
            }
        }
    });
    WatchHandle { task }
}
