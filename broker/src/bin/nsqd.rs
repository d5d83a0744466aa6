//! `nsqd`: the NSQ daemon, wire compatible with Go nsqd v1.3. Takes Go nsqd's flags (see
//! `nsqd --help`) and `--config FILE`; SIGTERM/SIGINT shut it down gracefully.

use std::process::ExitCode;

use broker::nsqd::cli::{inactive_feature_warnings, CliError, LogLevel, NsqdArgs};
use broker::nsqd::http::install_log_level_setter;
use broker::nsqd::{Nsqd, VERSION};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter};

#[tokio::main]
async fn main() -> ExitCode {
    let parsed = match NsqdArgs::parse_with_config(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(CliError::Clap(e)) => e.exit(),
        Err(e) => {
            eprintln!("nsqd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args = parsed.args;
    if args.version {
        println!(
            "nsqd v{VERSION} (built w/rust, nsq-rs {})",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_level);
    for note in &parsed.notes {
        tracing::warn!("{note}");
    }
    for warning in inactive_feature_warnings(&args) {
        tracing::warn!("{warning}");
    }
    let signals = Signals::install();
    let opts = match args.to_options() {
        Ok(opts) => opts,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let nsqd = match Nsqd::start(opts).await {
        Ok(nsqd) => nsqd,
        Err(e) => {
            tracing::error!(error = %e, "failed to start nsqd");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(version = VERSION, "nsqd started");
    tracing::info!("TCP: listening on {}", nsqd.tcp_addr());
    tracing::info!("HTTP: listening on {}", nsqd.http_addr());
    signals.wait().await;
    tracing::info!("signal received, shutting down");
    nsqd.shutdown().await;
    tracing::info!("nsqd stopped");
    ExitCode::SUCCESS
}

/// Structured logs on stderr; `RUST_LOG` overrides `--log-level` when set. The level can be
/// changed at run time with `PUT /config/log_level`.
fn init_logging(level: LogLevel) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_filter()));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    install_log_level_setter(level, move |level| {
        if let Err(e) = handle.modify(|f| *f = EnvFilter::new(level.as_filter())) {
            tracing::error!(error = %e, "cannot change the log level");
        }
    });
}

/// SIGINT/SIGTERM listeners, installed before the listeners open so that a signal sent as
/// soon as nsqd reports its addresses is never lost to the default (kill) action.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for {name}");
                    None
                }
            };
            Signals {
                term: install(SignalKind::terminate(), "SIGTERM"),
                int: install(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on SIGINT or SIGTERM.
    async fn wait(mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match self.term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match self.int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => {}
                _ = int => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
