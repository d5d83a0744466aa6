//! The services' configuration (`Bootstrap`), loaded like Kratos does: a file, then
//! environment variables with the service's prefix (`ORDER_`, `NOTIFIER_`; `__` nests,
//! e.g. `ORDER_NSQ__NSQD_TCP_ADDRESSES=10.0.0.5:4150,10.0.0.6:4150`).

use std::path::Path;

use framework::config::{Config, ConfigError};
use framework::grpc::GrpcConfig;
use framework::telemetry::TelemetryConfig;
use serde::Deserialize;
use transport_nsq::NsqConfig;

/// Everything a service reads from its configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Bootstrap {
    /// The gRPC server (`[grpc]`: `address`, `timeout`, `reflection`, `tls`).
    pub grpc: GrpcConfig,
    /// NSQ (`[nsq]`, see docs/nsq-framework.md).
    pub nsq: NsqConfig,
    /// Logs and traces (`[telemetry]`).
    pub telemetry: TelemetryConfig,
}

/// Keys whose environment values are comma-separated lists.
const LIST_KEYS: [&str; 3] = [
    "nsq.nsqd_tcp_addresses",
    "nsq.nsqd_http_addresses",
    "nsq.lookupd_http_addresses",
];

/// Loads `path` (TOML, YAML or JSON) and then `<PREFIX>_...` environment variables.
pub fn load(path: &Path, env_prefix: &str) -> Result<Bootstrap, ConfigError> {
    Config::load(path)
        .env_prefix(env_prefix)
        .env_list_keys(LIST_KEYS)
        .scan()
}
