//! `nsq bench latency`: publishes at a fixed rate (evenly spaced) through our producer to a
//! channel that a consumer of ours (default settings, `--max-in-flight`) drains, and reports
//! the publish-to-receipt latency percentiles. Each body starts with its send time, so the
//! figure covers client, broker and both sockets, as a service would see it. Producer and
//! consumer share one current-thread runtime by default (`--client-threads`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use transport_nsq::{Config, Consumer, HandlerError, Message, Producer};

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Duration of the measured run (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    runfor: Duration,
    /// <addr>:<port> of nsqd (TCP).
    #[arg(long = "nsqd-tcp-address", default_value = "127.0.0.1:4150")]
    nsqd_tcp_address: String,
    /// Topic to use (should be empty: a fresh name per run is best).
    #[arg(long, default_value = "latency_bench")]
    topic: String,
    /// Channel to consume.
    #[arg(long, default_value = "ch")]
    channel: String,
    /// Message size in bytes (at least 8: the send time rides in the body).
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Consumer max_in_flight.
    #[arg(long = "max-in-flight", default_value_t = 200)]
    max_in_flight: usize,
    /// Tokio worker threads for the producer and consumer (0: one current-thread runtime).
    #[arg(long = "client-threads", default_value_t = 0)]
    client_threads: usize,
}

pub async fn run(args: LatencyArgs) -> anyhow::Result<()> {
    let runtime = if args.client_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    tokio::task::spawn_blocking(move || {
        let result = runtime.block_on(async move {
            // The measured work runs as a task, so its spawns stay on the runtime's threads.
            tokio::spawn(measure(args)).await?
        });
        runtime.shutdown_background();
        result
    })
    .await?
}

async fn measure(args: LatencyArgs) -> anyhow::Result<()> {
    if args.size < 8 || args.rate == 0 {
        bail!("--size must be at least 8 and --rate at least 1");
    }
    let origin = Instant::now();
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")?,
    ));
    let consumer = start_consumer(&args, origin, histogram.clone()).await?;
    let producer = Producer::new([args.nsqd_tcp_address.clone()], Config::default())?;
    producer.ping().await.context("nsqd did not answer")?;

    let sent = publish_at_rate(&producer, &args, origin).await?;
    let received = wait_for_receipts(&histogram, sent, Duration::from_secs(10)).await;
    producer.stop().await;
    consumer.stop().await;

    let hist = histogram.lock();
    println!(
        "latency: sent {sent} received {received} at {} msgs/s, {} B - p50 {:.3}ms p99 {:.3}ms p99.9 {:.3}ms max {:.3}ms",
        args.rate,
        args.size,
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.value_at_quantile(0.999) as f64 / 1000.0,
        hist.max() as f64 / 1000.0,
    );
    if received < sent {
        bail!("{} messages were not received", sent - received);
    }
    Ok(())
}

async fn start_consumer(
    args: &LatencyArgs,
    origin: Instant,
    histogram: Arc<Mutex<Histogram<u64>>>,
) -> anyhow::Result<Consumer> {
    let config = Config {
        max_in_flight: args.max_in_flight,
        ..Config::default()
    };
    let consumer = Consumer::builder(args.topic.clone(), args.channel.clone())
        .config(config)
        .nsqd_address(args.nsqd_tcp_address.clone())
        .handler(move |message: Message| {
            record(&histogram, origin, message.body());
            async { Ok::<(), HandlerError>(()) }
        })
        .start()
        .await?;
    consumer
        .wait_for_connections(1, Duration::from_secs(5))
        .await
        .context("consumer could not connect")?;
    Ok(consumer)
}

fn record(histogram: &Mutex<Histogram<u64>>, origin: Instant, body: &Bytes) {
    let Some(stamp) = body.get(..8) else { return };
    let sent_us = u64::from_be_bytes(stamp.try_into().unwrap_or([0; 8]));
    let now_us = origin.elapsed().as_micros() as u64;
    histogram
        .lock()
        .saturating_record(now_us.saturating_sub(sent_us).max(1));
}

fn stamped_body(origin: Instant, size: usize) -> Bytes {
    let mut body = BytesMut::with_capacity(size);
    body.put_u64(origin.elapsed().as_micros() as u64);
    body.resize(size, b'x');
    body.freeze()
}

/// Sends `rate` messages per second for `runfor`, evenly spaced: a pacing thread stamps
/// each body when it is due (so runtime stalls count as latency) and hands it to the
/// runtime, which publishes it at once; publishes are pipelined (each resolves on its own OK).
async fn publish_at_rate(
    producer: &Producer,
    args: &LatencyArgs,
    origin: Instant,
) -> anyhow::Result<u64> {
    let (tx, mut bodies) = tokio::sync::mpsc::unbounded_channel();
    let (rate, runfor, size) = (args.rate, args.runfor, args.size);
    let pacer = std::thread::spawn(move || pace(rate, runfor, origin, size, tx));
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            body = bodies.recv(), if open => match body {
                Some(body) => pending.push(producer.publish(&args.topic, body)),
                None => open = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => done?,
        }
    }
    pacer
        .join()
        .map_err(|_| anyhow::anyhow!("pacing thread panicked"))
}

/// The pacing loop: sleeps (no spinning: the broker needs the CPU) until the next message
/// is due, then sends every message that is due.
fn pace(
    rate: u64,
    runfor: Duration,
    origin: Instant,
    size: usize,
    tx: tokio::sync::mpsc::UnboundedSender<Bytes>,
) -> u64 {
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < runfor {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            if tx.send(stamped_body(origin, size)).is_err() {
                return sent;
            }
            sent += 1;
        }
        let next = start + Duration::from_secs_f64((sent + 1) as f64 / rate as f64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    sent
}

async fn wait_for_receipts(histogram: &Mutex<Histogram<u64>>, sent: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let received = histogram.lock().len();
        if received >= sent || Instant::now() >= deadline {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
