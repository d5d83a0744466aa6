//! The `nsqd` command line: Go nsqd's flag names and defaults (v1.3), `--config FILE` (a TOML
//! file whose keys are the flag names with `_` for `-`, as Go's), and the mapping of the parsed
//! flags into [`NsqdOptions`].
//!
//! Precedence is Go's: a flag given on the command line wins over the config file, which wins
//! over the default. Go's single-dash spelling (`-tcp-address=...`) is accepted too.
//!
//! ```
//! use broker::nsqd::cli::NsqdArgs;
//! let parsed = NsqdArgs::parse_with_config(["nsqd", "-mem-queue-size=5", "--msg-timeout", "2s"]).unwrap();
//! assert_eq!(parsed.args.mem_queue_size, 5);
//! assert_eq!(parsed.args.msg_timeout, std::time::Duration::from_secs(2));
//! ```

mod config;
mod duration;
mod options;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::nsqd::TlsRequired;

pub use duration::{format_go_duration, parse_go_duration, parse_go_duration_strict};

/// Why the command line could not be turned into options.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags, `--help` (clap renders and exits with the right code via [`clap::Error::exit`]).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML.
    #[error("cannot parse config file {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// A config file value has a type that cannot be a flag value (table, datetime).
    #[error("config file key {key:?}: unsupported value {value}")]
    ConfigValue { key: String, value: String },
    /// A value that parses but is out of range or inconsistent (Go nsqd refuses to start).
    #[error("{0}")]
    Invalid(String),
}

/// `--log-level`: Go nsqd's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Fatal = 5,
}

impl LogLevel {
    /// Go's name of the level (`debug` .. `fatal`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }

    /// The `tracing` level filter directive for this level (`fatal` logs errors).
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Fatal => "error",
        }
    }
}

/// Parses a log level as Go does (case-insensitive names), also accepting the numbers 1..5
/// that `GET /config/log_level` reports.
pub fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "debug" | "1" => LogLevel::Debug,
        "info" | "2" => LogLevel::Info,
        "warn" | "3" => LogLevel::Warn,
        "error" | "4" => LogLevel::Error,
        "fatal" | "5" => LogLevel::Fatal,
        _ => {
            return Err(format!(
                "invalid log level {s:?} (debug, info, warn, error, fatal)"
            ))
        }
    })
}

/// Parses `--tls-required` as Go does: `tcp-https`, or a Go boolean.
pub fn parse_tls_required(s: &str) -> Result<TlsRequired, String> {
    if s.eq_ignore_ascii_case("tcp-https") {
        return Ok(TlsRequired::TcpHttps);
    }
    match parse_go_bool(s)? {
        true => Ok(TlsRequired::Yes),
        false => Ok(TlsRequired::No),
    }
}

/// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {s:?}")),
    }
}

fn parse_tls_min_version(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "" | "ssl3.0" | "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3" => Ok(lower),
        _ => Err(format!(
            "unknown tls version {s:?} (ssl3.0, tls1.0, tls1.1, tls1.2)"
        )),
    }
}

fn parse_percentile(s: &str) -> Result<f64, String> {
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid percentile {s:?}"))?;
    if value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(format!("percentile {s:?} must be in (0, 1.0]"))
    }
}

/// Every flag of Go nsqd v1.3, same names and defaults. Field names are the flag names in
/// snake_case, which are also the config file keys.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "nsqd",
    about = "nsqd: the NSQ message broker daemon (wire compatible with NSQ v1.3)",
    disable_version_flag = true
)]
pub struct NsqdArgs {
    /// print version string
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub version: bool,

    /// path to config file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// set log verbosity: debug, info, warn, error, or fatal
    #[arg(long, default_value = "info", value_parser = parse_log_level)]
    pub log_level: LogLevel,

    /// log message prefix
    #[arg(long, default_value = "[nsqd] ")]
    pub log_prefix: String,

    /// [deprecated] has no effect, use --log-level
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub verbose: bool,

    /// unique part for message IDs, (int) in range [0,1024) (default is hash of hostname)
    #[arg(long, allow_negative_numbers = true)]
    pub node_id: Option<i64>,

    /// [deprecated] use --node-id
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub worker_id: bool,

    /// <addr>:<port> to listen on for HTTPS clients
    #[arg(long, default_value = "0.0.0.0:4152")]
    pub https_address: String,

    /// <addr>:<port> to listen on for HTTP clients
    #[arg(long, default_value = "0.0.0.0:4151")]
    pub http_address: String,

    /// <addr>:<port> to listen on for TCP clients
    #[arg(long, default_value = "0.0.0.0:4150")]
    pub tcp_address: String,

    /// <addr>:<port> or a full url to query auth server (may be given multiple times)
    #[arg(long, action = ArgAction::Append)]
    pub auth_http_address: Vec<String>,

    /// HTTP method to use for auth server requests
    #[arg(long, default_value = "get")]
    pub auth_http_request_method: String,

    /// address that will be registered with lookupd (defaults to the OS hostname)
    #[arg(long)]
    pub broadcast_address: Option<String>,

    /// TCP port that will be registered with lookupd (defaults to the TCP port that this nsqd is listening on)
    #[arg(long, default_value_t = 0)]
    pub broadcast_tcp_port: u16,

    /// HTTP port that will be registered with lookupd (defaults to the HTTP port that this nsqd is listening on)
    #[arg(long, default_value_t = 0)]
    pub broadcast_http_port: u16,

    /// lookupd TCP address (may be given multiple times)
    #[arg(long, action = ArgAction::Append)]
    pub lookupd_tcp_address: Vec<String>,

    /// timeout for HTTP connect
    #[arg(long, default_value = "2s", value_parser = parse_go_duration)]
    pub http_client_connect_timeout: Duration,

    /// timeout for HTTP request
    #[arg(long, default_value = "5s", value_parser = parse_go_duration)]
    pub http_client_request_timeout: Duration,

    /// path to store disk-backed messages (default: the current directory)
    #[arg(long)]
    pub data_path: Option<PathBuf>,

    /// number of messages to keep in memory (per topic/channel)
    #[arg(long, default_value_t = 10000, allow_negative_numbers = true)]
    pub mem_queue_size: i64,

    /// number of bytes per diskqueue file before rolling
    #[arg(long, default_value_t = 104857600)]
    pub max_bytes_per_file: i64,

    /// number of messages per diskqueue fsync
    #[arg(long, default_value_t = 2500)]
    pub sync_every: i64,

    /// duration of time per diskqueue fsync
    #[arg(long, default_value = "2s", value_parser = parse_go_duration)]
    pub sync_timeout: Duration,

    /// answer PUB/MPUB/DPUB only after the message is fsync'ed to disk (not in Go nsqd)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub sync_ack: bool,

    /// number of channels to check per cycle (every 100ms) for in-flight and deferred timeouts
    #[arg(long, default_value_t = 20)]
    pub queue_scan_selection_count: i64,

    /// max concurrency for checking in-flight and deferred message timeouts
    #[arg(long, default_value_t = 4)]
    pub queue_scan_worker_pool_max: i64,

    /// default duration to wait before auto-requeing a message
    #[arg(long, default_value = "1m0s", value_parser = parse_go_duration)]
    pub msg_timeout: Duration,

    /// maximum duration before a message will timeout
    #[arg(long, default_value = "15m0s", value_parser = parse_go_duration)]
    pub max_msg_timeout: Duration,

    /// maximum size of a single message in bytes
    #[arg(long, default_value_t = 1048576)]
    pub max_msg_size: i64,

    /// maximum requeuing timeout for a message
    #[arg(long, default_value = "1h0m0s", value_parser = parse_go_duration)]
    pub max_req_timeout: Duration,

    /// maximum size of a single command body
    #[arg(long, default_value_t = 5242880)]
    pub max_body_size: i64,

    /// maximum client configurable duration of time between client heartbeats
    #[arg(long, default_value = "1m0s", value_parser = parse_go_duration)]
    pub max_heartbeat_interval: Duration,

    /// maximum RDY count for a client
    #[arg(long, default_value_t = 2500)]
    pub max_rdy_count: i64,

    /// maximum client configurable size (in bytes) for a client output buffer
    #[arg(long, default_value_t = 65536)]
    pub max_output_buffer_size: i64,

    /// maximum client configurable duration of time between flushing to a client
    #[arg(long, default_value = "30s", value_parser = parse_go_duration)]
    pub max_output_buffer_timeout: Duration,

    /// minimum client configurable duration of time between flushing to a client
    #[arg(long, default_value = "25ms", value_parser = parse_go_duration)]
    pub min_output_buffer_timeout: Duration,

    /// default duration of time between flushing data to clients
    #[arg(long, default_value = "250ms", value_parser = parse_go_duration)]
    pub output_buffer_timeout: Duration,

    /// maximum channel consumer connection count per nsqd instance (default 0, i.e., unlimited)
    #[arg(long, default_value_t = 0)]
    pub max_channel_consumers: i64,

    /// UDP <addr>:<port> of a statsd daemon for pushing stats
    #[arg(long, default_value = "")]
    pub statsd_address: String,

    /// duration between pushing to statsd
    #[arg(long, default_value = "1m0s", value_parser = parse_go_duration)]
    pub statsd_interval: Duration,

    /// toggle sending memory and GC stats to statsd
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub statsd_mem_stats: bool,

    /// prefix used for keys sent to statsd (%s for host replacement)
    #[arg(long, default_value = "nsq.%s")]
    pub statsd_prefix: String,

    /// the size in bytes of statsd UDP packets
    #[arg(long, default_value_t = 508)]
    pub statsd_udp_packet_size: i64,

    /// Skip ephemeral topics and channels when sending stats to statsd
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub statsd_exclude_ephemeral: bool,

    /// message processing time percentiles (as float (0, 1.0]) to track (can be specified multiple times or comma separated '1.0,0.99,0.95', default none)
    #[arg(long, action = ArgAction::Append, value_delimiter = ',', value_parser = parse_percentile)]
    pub e2e_processing_latency_percentile: Vec<f64>,

    /// calculate end to end latency quantiles for this duration of time (ie: 60s would only show quantile calculations from the past 60 seconds)
    #[arg(long, default_value = "10m0s", value_parser = parse_go_duration)]
    pub e2e_processing_latency_window_time: Duration,

    /// path to certificate file
    #[arg(long, default_value = "")]
    pub tls_cert: String,

    /// path to key file
    #[arg(long, default_value = "")]
    pub tls_key: String,

    /// client certificate auth policy ('require' or 'require-verify')
    #[arg(long, default_value = "")]
    pub tls_client_auth_policy: String,

    /// path to certificate authority file
    #[arg(long, default_value = "")]
    pub tls_root_ca_file: String,

    /// require TLS for client connections (true, false, tcp-https)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = parse_tls_required)]
    pub tls_required: TlsRequired,

    /// minimum SSL/TLS version acceptable ('ssl3.0', 'tls1.0', 'tls1.1', or 'tls1.2')
    #[arg(long, default_value = "tls1.0", value_parser = parse_tls_min_version)]
    pub tls_min_version: String,

    /// enable deflate feature negotiation (client compression)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub deflate: bool,

    /// max deflate compression level a client can negotiate (> values == > nsqd CPU usage)
    #[arg(long, default_value_t = 6)]
    pub max_deflate_level: i64,

    /// max open TCP client connections; more are closed right after accept (0 = unlimited)
    #[arg(long, default_value_t = crate::nsqd::options::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// enable snappy feature negotiation (client compression)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub snappy: bool,

    /// A region represents a larger physical area that contains one or more zones (experimental)
    #[arg(long, default_value = "")]
    pub topology_region: String,

    /// A zone is a location within a region (experimental)
    #[arg(long, default_value = "")]
    pub topology_zone: String,

    /// enable experimental feature (may be given multiple times): topology-aware-consumption
    #[arg(long, action = ArgAction::Append)]
    pub enable_experiment: Vec<String>,

    /// Flag ids given explicitly (command line or config file); not a flag.
    #[arg(skip)]
    pub explicit: BTreeSet<String>,
}

/// The outcome of parsing: the flags, plus notes to log once logging is set up (e.g. unknown
/// config file keys, which Go ignores silently).
#[derive(Debug, Clone)]
pub struct ParsedArgs {
    pub args: NsqdArgs,
    pub notes: Vec<String>,
}

impl NsqdArgs {
    /// Parses a command line (first item = program name), then layers the `--config` file
    /// under it: config values apply to flags not given on the command line.
    pub fn parse_with_config<I, T>(argv: I) -> Result<ParsedArgs, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let argv = normalize_go_flags(argv.into_iter().map(Into::into).collect());
        let command = NsqdArgs::command();
        let first = command.clone().try_get_matches_from(&argv)?;
        let mut notes = Vec::new();
        let mut argv = argv;
        if let Some(path) = first.get_one::<PathBuf>("config") {
            let layer = config::load(path, &first)?;
            notes.extend(layer.notes);
            argv.extend(layer.args);
        }
        let matches = command.try_get_matches_from(&argv)?;
        let mut args = NsqdArgs::from_arg_matches(&matches)?;
        args.explicit = matches
            .ids()
            .filter(|id| {
                matches!(
                    matches.value_source(id.as_str()),
                    Some(clap::parser::ValueSource::CommandLine)
                )
            })
            .map(|id| id.as_str().to_string())
            .collect();
        Ok(ParsedArgs { args, notes })
    }

    /// Whether a flag (by snake_case id) was given on the command line or in the config file.
    pub fn is_explicit(&self, id: &str) -> bool {
        self.explicit.contains(id)
    }
}

/// Go's flag package accepts `-name` as well as `--name`; clap only the latter. Rewrites
/// single-dash long flags (`-tcp-address=...`) to double-dash, up to a `--` separator.
fn normalize_go_flags(argv: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len());
    let mut passthrough = false;
    for (index, arg) in argv.into_iter().enumerate() {
        let text = arg.to_string_lossy();
        let is_go_long = index > 0
            && !passthrough
            && text.len() > 2
            && text.starts_with('-')
            && text.as_bytes()[1].is_ascii_alphabetic();
        if text == "--" {
            passthrough = true;
        }
        if is_go_long {
            let mut rewritten = OsString::from("-");
            rewritten.push(&arg);
            out.push(rewritten);
        } else {
            out.push(arg);
        }
    }
    out
}

pub use options::inactive_feature_warnings;

#[cfg(test)]
mod tests;
