//! The notifier: annotated subscribers on `order.created` (channels `email`, `analytics`) and `NotifierService` over gRPC.
//!
//! ```text
//! cargo run -p examples --bin notifier -- --config examples/configs/notifier.toml
//! NOTIFIER_NSQ__LOOKUPD_HTTP_ADDRESSES=10.0.0.5:4161 NOTIFIER_GRPC__ADDRESS=0.0.0.0:9001 notifier
//! ```

use std::path::PathBuf;

use clap::Parser;
use framework::telemetry;

/// Runs the notifier against an NSQ cluster.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML/YAML/JSON); `NOTIFIER_*` environment variables override it.
    #[arg(long, default_value = "examples/configs/notifier.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut conf = examples::conf::load(&args.config, "NOTIFIER")?;
    if conf.telemetry.service_name == "service" {
        conf.telemetry.service_name = "notifier".into();
    }
    let guard = telemetry::init(&conf.telemetry)?;
    let result = examples::notifier::server::app(&conf).await;
    let outcome = match result {
        Ok(app) => app.run().await.map_err(anyhow::Error::from),
        Err(err) => Err(err.into()),
    };
    guard.shutdown().await;
    outcome
}
