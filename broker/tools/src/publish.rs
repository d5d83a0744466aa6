//! `nsq pub` (Go's `to_nsq`): publishes every delimiter-separated chunk of stdin (one line by
//! default) to the topic on every given nsqd. Empty chunks are skipped; the first failed
//! publish ends the program with an error, as in to_nsq.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio::io::AsyncBufReadExt;
use transport_nsq::{Config, Producer};

#[derive(Debug, Args)]
pub struct PubArgs {
    /// NSQ topic to publish to.
    #[arg(long)]
    topic: String,
    /// Destination nsqd TCP address (may be given multiple times; every message goes to each).
    #[arg(long = "nsqd-tcp-address", required = true)]
    nsqd_tcp_address: Vec<String>,
    /// Character to split input from stdin.
    #[arg(long, default_value = "\n")]
    delimiter: String,
    /// Throttle messages to n/second. 0 to disable.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Option to pass through to the producer (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "producer-opt")]
    producer_opt: Vec<String>,
}

pub async fn run(args: PubArgs) -> anyhow::Result<()> {
    let Some(&delimiter) = args.delimiter.as_bytes().first() else {
        bail!("--delimiter must not be empty");
    };
    let config = Config::from_options(&args.producer_opt).context("invalid --producer-opt")?;
    let producers = args
        .nsqd_tcp_address
        .iter()
        .map(|addr| Producer::new([addr.clone()], config.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut throttle = (args.rate > 0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs(1) / args.rate.min(1_000_000) as u32);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut chunk = Vec::new();
    let result = async {
        loop {
            chunk.clear();
            let n = stdin
                .read_until(delimiter, &mut chunk)
                .await
                .context("reading stdin")?;
            if n == 0 {
                return Ok(());
            }
            if chunk.last() == Some(&delimiter) {
                chunk.pop();
            }
            if chunk.is_empty() {
                continue;
            }
            if let Some(t) = throttle.as_mut() {
                t.tick().await;
            }
            for producer in &producers {
                producer
                    .publish(&args.topic, chunk.clone())
                    .await
                    .with_context(|| format!("publishing to {}", producer.addresses().join(",")))?;
            }
        }
    }
    .await;
    for producer in &producers {
        producer.stop().await;
    }
    result
}
