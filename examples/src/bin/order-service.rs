//! The order service: `OrderService` over gRPC, publishing `OrderCreated` on NSQ.
//!
//! ```text
//! cargo run -p examples --bin order-service -- --config examples/configs/order-service.toml
//! ORDER_NSQ__NSQD_TCP_ADDRESSES=10.0.0.5:4150 ORDER_GRPC__ADDRESS=0.0.0.0:9000 order-service
//! ```

use std::path::PathBuf;

use clap::Parser;
use framework::telemetry;

/// Runs the order service against an NSQ cluster.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML/YAML/JSON); `ORDER_*` environment variables override it.
    #[arg(long, default_value = "examples/configs/order-service.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut conf = examples::conf::load(&args.config, "ORDER")?;
    if conf.telemetry.service_name == "service" {
        conf.telemetry.service_name = "order-service".into();
    }
    let guard = telemetry::init(&conf.telemetry)?;
    let result = examples::order::server::app(&conf).await;
    let outcome = match result {
        Ok(app) => app.run().await.map_err(anyhow::Error::from),
        Err(err) => Err(err.into()),
    };
    guard.shutdown().await;
    outcome
}
