//! `nsq bench writer`: NSQ's bench_writer. Each connection sends one MPUB batch, waits for
//! its `OK`, and repeats until `--runfor` has passed; the total is printed in Go's format.

use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::{Bytes, BytesMut};
use clap::Args;
use nsq_wire::command::Command;
use tokio::sync::Barrier;

use super::raw::RawConn;

#[derive(Debug, Args)]
pub struct WriterArgs {
    /// Duration of time to run (Go duration or humantime, e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    runfor: Duration,
    /// <addr>:<port> to connect to nsqd.
    #[arg(long = "nsqd-tcp-address", default_value = "127.0.0.1:4150")]
    nsqd_tcp_address: String,
    /// Topic to publish to.
    #[arg(long, default_value = "sub_bench")]
    topic: String,
    /// Size of messages in bytes.
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Messages per MPUB.
    #[arg(long = "batch-size", default_value_t = 200)]
    batch_size: usize,
    /// Number of publishing connections (Go uses GOMAXPROCS: one per CPU).
    #[arg(long, default_value_t = super::default_connections())]
    connections: usize,
}

pub async fn run(args: WriterArgs) -> anyhow::Result<()> {
    if args.size == 0 || args.batch_size == 0 || args.connections == 0 {
        bail!("--size, --batch-size and --connections must be at least 1");
    }
    let mpub = encoded_mpub(&args.topic, args.size, args.batch_size);
    let barrier = std::sync::Arc::new(Barrier::new(args.connections + 1));
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let conn = RawConn::connect(&args.nsqd_tcp_address).await?;
        let (mpub, barrier) = (mpub.clone(), barrier.clone());
        let (runfor, batch) = (args.runfor, args.batch_size as u64);
        workers.push(tokio::spawn(async move {
            publish_worker(conn, mpub, batch, runfor, barrier).await
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    println!("{}", super::summary_line(start.elapsed(), total, args.size));
    Ok(())
}

/// One MPUB command, encoded once and re-sent: the bytes are identical every time.
fn encoded_mpub(topic: &str, size: usize, batch_size: usize) -> Bytes {
    let body = Bytes::from(vec![b'a'; size]);
    let mut buf = BytesMut::new();
    Command::Mpub {
        topic: topic.to_string(),
        bodies: vec![body; batch_size],
    }
    .encode(&mut buf);
    buf.freeze()
}

async fn publish_worker(
    mut conn: RawConn,
    mpub: Bytes,
    batch: u64,
    runfor: Duration,
    barrier: std::sync::Arc<Barrier>,
) -> anyhow::Result<u64> {
    conn.flush().await?;
    barrier.wait().await;
    let end = Instant::now() + runfor;
    let mut published = 0;
    loop {
        conn.write_raw(&mpub).await?;
        conn.expect_response().await?;
        published += batch;
        if Instant::now() >= end {
            return Ok(published);
        }
    }
}
