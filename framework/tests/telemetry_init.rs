//! `telemetry::init` installs the global subscriber once (own test binary: global state).

use framework::telemetry::{init, LogFormat, TelemetryConfig, TelemetryError};

#[tokio::test]
async fn init_installs_logging_and_an_otlp_exporter_once() {
    let config = TelemetryConfig {
        service_name: "telemetry-test".into(),
        format: LogFormat::Json,
        filter: "info,framework=debug".into(),
        // Nothing listens there; the exporter connects lazily.
        otlp_endpoint: Some("http://127.0.0.1:9".into()),
    };
    let guard = init(&config).unwrap();
    assert!(guard.exports_spans());
    tracing::info_span!("a span").in_scope(|| tracing::info!("inside"));
    let again = init(&TelemetryConfig::default()).unwrap_err();
    assert!(
        matches!(again, TelemetryError::AlreadyInstalled(_)),
        "{again}"
    );
    let bad = TelemetryConfig {
        filter: "=[".into(),
        ..TelemetryConfig::default()
    };
    // RUST_LOG unset in CI: the configured filter is parsed and rejected.
    if std::env::var_os("RUST_LOG").is_none() {
        assert!(matches!(init(&bad), Err(TelemetryError::Filter(_))));
    }
    tokio::time::timeout(std::time::Duration::from_secs(20), guard.shutdown())
        .await
        .unwrap();
}
