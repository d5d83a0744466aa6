//! Health of the parts of a service that are not the gRPC server itself (an NSQ consumer
//! group, a database pool, ...), as the gRPC health service (`grpc.health.v1.Health`)
//! reports them.
//!
//! A [`HealthCheck`] is a cheap, non-blocking "is this part serving?" question. Registered
//! on a [`GrpcServer`](crate::grpc::GrpcServer) under a name, it is asked every
//! [`interval`](crate::grpc::GrpcServer::health_interval) while the server runs, and:
//! - the service `<name>` reports `SERVING` or `NOT_SERVING` with it;
//! - the overall service `""` reports `SERVING` only while the gRPC server runs **and** every
//!   check passes (one readiness answer for the whole process, which is what Kubernetes'
//!   gRPC probe asks by default).
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use framework::grpc::{GrpcConfig, GrpcServer};
//!
//! let connected = Arc::new(AtomicBool::new(false));
//! let flag = connected.clone();
//! let server = GrpcServer::new(GrpcConfig::default())
//!     .health_check("db", move || flag.load(Ordering::Relaxed));
//! connected.store(true, Ordering::Relaxed); // reported SERVING from the next poll on
//! # drop(server);
//! ```

use std::sync::Arc;
use std::time::Duration;

use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// How often checks are asked by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Whether one part of a service is serving. Called from an async task: it must answer at
/// once (read a flag or a counter), never block or do I/O.
pub trait HealthCheck: Send + Sync + 'static {
    /// `true` while the part can do its work.
    fn is_serving(&self) -> bool;
}

impl<F> HealthCheck for F
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    fn is_serving(&self) -> bool {
        self()
    }
}

/// Named checks and what was last reported for them.
#[derive(Clone, Default)]
pub(crate) struct HealthChecks {
    checks: Vec<(String, Arc<dyn HealthCheck>)>,
}

impl HealthChecks {
    pub(crate) fn add(&mut self, name: String, check: Arc<dyn HealthCheck>) {
        self.checks.push((name, check));
    }

    /// Reports the checks every `interval` (`reported`: the results of the report made at
    /// start), until the task is aborted.
    pub(crate) async fn run(
        self,
        mut reporter: HealthReporter,
        interval: Duration,
        mut reported: Vec<bool>,
    ) {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            reported = self.report(&mut reporter, Some(&reported)).await;
        }
    }

    /// Sets every status whose check result changed since `last` (all of them when `None`);
    /// returns the results.
    pub(crate) async fn report(
        &self,
        reporter: &mut HealthReporter,
        last: Option<&[bool]>,
    ) -> Vec<bool> {
        let now: Vec<bool> = self.checks.iter().map(|(_, c)| c.is_serving()).collect();
        let changed = |i: usize| last.and_then(|l| l.get(i)) != Some(&now[i]);
        for (i, (name, _)) in self.checks.iter().enumerate() {
            if changed(i) && !name.is_empty() {
                let status = status(now[i]);
                tracing::info!(service = %name, ?status, "health changed");
                reporter.set_service_status(name, status).await;
            }
        }
        let overall = now.iter().all(|ok| *ok);
        if last.is_none_or(|l| l.iter().all(|ok| *ok) != overall) {
            reporter.set_service_status("", status(overall)).await;
        }
        now
    }

    /// Marks the overall service and every named one `NOT_SERVING` (the server stops).
    pub(crate) async fn report_stopped(&self, reporter: &mut HealthReporter) {
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for (name, _) in self.checks.iter().filter(|(n, _)| !n.is_empty()) {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    }
}

fn status(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}
