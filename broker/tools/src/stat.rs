//! `nsq stat` (Go's `nsq_stat`): polls the `/stats` of every nsqd that has the topic (found
//! through lookupd or given directly) and prints one line per interval for the channel,
//! summed over the nodes: ingress/egress rates, depth, in-flight, deferred, and totals.

use std::time::Duration;

use anyhow::{bail, Context};
use broker::admin::cluster::{Cluster, Sources};
use broker::admin::model::{sum_topics, ChannelStats};
use broker::admin::upstream::Upstream;
use broker::nsqd::cli::parse_go_duration;
use clap::Args;

/// Print the column header every this many lines, as nsq_stat does.
const HEADER_EVERY: u64 = 25;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nsq stat --topic orders --channel billing --lookupd-http-address 127.0.0.1:4161\n  \
                        nsq stat -topic=orders -channel=billing -nsqd-http-address=127.0.0.1:4151 -status-every=5s -count=10"
)]
pub struct StatArgs {
    /// NSQ topic.
    #[arg(long)]
    topic: String,
    /// NSQ channel.
    #[arg(long)]
    channel: String,
    /// nsqd HTTP address (may be given multiple times).
    #[arg(long = "nsqd-http-address")]
    nsqd_http_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times).
    #[arg(long = "lookupd-http-address")]
    lookupd_http_address: Vec<String>,
    /// Duration of time between polling/printing output.
    #[arg(long = "status-every", default_value = "2s", value_parser = parse_go_duration)]
    status_every: Duration,
    /// Number of reports (0 = until interrupted).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Timeout for HTTP connect.
    #[arg(long, default_value = "2s", value_parser = parse_go_duration)]
    http_client_connect_timeout: Duration,
    /// Timeout for HTTP request.
    #[arg(long, default_value = "5s", value_parser = parse_go_duration)]
    http_client_request_timeout: Duration,
}

pub async fn run(args: StatArgs) -> anyhow::Result<()> {
    if args.nsqd_http_address.is_empty() == args.lookupd_http_address.is_empty() {
        bail!("--nsqd-http-address or --lookupd-http-address required (not both)");
    }
    if args.status_every.is_zero() {
        bail!("--status-every must be positive");
    }
    let upstream = Upstream::new(
        args.http_client_connect_timeout,
        args.http_client_request_timeout,
    )?;
    let cluster = Cluster::new(upstream);
    let sources = Sources {
        lookupd: args.lookupd_http_address.clone(),
        nsqd: args.nsqd_http_address.clone(),
    };
    let mut previous: Option<ChannelStats> = None;
    let mut printed = 0u64;
    loop {
        let current = sample(&cluster, &sources, &args.topic, &args.channel).await?;
        if let Some(previous) = &previous {
            if printed.is_multiple_of(HEADER_EVERY) {
                println!("{}", header());
            }
            println!("{}", line(previous, &current, args.status_every));
            printed += 1;
            if args.count > 0 && printed >= args.count {
                return Ok(());
            }
        }
        previous = Some(current);
        tokio::select! {
            _ = tokio::time::sleep(args.status_every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// The channel summed over every node that has the topic.
async fn sample(
    cluster: &Cluster,
    sources: &Sources,
    topic: &str,
    channel: &str,
) -> anyhow::Result<ChannelStats> {
    let producers = cluster
        .topic_producers(topic, sources)
        .await
        .context("failed to get topic producers")?;
    let stats = cluster
        .node_stats(&producers.value, Some(topic), false)
        .await
        .context("failed to get nsqd stats")?;
    sum_topics(stats.value)
        .into_iter()
        .flat_map(|t| t.channels)
        .find(|c| c.channel_name == channel)
        .with_context(|| {
            format!("failed to find channel({channel}) in stats metadata for topic({topic})")
        })
}

fn header() -> String {
    format!(
        "------rate------+----------------depth----------------+--------------metadata---------------\n\
         {:>7} {:>7} | {:>7} {:>7} {:>7} {:>5} {:>5} | {:>7} {:>7} {:>12} {:>7}",
        "ingress", "egress", "total", "mem", "disk", "inflt", "def", "req", "t-o", "msgs", "clients"
    )
}

/// One report: rates from the change since the previous sample, gauges and totals as now.
fn line(previous: &ChannelStats, current: &ChannelStats, interval: Duration) -> String {
    let seconds = interval.as_secs_f64();
    let received = current.message_count - previous.message_count;
    let ingress = (received as f64 / seconds) as i64;
    let egress = ((received - (current.depth - previous.depth)) as f64 / seconds) as i64;
    format!(
        "{:>7} {:>7} | {:>7} {:>7} {:>7} {:>5} {:>5} | {:>7} {:>7} {:>12} {:>7}",
        ingress,
        egress,
        current.depth,
        current.memory_depth,
        current.backend_depth,
        current.in_flight_count,
        current.deferred_count,
        current.requeue_count,
        current.timeout_count,
        current.message_count,
        current.client_count
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_change_between_samples() {
        let previous = ChannelStats {
            message_count: 10,
            depth: 5,
            ..ChannelStats::default()
        };
        let current = ChannelStats {
            message_count: 30,
            depth: 9,
            memory_depth: 9,
            client_count: 2,
            ..ChannelStats::default()
        };
        let text = line(&previous, &current, Duration::from_secs(2));
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields[..4], ["10", "8", "|", "9"]);
        assert_eq!(fields.last(), Some(&"2"));
        assert!(header().contains("ingress"));
    }
}
