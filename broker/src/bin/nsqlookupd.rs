//! `nsqlookupd`: the discovery daemon, with Go nsqlookupd's flag names and defaults.
//!
//! Precedence: a flag given on the command line, then the `--config` TOML file (keys are
//! the flag names with `_`, e.g. `tcp_address = "0.0.0.0:4160"`,
//! `tombstone_lifetime = "45s"`), then Go's default.

use std::process::ExitCode;
use std::time::Duration;

use broker::lookupd::{Lookupd, LookupdOptions, VERSION};
use broker::nsqd::cli::parse_go_duration_strict;
use clap::{ArgMatches, Parser};
use serde::Deserialize;

use broker::cli_support::{
    block_on, daemon_main, duration_option, from_command_line, load_config, pick, resolve_address,
    wait_for_signal, ConfigDuration, DaemonFlags,
};

/// nsqlookupd: the daemon that manages NSQ topology information.
#[derive(Debug, Parser)]
#[command(name = "nsqlookupd", disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    common: DaemonFlags,
    /// <addr>:<port> to listen on for TCP clients
    #[arg(long, default_value = "0.0.0.0:4160")]
    tcp_address: String,
    /// <addr>:<port> to listen on for HTTP clients
    #[arg(long, default_value = "0.0.0.0:4161")]
    http_address: String,
    /// address of this lookupd node, (default to the OS hostname)
    #[arg(long)]
    broadcast_address: Option<String>,
    /// duration of time a producer will remain in the active list since its last ping
    #[arg(long, default_value = "5m0s", value_parser = parse_go_duration_strict)]
    inactive_producer_timeout: Duration,
    /// duration of time a producer will remain tombstoned if registration remains
    #[arg(long, default_value = "45s", value_parser = parse_go_duration_strict)]
    tombstone_lifetime: Duration,
}

/// The `--config` file: Go's option names; durations as Go strings or integer ms.
/// Unknown keys are ignored, as Go nsqlookupd does.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    log_level: Option<String>,
    verbose: Option<bool>,
    tcp_address: Option<String>,
    http_address: Option<String>,
    broadcast_address: Option<String>,
    inactive_producer_timeout: Option<ConfigDuration>,
    tombstone_lifetime: Option<ConfigDuration>,
}

fn main() -> ExitCode {
    daemon_main("nsqlookupd", VERSION, run)
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let file: ConfigFile = load_config(cli.common.config.as_deref())?;
    let values = cli_values(&cli);
    cli.common
        .init_logging(matches, file.log_level.clone(), file.verbose)?;
    let options = resolve_options(&values, matches, &file)?;
    block_on(serve(options))
}

/// The flag values `resolve_options` needs, detached from `Cli` (which `run` consumed).
struct CliValues {
    tcp_address: String,
    http_address: String,
    broadcast_address: Option<String>,
    inactive_producer_timeout: Duration,
    tombstone_lifetime: Duration,
}

fn cli_values(cli: &Cli) -> CliValues {
    CliValues {
        tcp_address: cli.tcp_address.clone(),
        http_address: cli.http_address.clone(),
        broadcast_address: cli.broadcast_address.clone(),
        inactive_producer_timeout: cli.inactive_producer_timeout,
        tombstone_lifetime: cli.tombstone_lifetime,
    }
}

fn resolve_options(
    cli: &CliValues,
    matches: &ArgMatches,
    file: &ConfigFile,
) -> anyhow::Result<LookupdOptions> {
    let defaults = LookupdOptions::default();
    let tcp = pick(
        matches,
        "tcp_address",
        cli.tcp_address.clone(),
        file.tcp_address.clone(),
    );
    let http = pick(
        matches,
        "http_address",
        cli.http_address.clone(),
        file.http_address.clone(),
    );
    let broadcast = if from_command_line(matches, "broadcast_address") {
        cli.broadcast_address.clone()
    } else {
        file.broadcast_address.clone()
    };
    let inactive = duration_option(
        matches,
        "inactive_producer_timeout",
        cli.inactive_producer_timeout,
        &file.inactive_producer_timeout,
    )?;
    let tombstone = duration_option(
        matches,
        "tombstone_lifetime",
        cli.tombstone_lifetime,
        &file.tombstone_lifetime,
    )?;
    Ok(LookupdOptions {
        tcp_address: resolve_address("--tcp-address", &tcp)?,
        http_address: resolve_address("--http-address", &http)?,
        broadcast_address: broadcast
            .filter(|b| !b.is_empty())
            .unwrap_or(defaults.broadcast_address),
        inactive_producer_timeout: inactive,
        tombstone_lifetime: tombstone,
    })
}

async fn serve(options: LookupdOptions) -> anyhow::Result<()> {
    let lookupd = Lookupd::start(options).await?;
    tracing::info!("nsqlookupd v{VERSION} (built w/rustc)");
    wait_for_signal().await?;
    tracing::info!("nsqlookupd shutting down");
    lookupd.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(
            parse_go_duration_strict("5m0s"),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(parse_go_duration_strict("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(
            parse_go_duration_strict("1.5s"),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_go_duration_strict("300ms"),
            Ok(Duration::from_millis(300))
        );
        assert_eq!(
            parse_go_duration_strict("1h2m"),
            Ok(Duration::from_secs(3720))
        );
        assert_eq!(parse_go_duration_strict("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "5x", "-1s", "s", "1..2s"] {
            assert!(parse_go_duration_strict(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_beat_config_file_which_beats_defaults() {
        let file: ConfigFile = toml::from_str(
            "tcp_address = \"127.0.0.1:5160\"\nhttp_address = \"127.0.0.1:5161\"\n\
             tombstone_lifetime = \"10s\"\ninactive_producer_timeout = 2000\n",
        )
        .unwrap();
        let matches = Cli::command()
            .try_get_matches_from(["nsqlookupd", "--http-address", "127.0.0.1:6161"])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let options = resolve_options(&cli_values(&cli), &matches, &file).unwrap();
        assert_eq!(options.tcp_address, "127.0.0.1:5160".parse().unwrap());
        assert_eq!(options.http_address, "127.0.0.1:6161".parse().unwrap());
        assert_eq!(options.tombstone_lifetime, Duration::from_secs(10));
        assert_eq!(options.inactive_producer_timeout, Duration::from_secs(2));
        assert!(!options.broadcast_address.is_empty());
    }

    #[test]
    fn defaults_are_go_defaults() {
        let matches = Cli::command().try_get_matches_from(["nsqlookupd"]).unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let options = resolve_options(&cli_values(&cli), &matches, &ConfigFile::default()).unwrap();
        assert_eq!(options, LookupdOptions::default());
    }

    #[test]
    fn unknown_config_keys_are_ignored_like_go() {
        let file: ConfigFile = toml::from_str("max_rdy_count = 1\nverbose = true").unwrap();
        assert_eq!(file.verbose, Some(true));
    }
}
