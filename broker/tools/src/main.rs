//! `nsq`: command line tools built on the transport-nsq client, with the Go tools' flag
//! names. `nsq pub` is Go's `to_nsq`, `nsq tail` is Go's `nsq_tail`. Go's single-dash long
//! flags (`-topic=t`) are accepted as well as `--topic=t`.

mod bench;
mod go_flags;
mod publish;
mod tail;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "nsq", version, about = "NSQ command line tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish each line of stdin as a message (Go's to_nsq).
    Pub(publish::PubArgs),
    /// Print the messages of a topic to stdout (Go's nsq_tail).
    Tail(tail::TailArgs),
    /// Benchmarks: NSQ's bench_writer / bench_reader, and end-to-end latency.
    Bench(bench::BenchArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse_from(go_flags::normalize(std::env::args_os()));
    let result = match cli.command {
        Command::Pub(args) => publish::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsq: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
