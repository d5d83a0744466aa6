//! `nsq to-nsq` (Go's `nsq_to_nsq`): consumes a topic/channel and republishes every message
//! to a destination topic on other nsqd(s), FINishing a message only once it is published
//! (a failed publish requeues it). Destinations are used round-robin, failing over to the
//! next on error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use transport_nsq::{Config, HandlerError, Message, Producer};

use crate::source::{shutdown_signal, Source};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nsq to-nsq --topic orders --lookupd-http-address 127.0.0.1:4161 \\\n      \
                        --destination-nsqd-tcp-address 10.0.0.2:4150 --destination-topic orders-copy\n  \
                        nsq to-nsq -topic=orders -channel=mirror -nsqd-tcp-address=127.0.0.1:4150 -destination-nsqd-tcp-address=127.0.0.1:5150"
)]
pub struct ToNsqArgs {
    /// NSQ topic.
    #[arg(long)]
    topic: String,
    /// NSQ channel.
    #[arg(long, default_value = "nsq_to_nsq")]
    channel: String,
    /// nsqd TCP address (may be given multiple times).
    #[arg(long = "nsqd-tcp-address")]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times).
    #[arg(long = "lookupd-http-address")]
    lookupd_http_address: Vec<String>,
    /// Destination nsqd TCP address (may be given multiple times).
    #[arg(long = "destination-nsqd-tcp-address", required = true)]
    destination_nsqd_tcp_address: Vec<String>,
    /// Use this destination topic for all consumed topics (default is the consumed topic).
    #[arg(long = "destination-topic", default_value = "")]
    destination_topic: String,
    /// Publishing mode: round-robin or hostpool (both spread over destinations, failing over).
    #[arg(long, default_value = "hostpool", value_parser = ["round-robin", "hostpool", "epsilon-greedy"])]
    mode: String,
    /// Max number of messages to allow in flight.
    #[arg(long = "max-in-flight", default_value_t = 200)]
    max_in_flight: usize,
    /// Option to pass through to the consumer (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "consumer-opt")]
    consumer_opt: Vec<String>,
    /// Option to pass through to the producers (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "producer-opt")]
    producer_opt: Vec<String>,
}

pub async fn run(args: ToNsqArgs) -> anyhow::Result<()> {
    let source = Source::new(
        args.nsqd_tcp_address.clone(),
        args.lookupd_http_address.clone(),
        args.max_in_flight,
        &args.consumer_opt,
    )?;
    let destination = if args.destination_topic.is_empty() {
        args.topic.clone()
    } else {
        args.destination_topic.clone()
    };
    if !nsq_wire::names::is_valid_topic_name(&destination) {
        bail!("invalid destination topic {destination:?}");
    }
    let config = Config::from_options(&args.producer_opt).context("invalid --producer-opt")?;
    let producers = args
        .destination_nsqd_tcp_address
        .iter()
        .map(|addr| Producer::new([addr.clone()], config.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let producers = Arc::new(producers);
    let next = Arc::new(AtomicUsize::new(0));
    let copied = Arc::new(AtomicU64::new(0));
    let consumer = {
        let producers = Arc::clone(&producers);
        let copied = Arc::clone(&copied);
        source
            .consume(&args.topic, &args.channel, move |message: Message| {
                let producers = Arc::clone(&producers);
                let start = next.fetch_add(1, Ordering::Relaxed);
                let destination = destination.clone();
                let copied = Arc::clone(&copied);
                async move {
                    publish_with_failover(&producers, start, &destination, message.body().clone())
                        .await?;
                    copied.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, HandlerError>(())
                }
            })
            .await?
    };
    shutdown_signal().await?;
    consumer.drain(Duration::from_secs(5)).await;
    for producer in producers.iter() {
        producer.stop().await;
    }
    eprintln!(
        "nsq to-nsq: copied {} messages",
        copied.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Tries each destination once, starting at `start`; the last error requeues the message.
async fn publish_with_failover(
    producers: &[Producer],
    start: usize,
    topic: &str,
    body: bytes::Bytes,
) -> Result<(), HandlerError> {
    let mut last_error = None;
    for offset in 0..producers.len() {
        let producer = &producers[(start + offset) % producers.len()];
        match producer.publish(topic, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                tracing::warn!(%err, destination = ?producer.addresses(), "publish failed");
                last_error = Some(err);
            }
        }
    }
    Err(match last_error {
        Some(err) => HandlerError::msg(format!("no destination accepted the message: {err}")),
        None => HandlerError::msg("no destination configured"),
    })
}
