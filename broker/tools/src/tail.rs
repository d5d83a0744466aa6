//! `nsq tail` (Go's `nsq_tail`): prints every message of one or more topics to stdout, one
//! per line, from nsqd directly or through lookupd; `-n` stops after that many messages.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rand::Rng;
use tokio::sync::mpsc;
use transport_nsq::{Config, Consumer, HandlerError, Message};

/// How long to wait for directly given nsqd to accept the subscription.
const INITIAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct TailArgs {
    /// NSQ topic (may be given multiple times).
    #[arg(long, required = true)]
    topic: Vec<String>,
    /// NSQ channel (default: a random ephemeral channel `tailNNNNNN#ephemeral`).
    #[arg(long, default_value = "")]
    channel: String,
    /// nsqd TCP address (may be given multiple times).
    #[arg(long = "nsqd-tcp-address")]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times).
    #[arg(long = "lookupd-http-address")]
    lookupd_http_address: Vec<String>,
    /// Max number of messages to allow in flight.
    #[arg(long = "max-in-flight", default_value_t = 200)]
    max_in_flight: usize,
    /// Total messages to show (will wait if starved); 0 = no limit.
    #[arg(short = 'n', long = "n", default_value_t = 0)]
    n: u64,
    /// Print topic name where message was received.
    #[arg(long = "print-topic")]
    print_topic: bool,
    /// Option to pass through to the consumer (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "consumer-opt")]
    consumer_opt: Vec<String>,
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    if args.nsqd_tcp_address.is_empty() && args.lookupd_http_address.is_empty() {
        bail!("--nsqd-tcp-address or --lookupd-http-address required");
    }
    if !args.nsqd_tcp_address.is_empty() && !args.lookupd_http_address.is_empty() {
        bail!("use --nsqd-tcp-address or --lookupd-http-address not both");
    }
    let channel = if args.channel.is_empty() {
        format!(
            "tail{:06}#ephemeral",
            rand::thread_rng().gen_range(0..999_999)
        )
    } else {
        args.channel.clone()
    };
    let mut config = Config {
        max_in_flight: args.max_in_flight,
        ..Config::default()
    };
    config
        .apply_options(&args.consumer_opt)
        .context("invalid --consumer-opt")?;

    let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<(String, bytes::Bytes)>();
    let taken = Arc::new(AtomicU64::new(0));
    let limit = args.n;
    let mut consumers = Vec::new();
    for topic in &args.topic {
        let tx = lines_tx.clone();
        let taken = taken.clone();
        let topic_name = topic.clone();
        let consumer = Consumer::builder(topic.clone(), channel.clone())
            .config(config.clone())
            .nsqd_addresses(args.nsqd_tcp_address.clone())
            .lookupd_addresses(args.lookupd_http_address.clone())
            .handler(move |m: Message| {
                let admitted = limit == 0 || taken.fetch_add(1, Ordering::SeqCst) < limit;
                if admitted {
                    let _ = tx.send((topic_name.clone(), m.body().clone()));
                } else {
                    // Past -n: give it back untouched.
                    m.requeue_without_backoff(Some(Duration::ZERO));
                }
                async { Ok::<_, HandlerError>(()) }
            })
            .start()
            .await
            .with_context(|| format!("starting consumer for topic {topic}"))?;
        // Like nsq_tail, an nsqd given directly that cannot be reached is an error.
        if !args.nsqd_tcp_address.is_empty() {
            let all = args.nsqd_tcp_address.len();
            if let Err(e) = consumer
                .wait_for_connections(all, INITIAL_CONNECT_TIMEOUT)
                .await
            {
                consumer.drain(Duration::ZERO).await;
                bail!("could not subscribe to every nsqd for topic {topic}: {e}");
            }
        }
        consumers.push(consumer);
    }
    drop(lines_tx);

    let mut shown = 0u64;
    let stdout = std::io::stdout();
    loop {
        let next = tokio::select! {
            line = lines_rx.recv() => line,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some((topic, body)) = next else { break };
        let mut out = stdout.lock();
        let written = if args.print_topic {
            write!(out, "{topic} | ").and_then(|_| out.write_all(&body))
        } else {
            out.write_all(&body)
        };
        written
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush())
            .context("writing stdout")?;
        shown += 1;
        if limit > 0 && shown >= limit {
            break;
        }
    }
    for consumer in &consumers {
        consumer.drain(Duration::from_secs(5)).await;
    }
    Ok(())
}
