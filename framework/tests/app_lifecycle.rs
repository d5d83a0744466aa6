//! App lifecycle: hook order, failing start, stop deadline, server failure, AppInfo.

use async_trait::async_trait;
use framework::app::Signal;
use framework::provider::Cleanup;
use framework::{App, AppError, AppInfo, BoxError, Endpoint, ProviderSet, Resolver, Server};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().push(entry.into());
}

/// A server that records its lifecycle and can be told to misbehave.
struct Recorder {
    name: &'static str,
    log: Log,
    fail_start: bool,
    start_delay: Duration,
    hang_on_stop: bool,
    stopped: AtomicBool,
    fail_while_serving: Option<Duration>,
}

impl Recorder {
    fn new(name: &'static str, log: &Log) -> Self {
        Recorder {
            name,
            log: log.clone(),
            fail_start: false,
            start_delay: Duration::ZERO,
            hang_on_stop: false,
            stopped: AtomicBool::new(false),
            fail_while_serving: None,
        }
    }
}

#[async_trait]
impl Server for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    async fn start(&self, app: &AppInfo) -> Result<(), BoxError> {
        tokio::time::sleep(self.start_delay).await;
        push(&self.log, format!("{}.start({})", self.name, app.name()));
        if self.fail_start {
            return Err("port in use".into());
        }
        Ok(())
    }

    async fn stop(&self, _deadline: Instant) -> Result<(), BoxError> {
        push(&self.log, format!("{}.stop", self.name));
        if self.hang_on_stop {
            std::future::pending::<()>().await;
        }
        self.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn endpoint(&self) -> Option<Endpoint> {
        Some(Endpoint::new(format!("test://{}", self.name)))
    }

    async fn serving(&self) -> Result<(), BoxError> {
        match self.fail_while_serving {
            Some(after) => {
                tokio::time::sleep(after).await;
                Err("connection lost".into())
            }
            None => std::future::pending().await,
        }
    }
}

fn hook(
    log: &Log,
    entry: &'static str,
) -> impl Fn(AppInfo) -> futures::future::Ready<Result<(), BoxError>> {
    let log = log.clone();
    move |_info| {
        push(&log, entry);
        futures::future::ready(Ok(()))
    }
}

/// Runs `app` to its end (at most 5 s); it must fail.
async fn run_expecting_error(app: App) -> AppError {
    timeout(Duration::from_secs(5), app.run())
        .await
        .unwrap()
        .unwrap_err()
}

/// Waits (at most 5 s) for a spawned `app.run()`; it must end cleanly.
async fn finished_ok(running: JoinHandle<Result<(), AppError>>) {
    timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn hooks_servers_and_cleanups_run_in_lifecycle_order() {
    let log: Log = Arc::default();
    let cleanup_log = log.clone();
    let providers = ProviderSet::new().provide_with_cleanup(move |_r: Resolver| {
        let log = cleanup_log.clone();
        async move {
            Ok((
                42u32,
                Cleanup::new(move || async move { push(&log, "cleanup") }),
            ))
        }
    });
    let app = App::builder()
        .name("orders")
        .signals([])
        .providers(providers)
        .server(Recorder::new("grpc", &log))
        .before_start(hook(&log, "before_start"))
        .after_start(hook(&log, "after_start"))
        .before_stop(hook(&log, "before_stop"))
        .after_stop(hook(&log, "after_stop"))
        .build()
        .await
        .unwrap();
    assert_eq!(*app.container().get::<u32>().unwrap(), 42);
    let stop = app.stop_handle();
    let info = app.info().clone();
    let running = tokio::spawn(app.run());
    // Wait until started, then stop.
    timeout(Duration::from_secs(5), async {
        while !log.lock().contains(&"after_start".to_string()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(info.endpoints(), vec![Endpoint::new("test://grpc")]);
    stop.stop();
    finished_ok(running).await;
    assert_eq!(
        *log.lock(),
        vec![
            "before_start",
            "grpc.start(orders)",
            "after_start",
            "before_stop",
            "grpc.stop",
            "after_stop",
            "cleanup"
        ]
    );
}

#[tokio::test]
async fn a_failing_start_stops_the_other_servers_and_returns_its_error() {
    let log: Log = Arc::default();
    let healthy = Arc::new(Recorder::new("healthy", &log));
    let mut broken = Recorder::new("broken", &log);
    broken.fail_start = true;
    broken.start_delay = Duration::from_millis(20);
    let app = App::builder()
        .name("svc")
        .signals([])
        .shared_server(healthy.clone())
        .server(broken)
        .after_start(hook(&log, "after_start"))
        .build()
        .await
        .unwrap();
    let err = run_expecting_error(app).await;
    match &err {
        AppError::Start { server, source } => {
            assert_eq!(server, "broken");
            assert_eq!(source.to_string(), "port in use");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        healthy.stopped.load(Ordering::SeqCst),
        "healthy server was not stopped"
    );
    assert!(!log.lock().contains(&"after_start".to_string()));
}

#[tokio::test]
async fn stop_deadline_is_enforced() {
    let log: Log = Arc::default();
    let mut stuck = Recorder::new("stuck", &log);
    stuck.hang_on_stop = true;
    let polite = Arc::new(Recorder::new("polite", &log));
    let builder = App::builder();
    let stop = builder.stop_handle();
    let app = builder
        .signals([])
        .stop_timeout(Duration::from_millis(200))
        .server(stuck)
        .shared_server(polite.clone())
        .after_start(move |_| {
            stop.stop();
            futures::future::ready(Ok(()))
        })
        .after_stop(hook(&log, "after_stop"))
        .build()
        .await
        .unwrap();
    let err = run_expecting_error(app).await;
    match err {
        AppError::StopDeadline { servers, timeout } => {
            assert_eq!(servers, vec!["stuck".to_string()]);
            assert_eq!(timeout, Duration::from_millis(200));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(polite.stopped.load(Ordering::SeqCst));
    assert!(log.lock().contains(&"after_stop".to_string()));
}

#[tokio::test]
async fn a_server_failing_while_serving_stops_the_app() {
    let log: Log = Arc::default();
    let mut flaky = Recorder::new("flaky", &log);
    flaky.fail_while_serving = Some(Duration::from_millis(30));
    let other = Arc::new(Recorder::new("other", &log));
    let app = App::builder()
        .signals([])
        .server(flaky)
        .shared_server(other.clone())
        .build()
        .await
        .unwrap();
    let err = run_expecting_error(app).await;
    assert!(
        matches!(&err, AppError::Serve { server, .. } if server == "flaky"),
        "{err}"
    );
    assert!(other.stopped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_failing_before_start_hook_starts_nothing() {
    let log: Log = Arc::default();
    let app = App::builder()
        .signals([])
        .server(Recorder::new("grpc", &log))
        .before_start(|_| async { Err::<(), BoxError>("migrations failed".into()) })
        .build()
        .await
        .unwrap();
    let err = app.run().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "before-start hook failed: migrations failed"
    );
    assert!(log.lock().is_empty());
}

#[tokio::test]
async fn app_info_is_reachable_from_hooks_and_providers() {
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let seen_in_hook = seen.clone();
    let providers = ProviderSet::new().provide(|r: Resolver| async move {
        let info = r.get::<AppInfo>().await?;
        Ok(format!("{}@{}", info.name(), info.version()))
    });
    let builder = App::builder();
    let stop = builder.stop_handle();
    let app = builder
        .id("instance-1")
        .name("billing")
        .version("2.1.0")
        .metadata("region", "eu")
        .signals([Signal::Hangup])
        .providers(providers)
        .after_start(move |info| {
            let seen = seen_in_hook.clone();
            stop.stop();
            async move {
                let current = AppInfo::current().ok_or("no current app")?;
                *seen.lock() = Some(format!(
                    "{} {} {:?}",
                    current.id(),
                    info.name(),
                    info.metadata().get("region")
                ));
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    assert_eq!(
        app.container().get::<String>().unwrap().as_str(),
        "billing@2.1.0"
    );
    app.run().await.unwrap();
    assert_eq!(
        seen.lock().as_deref(),
        Some("instance-1 billing Some(\"eu\")")
    );
}

struct NeedsDb;
struct Db;

#[tokio::test]
async fn missing_provider_fails_the_build_with_its_name() {
    let err = App::builder()
        .providers(ProviderSet::new().provide(|r: Resolver| async move {
            r.get::<Db>().await?;
            Ok(NeedsDb)
        }))
        .build()
        .await
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("no provider for app_lifecycle::Db"),
        "{message}"
    );
    assert!(
        message.contains("needed by app_lifecycle::NeedsDb"),
        "{message}"
    );
}

#[tokio::test]
async fn a_stop_during_a_hanging_start_stops_everything() {
    let log: Log = Arc::default();
    let mut hanging = Recorder::new("hanging", &log);
    hanging.start_delay = Duration::from_secs(3600);
    let app = App::builder()
        .signals([])
        .server(hanging)
        .after_start(hook(&log, "after_start"))
        .after_stop(hook(&log, "after_stop"))
        .build()
        .await
        .unwrap();
    let stop = app.stop_handle();
    let running = tokio::spawn(app.run());
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.stop();
    finished_ok(running).await;
    assert_eq!(*log.lock(), vec!["hanging.stop", "after_stop"]);
}
