//! `nsqadmin`: the web UI, with Go nsqadmin's flag names and defaults.
//!
//! Precedence: a flag given on the command line, then the `--config` TOML file (keys are
//! Go's config names: the flag name with `_`, and `nsqlookupd_http_addresses` /
//! `nsqd_http_addresses` for the repeatable address flags), then Go's default.

use std::process::ExitCode;
use std::time::Duration;

use broker::admin::{Admin, AdminOptions, VERSION};
use broker::nsqd::cli::parse_go_duration_strict;
use clap::{ArgMatches, Parser};
use serde::Deserialize;

use broker::cli_support::{
    block_on, daemon_main, duration_option, from_command_line, load_config, pick, resolve_address,
    wait_for_signal, ConfigDuration, DaemonFlags,
};

/// nsqadmin: a web UI to view aggregated cluster stats in realtime and perform admin tasks.
#[derive(Debug, Parser)]
#[command(
    name = "nsqadmin",
    disable_version_flag = true,
    after_help = "Examples:\n  nsqadmin --lookupd-http-address=127.0.0.1:4161\n  \
                  nsqadmin --nsqd-http-address=127.0.0.1:4151 --http-address=127.0.0.1:4171\n  \
                  nsqadmin --lookupd-http-address=l1:4161 --lookupd-http-address=l2:4161 --base-path=/nsq"
)]
struct Cli {
    #[command(flatten)]
    common: DaemonFlags,
    /// <addr>:<port> to listen on for HTTP clients
    #[arg(long, default_value = "0.0.0.0:4171")]
    http_address: String,
    /// URL base path
    #[arg(long, default_value = "/")]
    base_path: String,
    /// lookupd HTTP address (may be given multiple times)
    #[arg(long = "lookupd-http-address", value_name = "ADDR")]
    lookupd_http_address: Vec<String>,
    /// nsqd HTTP address (may be given multiple times)
    #[arg(long = "nsqd-http-address", value_name = "ADDR")]
    nsqd_http_address: Vec<String>,
    /// timeout for HTTP connect
    #[arg(long, default_value = "2s", value_parser = parse_go_duration_strict)]
    http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long, default_value = "5s", value_parser = parse_go_duration_strict)]
    http_client_request_timeout: Duration,
    /// A CIDR from which to allow HTTP requests to the /config endpoint
    #[arg(long, default_value = "127.0.0.1/8")]
    allow_config_from_cidr: String,
    /// HTTP endpoint (fully qualified) to which POST notifications of admin actions will be sent
    #[arg(long)]
    notification_http_endpoint: Option<String>,
    /// HTTP header to check for authenticated admin users
    #[arg(long, default_value = "X-Forwarded-User")]
    acl_http_header: String,
    /// admin user (may be given multiple times; if specified, only these users may act)
    #[arg(long = "admin-user", value_name = "USER")]
    admin_user: Vec<String>,
}

/// The `--config` file; unknown keys are ignored, as Go nsqadmin does.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    log_level: Option<String>,
    http_address: Option<String>,
    base_path: Option<String>,
    nsqlookupd_http_addresses: Option<Vec<String>>,
    nsqd_http_addresses: Option<Vec<String>>,
    http_client_connect_timeout: Option<ConfigDuration>,
    http_client_request_timeout: Option<ConfigDuration>,
    allow_config_from_cidr: Option<String>,
    notification_http_endpoint: Option<String>,
    acl_http_header: Option<String>,
    admin_users: Option<Vec<String>>,
}

fn main() -> ExitCode {
    daemon_main("nsqadmin", VERSION, run)
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let file: ConfigFile = load_config(cli.common.config.as_deref())?;
    cli.common
        .init_logging(matches, file.log_level.clone(), None)?;
    let options = resolve_options(&cli, matches, &file)?;
    block_on(serve(options))
}

fn resolve_options(
    cli: &Cli,
    matches: &ArgMatches,
    file: &ConfigFile,
) -> anyhow::Result<AdminOptions> {
    let http = pick(
        matches,
        "http_address",
        cli.http_address.clone(),
        file.http_address.clone(),
    );
    let lookupds = pick(
        matches,
        "lookupd_http_address",
        cli.lookupd_http_address.clone(),
        file.nsqlookupd_http_addresses.clone(),
    );
    let nsqds = pick(
        matches,
        "nsqd_http_address",
        cli.nsqd_http_address.clone(),
        file.nsqd_http_addresses.clone(),
    );
    Ok(AdminOptions {
        http_address: resolve_address("--http-address", &http)?,
        lookupd_http_addresses: lookupds,
        nsqd_http_addresses: nsqds,
        base_path: pick(
            matches,
            "base_path",
            cli.base_path.clone(),
            file.base_path.clone(),
        ),
        http_client_connect_timeout: duration_option(
            matches,
            "http_client_connect_timeout",
            cli.http_client_connect_timeout,
            &file.http_client_connect_timeout,
        )?,
        http_client_request_timeout: duration_option(
            matches,
            "http_client_request_timeout",
            cli.http_client_request_timeout,
            &file.http_client_request_timeout,
        )?,
        notification_http_endpoint: if from_command_line(matches, "notification_http_endpoint") {
            cli.notification_http_endpoint.clone()
        } else {
            file.notification_http_endpoint.clone()
        }
        .filter(|e| !e.is_empty()),
        acl_http_header: pick(
            matches,
            "acl_http_header",
            cli.acl_http_header.clone(),
            file.acl_http_header.clone(),
        ),
        admin_users: pick(
            matches,
            "admin_user",
            cli.admin_user.clone(),
            file.admin_users.clone(),
        ),
        allow_config_from_cidr: pick(
            matches,
            "allow_config_from_cidr",
            cli.allow_config_from_cidr.clone(),
            file.allow_config_from_cidr.clone(),
        ),
    })
}

async fn serve(options: AdminOptions) -> anyhow::Result<()> {
    let admin = Admin::start(options).await?;
    tracing::info!("nsqadmin v{VERSION} (built w/rustc) at {}", admin.url());
    wait_for_signal().await?;
    tracing::info!("nsqadmin shutting down");
    admin.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn parse(args: &[&str], file: &str) -> AdminOptions {
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let file: ConfigFile = toml::from_str(file).unwrap();
        resolve_options(&cli, &matches, &file).unwrap()
    }

    #[test]
    fn defaults_are_go_defaults() {
        let options = parse(&["nsqadmin"], "");
        let defaults = AdminOptions::default();
        assert_eq!(options, defaults);
    }

    #[test]
    fn repeatable_addresses_and_config_layering() {
        let options = parse(
            &[
                "nsqadmin",
                "--lookupd-http-address=127.0.0.1:4161",
                "--lookupd-http-address",
                "127.0.0.1:5161",
                "--http-client-request-timeout=1s",
            ],
            "nsqlookupd_http_addresses = [\"x:1\"]\nbase_path = \"/nsq\"\n\
             http_client_connect_timeout = \"300ms\"\nadmin_users = [\"ops\"]\nunknown = 1",
        );
        assert_eq!(
            options.lookupd_http_addresses,
            ["127.0.0.1:4161", "127.0.0.1:5161"]
        );
        assert_eq!(options.base_path, "/nsq");
        assert_eq!(
            options.http_client_connect_timeout,
            Duration::from_millis(300)
        );
        assert_eq!(options.http_client_request_timeout, Duration::from_secs(1));
        assert_eq!(options.admin_users, ["ops"]);
    }
}
