//! SIGTERM stops a running App gracefully (own test binary: it signals its own process).

#![cfg(unix)]

use async_trait::async_trait;
use framework::{App, AppInfo, BoxError, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};

#[derive(Default)]
struct Flag {
    started: AtomicBool,
    stopped: AtomicBool,
}

struct Probe(Arc<Flag>);

#[async_trait]
impl Server for Probe {
    async fn start(&self, _app: &AppInfo) -> Result<(), BoxError> {
        self.0.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn stop(&self, _deadline: Instant) -> Result<(), BoxError> {
        self.0.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn sigterm_stops_the_app() {
    let flag = Arc::new(Flag::default());
    let app = App::builder()
        .name("signalled")
        .server(Probe(flag.clone()))
        .build()
        .await
        .unwrap();
    let running = tokio::spawn(app.run());
    timeout(Duration::from_secs(5), async {
        while !flag.started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(flag.stopped.load(Ordering::SeqCst));
}
