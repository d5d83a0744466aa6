//! What the `nsqlookupd` and `nsqadmin` binaries share: Go-style layering of flags over a TOML
//! config file over defaults, Go durations in config files, address resolution, log setup and
//! waiting for SIGINT/SIGTERM. (`nsqd` has its own, richer CLI in [`crate::nsqd::cli`].)

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::nsqd::cli::parse_go_duration_strict;

/// A duration in a config file: a Go duration string (`"45s"`) or an integer of milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ConfigDuration {
    Text(String),
    Millis(u64),
}

impl ConfigDuration {
    /// The duration, or an error naming the bad text.
    pub fn resolve(&self) -> anyhow::Result<Duration> {
        match self {
            ConfigDuration::Text(text) => parse_go_duration_strict(text).map_err(|e| anyhow!(e)),
            ConfigDuration::Millis(ms) => Ok(Duration::from_millis(*ms)),
        }
    }
}

/// The flags nsqlookupd and nsqadmin share, with Go's names; each binary flattens them into
/// its own (`#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonFlags {
    /// path to config file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// print version string
    #[arg(long)]
    pub version: bool,
    /// set log level: debug, info, warn, error, or fatal
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// log message prefix (accepted for compatibility; tracing formats the lines)
    #[arg(long)]
    pub log_prefix: Option<String>,
    /// [deprecated] use --log-level (still means debug, as in Go)
    #[arg(long)]
    pub verbose: bool,
}

impl DaemonFlags {
    /// Starts logging at `--log-level` (a flag given wins over the config file's
    /// `log_level`); the deprecated `verbose` (flag or file) still means `debug`, as in Go.
    pub fn init_logging(
        &self,
        matches: &ArgMatches,
        file_log_level: Option<String>,
        file_verbose: Option<bool>,
    ) -> anyhow::Result<()> {
        let verbose = pick(matches, "verbose", self.verbose, file_verbose);
        let level = pick(matches, "log_level", self.log_level.clone(), file_log_level);
        init_tracing(if verbose { "debug" } else { &level })
    }
}

/// The `main` of a daemon binary: parses `C` from the command line (clap exits on `--help`
/// and bad flags), prints `<name> v<version> (built w/rustc)` when the `version` flag is set,
/// and otherwise calls `run`, reporting its error as Go does (`[<name>] FATAL: <error>`, exit
/// status 1).
pub fn daemon_main<C: CommandFactory + FromArgMatches>(
    name: &str,
    version: &str,
    run: impl FnOnce(C, &ArgMatches) -> anyhow::Result<()>,
) -> ExitCode {
    let matches = C::command().get_matches();
    let cli = match C::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Ok(Some(true)) = matches.try_get_one::<bool>("version") {
        println!("{name} v{version} (built w/rustc)");
        return ExitCode::SUCCESS;
    }
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("[{name}] FATAL: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a daemon's `serve` future on a new multi-threaded tokio runtime.
pub fn block_on(serve: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("failed to start the runtime")?;
    runtime.block_on(serve)
}

/// The `--config` file at `path`, or the defaults (all unset) without one.
pub fn load_config<T: DeserializeOwned + Default>(path: Option<&Path>) -> anyhow::Result<T> {
    path.map_or_else(|| Ok(T::default()), load_toml)
}

/// Reads and parses a TOML config file.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("failed to parse config file {}", path.display()))
}

/// Whether the flag `id` was given on the command line (not defaulted).
pub fn from_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// A flag given on the command line wins, then the config file, then the flag's default.
pub fn pick<T>(matches: &ArgMatches, id: &str, flag: T, file: Option<T>) -> T {
    match file {
        Some(value) if !from_command_line(matches, id) => value,
        _ => flag,
    }
}

/// [`pick`] for durations, which the config file may spell as text or milliseconds.
pub fn duration_option(
    matches: &ArgMatches,
    id: &str,
    flag: Duration,
    file: &Option<ConfigDuration>,
) -> anyhow::Result<Duration> {
    match file {
        Some(value) if !from_command_line(matches, id) => value
            .resolve()
            .with_context(|| format!("config option {id}")),
        _ => Ok(flag),
    }
}

/// Resolves `host:port` to its first socket address; `flag` names the option in errors.
pub fn resolve_address(flag: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.to_socket_addrs()
        .with_context(|| format!("{flag}: invalid address {text:?}"))?
        .next()
        .ok_or_else(|| anyhow!("{flag}: {text:?} resolves to no address"))
}

/// Logs to stderr at Go's level names (`debug`, `info`, `warn`, `error`, `fatal`).
pub fn init_tracing(level: &str) -> anyhow::Result<()> {
    let filter = match level.to_ascii_lowercase().as_str() {
        "debug" => "debug",
        "info" => "info",
        "warn" => "warn",
        "error" | "fatal" => "error",
        other => bail!("invalid log level {other:?} (debug, info, warn, error, fatal)"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
