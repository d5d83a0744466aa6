//! `nsq bench`: NSQ's `bench_writer` and `bench_reader` (same flags, same output line, raw
//! protocol so the tool measures the broker, not a client library), plus `latency`, which
//! publishes at a fixed rate through our client and reports end-to-end percentiles, and
//! `null-nsqd`, a broker that stores nothing, for the writer's ceiling.
//!
//! Point the same command at Go nsqd and at ours to compare them on one machine.

mod latency;
mod null_nsqd;
mod raw;
mod reader;
mod writer;

use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: BenchMode,
}

#[derive(Debug, Subcommand)]
enum BenchMode {
    /// Publish MPUB batches as fast as nsqd acknowledges them (NSQ's bench_writer).
    Writer(writer::WriterArgs),
    /// Consume and FIN as fast as nsqd delivers (NSQ's bench_reader).
    Reader(reader::ReaderArgs),
    /// Publish at a fixed rate and report publish-to-receipt latency percentiles.
    Latency(latency::LatencyArgs),
    /// A broker that decodes every command and answers OK, storing nothing: the writer's
    /// ceiling on this machine.
    NullNsqd(null_nsqd::NullArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.mode {
        BenchMode::Writer(args) => writer::run(args).await,
        BenchMode::Reader(args) => reader::run(args).await,
        BenchMode::Latency(args) => latency::run(args).await,
        BenchMode::NullNsqd(args) => null_nsqd::run(args).await,
    }
}

/// The summary line NSQ's bench tools print, so results can be compared verbatim.
fn summary_line(duration: Duration, messages: u64, size: usize) -> String {
    let secs = duration.as_secs_f64().max(f64::EPSILON);
    let micros = duration.as_micros() as f64;
    format!(
        "duration: {duration:?} - {:.03}mb/s - {:.03}ops/s - {:.03}us/op",
        (messages as f64 * size as f64) / secs / 1024.0 / 1024.0,
        messages as f64 / secs,
        if messages == 0 {
            0.0
        } else {
            micros / messages as f64
        },
    )
}

/// Go's default for the number of bench connections: one per CPU (GOMAXPROCS).
fn default_connections() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_matches_go_format() {
        let line = summary_line(Duration::from_secs(2), 1_000_000, 200);
        assert_eq!(
            line,
            "duration: 2s - 95.367mb/s - 500000.000ops/s - 2.000us/op"
        );
    }

    #[test]
    fn summary_line_with_no_messages_does_not_divide_by_zero() {
        let line = summary_line(Duration::from_millis(10), 0, 200);
        assert!(line.ends_with("0.000ops/s - 0.000us/op"), "{line}");
    }
}
