//! `nsq`: command line tools built on the transport-nsq client, with the Go tools' flag
//! names. `nsq pub` is Go's `to_nsq`, `nsq tail` is Go's `nsq_tail`. Go's single-dash long
//! flags (`-topic=t`) are accepted as well as `--topic=t`.

mod bench;
mod go_flags;
mod publish;
mod tail;
// admin: stat, to-file, to-nsq, to-http, completions
mod completions;
mod source;
mod stat;
mod to_file;
mod to_http;
mod to_nsq;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nsq",
    version,
    about = "NSQ command line tools",
    after_help = "Examples:\n  echo hello | nsq pub --topic t --nsqd-tcp-address 127.0.0.1:4150\n  \
                  nsq tail --topic t --lookupd-http-address 127.0.0.1:4161 -n 10\n  \
                  nsq stat --topic t --channel c --nsqd-http-address 127.0.0.1:4151\n  \
                  nsq completions bash > /etc/bash_completion.d/nsq"
)]
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
    /// Print a channel's depth, rates and counters periodically (Go's nsq_stat).
    Stat(stat::StatArgs),
    /// Write a topic's messages to rotating, optionally gzipped files (Go's nsq_to_file).
    ToFile(to_file::ToFileArgs),
    /// Copy a topic/channel to a topic on other nsqd(s) (Go's nsq_to_nsq).
    ToNsq(to_nsq::ToNsqArgs),
    /// Send a topic/channel's messages to HTTP endpoints (Go's nsq_to_http).
    ToHttp(to_http::ToHttpArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
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
        Command::Stat(args) => stat::run(args).await,
        Command::ToFile(args) => to_file::run(args).await,
        Command::ToNsq(args) => to_nsq::run(args).await,
        Command::ToHttp(args) => to_http::run(args).await,
        Command::Completions(args) => completions::run::<Cli>(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsq: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
