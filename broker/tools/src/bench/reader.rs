//! `nsq bench reader`: NSQ's bench_reader. Each connection IDENTIFYs, subscribes, sets
//! `--rdy`, then FINs every message it receives until `--runfor` has passed.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use nsq_wire::command::Command;
use nsq_wire::frame::Frame;
use nsq_wire::identify::IdentifyRequest;
use tokio::sync::Barrier;

use super::raw::RawConn;

#[derive(Debug, Args)]
pub struct ReaderArgs {
    /// Duration of time to run (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    runfor: Duration,
    /// <addr>:<port> to connect to nsqd.
    #[arg(long = "nsqd-tcp-address", default_value = "127.0.0.1:4150")]
    nsqd_tcp_address: String,
    /// Topic to consume.
    #[arg(long, default_value = "sub_bench")]
    topic: String,
    /// Channel to consume.
    #[arg(long, default_value = "ch")]
    channel: String,
    /// Size of messages (only used for the MiB/s figure).
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// RDY count to use.
    #[arg(long, default_value_t = 2500)]
    rdy: u64,
    /// Number of consuming connections (Go uses GOMAXPROCS: one per CPU).
    #[arg(long, default_value_t = super::default_connections())]
    connections: usize,
}

pub async fn run(args: ReaderArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.rdy == 0 {
        bail!("--connections and --rdy must be at least 1");
    }
    let barrier = std::sync::Arc::new(Barrier::new(args.connections + 1));
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let mut conn = RawConn::connect(&args.nsqd_tcp_address).await?;
        subscribe(&mut conn, &args.topic, &args.channel).await?;
        let (barrier, runfor, rdy) = (barrier.clone(), args.runfor, args.rdy);
        workers.push(tokio::spawn(async move {
            consume_worker(conn, rdy, runfor, barrier).await
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

async fn subscribe(conn: &mut RawConn, topic: &str, channel: &str) -> anyhow::Result<()> {
    let identify = IdentifyRequest {
        client_id: Some("reader".into()),
        hostname: Some("reader".into()),
        user_agent: Some(format!("nsq-bench-reader/{}", env!("CARGO_PKG_VERSION"))),
        ..IdentifyRequest::default()
    };
    conn.push(&Command::Identify(identify));
    conn.push(&Command::Sub {
        topic: topic.into(),
        channel: channel.into(),
    });
    conn.flush().await?;
    conn.expect_response().await?;
    conn.expect_response().await?;
    Ok(())
}

async fn consume_worker(
    mut conn: RawConn,
    rdy: u64,
    runfor: Duration,
    barrier: std::sync::Arc<Barrier>,
) -> anyhow::Result<u64> {
    barrier.wait().await;
    conn.push(&Command::Rdy(rdy));
    conn.flush().await?;
    let deadline = tokio::time::sleep(runfor);
    tokio::pin!(deadline);
    let mut received = 0;
    loop {
        // Answer every buffered frame, then write the FINs in one go and read again; the
        // deadline is only checked when the socket has to be read.
        while let Some(frame) = conn.buffered_frame()? {
            match frame {
                Frame::Message(msg) => {
                    conn.push(&Command::Fin(msg.id));
                    received += 1;
                }
                Frame::Response(_) => conn.push(&Command::Nop),
                Frame::Error(data) => {
                    bail!("nsqd error: {}", String::from_utf8_lossy(&data))
                }
            }
            if conn.write_buf.len() >= 16 * 1024 {
                conn.flush().await?;
            }
        }
        conn.flush().await?;
        tokio::select! {
            _ = &mut deadline => return Ok(received),
            read = conn.fill() => {
                if read? == 0 {
                    bail!("nsqd closed the connection after {received} messages");
                }
            }
        }
    }
}
