//! `--statsd-address`: every `--statsd-interval`, push topic/channel counters and gauges
//! (and memory gauges) to a statsd daemon over UDP, as Go nsqd's `statsdLoop` does
//! (spec/semantics.md §10): lines `<prefix><name>:<value>|c` or `|g`, packed into datagrams of
//! at most `--statsd-udp-packet-size` bytes and spread over the interval.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::http::stats::MemStats;
use super::stats::{LatencyStats, StatsFilter, TopicStats};
use super::NsqdContext;

/// Starts the push loop when `--statsd-address` is set; it ends at nsqd shutdown.
pub(crate) fn spawn(ctx: &NsqdContext) {
    let Some(address) = ctx
        .options()
        .statsd_address
        .clone()
        .filter(|a| !a.is_empty())
    else {
        return;
    };
    tokio::spawn(run(ctx.clone(), address));
}

async fn run(ctx: NsqdContext, address: String) {
    let interval = ctx.options().statsd_interval.max(Duration::from_millis(10));
    let prefix = prefix(
        &ctx.options().statsd_prefix,
        &ctx.options().broadcast_address,
        broadcast_http_port(&ctx),
    );
    let mut last = Counters::default();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let stop = ctx.shutdown_token().clone();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        let topics = ctx.stats(&StatsFilter::default());
        let options = ctx.options();
        let mem = options.statsd_mem_stats.then(MemStats::current);
        let lines = stat_lines(
            &topics,
            mem.as_ref(),
            options.statsd_exclude_ephemeral,
            &mut last,
        );
        let packet_size = usize::try_from(options.statsd_udp_packet_size)
            .unwrap_or(508)
            .max(1);
        let datagrams = pack(&prefix, &lines, packet_size);
        // Spread the datagrams over the interval (less a second, as Go does) so a large
        // cluster does not burst every packet at once.
        let spread = interval.saturating_sub(Duration::from_secs(1));
        if let Err(err) = send(&address, &datagrams, spread, &stop).await {
            tracing::warn!(%err, address, "statsd push failed");
        }
    }
}

fn broadcast_http_port(ctx: &NsqdContext) -> u16 {
    match ctx.options().broadcast_http_port {
        0 => ctx.http_addr().port(),
        port => port,
    }
}

async fn send(
    address: &str,
    datagrams: &[Vec<u8>],
    spread: Duration,
    stop: &tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).await?;
    socket.connect(address).await?;
    let pause = spread / (datagrams.len().max(1) as u32);
    for (index, datagram) in datagrams.iter().enumerate() {
        if index > 0 && !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => return Ok(()),
            }
        }
        socket.send(datagram).await?;
    }
    Ok(())
}

/// `nsq.%s` → `nsq.<host>_<port>.` (dots and colons of the address become `_`).
pub(crate) fn prefix(template: &str, broadcast_address: &str, http_port: u16) -> String {
    let host_key = format!("{broadcast_address}:{http_port}").replace(['.', ':'], "_");
    let mut prefix = template.replace("%s", &host_key);
    if !prefix.is_empty() && !prefix.ends_with('.') {
        prefix.push('.');
    }
    prefix
}

/// One statsd line without the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stat {
    /// `name:value|c`.
    Count(String, i64),
    /// `name:value|g`.
    Gauge(String, i64),
}

/// Cumulative counts from the previous push, for the `|c` deltas.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    values: HashMap<String, u64>,
}

impl Counters {
    fn delta(&mut self, next: &mut HashMap<String, u64>, name: String, value: u64) -> Stat {
        let previous = self.values.get(&name).copied().unwrap_or(0);
        next.insert(name.clone(), value);
        // A deleted and re-created topic starts over; never push a negative count.
        Stat::Count(name, value.saturating_sub(previous) as i64)
    }
}

/// The stats of one push; `last` is updated to this push's cumulative counts.
pub(crate) fn stat_lines(
    topics: &[TopicStats],
    mem: Option<&MemStats>,
    exclude_ephemeral: bool,
    last: &mut Counters,
) -> Vec<Stat> {
    let mut lines = Vec::new();
    let mut next = HashMap::new();
    for topic in topics {
        if exclude_ephemeral && topic.topic_name.ends_with("#ephemeral") {
            continue;
        }
        let t = format!("topic.{}", topic.topic_name);
        lines.push(last.delta(&mut next, format!("{t}.message_count"), topic.message_count));
        lines.push(last.delta(&mut next, format!("{t}.message_bytes"), topic.message_bytes));
        lines.push(Stat::Gauge(format!("{t}.depth"), topic.depth));
        lines.push(Stat::Gauge(
            format!("{t}.backend_depth"),
            topic.backend_depth,
        ));
        push_latency(&mut lines, &t, &topic.e2e_processing_latency);
        for channel in &topic.channels {
            if exclude_ephemeral && channel.channel_name.ends_with("#ephemeral") {
                continue;
            }
            let c = format!("{t}.channel.{}", channel.channel_name);
            lines.push(last.delta(
                &mut next,
                format!("{c}.message_count"),
                channel.message_count,
            ));
            lines.push(Stat::Gauge(format!("{c}.depth"), channel.depth));
            lines.push(Stat::Gauge(
                format!("{c}.backend_depth"),
                channel.backend_depth,
            ));
            lines.push(Stat::Gauge(
                format!("{c}.in_flight_count"),
                channel.in_flight_count,
            ));
            lines.push(Stat::Gauge(
                format!("{c}.deferred_count"),
                channel.deferred_count,
            ));
            lines.push(last.delta(
                &mut next,
                format!("{c}.requeue_count"),
                channel.requeue_count,
            ));
            lines.push(last.delta(
                &mut next,
                format!("{c}.timeout_count"),
                channel.timeout_count,
            ));
            lines.push(Stat::Gauge(format!("{c}.clients"), channel.client_count));
            push_latency(&mut lines, &c, &channel.e2e_processing_latency);
        }
    }
    if let Some(mem) = mem {
        for (name, value) in [
            ("heap_objects", mem.heap_objects),
            ("heap_idle_bytes", mem.heap_idle_bytes),
            ("heap_in_use_bytes", mem.heap_in_use_bytes),
            ("heap_released_bytes", mem.heap_released_bytes),
            ("gc_pause_usec_100", mem.gc_pause_usec_100),
            ("gc_pause_usec_99", mem.gc_pause_usec_99),
            ("gc_pause_usec_95", mem.gc_pause_usec_95),
            ("next_gc_bytes", mem.next_gc_bytes),
        ] {
            lines.push(Stat::Gauge(format!("mem.{name}"), value as i64));
        }
        lines.push(last.delta(&mut next, "mem.gc_runs".into(), mem.gc_total_runs));
    }
    last.values = next;
    lines
}

fn push_latency(lines: &mut Vec<Stat>, base: &str, latency: &LatencyStats) {
    for p in latency.percentiles.iter().flatten() {
        let name = format!("{base}.e2e_processing_latency_{:.0}", p.quantile * 100.0);
        lines.push(Stat::Gauge(name, p.value as i64));
    }
}

/// Packs prefixed lines into datagrams of at most `packet_size` bytes (a single longer
/// line gets a datagram of its own), like Go's boundary-buffered writer.
pub(crate) fn pack(prefix: &str, lines: &[Stat], packet_size: usize) -> Vec<Vec<u8>> {
    let mut datagrams = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for stat in lines {
        let line = match stat {
            Stat::Count(name, value) => format!("{prefix}{name}:{value}|c\n"),
            Stat::Gauge(name, value) => format!("{prefix}{name}:{value}|g\n"),
        };
        if !current.is_empty() && current.len() + line.len() > packet_size {
            datagrams.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(line.as_bytes());
    }
    if !current.is_empty() {
        datagrams.push(current);
    }
    datagrams
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nsqd::stats::ChannelStats;

    fn topic(name: &str, messages: u64) -> TopicStats {
        TopicStats {
            topic_name: name.into(),
            channels: vec![ChannelStats {
                channel_name: "c".into(),
                depth: 3,
                backend_depth: 0,
                in_flight_count: 1,
                deferred_count: 0,
                message_count: messages,
                requeue_count: 2,
                timeout_count: 0,
                client_count: 1,
                clients: None,
                paused: false,
                e2e_processing_latency: LatencyStats::default(),
            }],
            depth: 5,
            backend_depth: 1,
            message_count: messages,
            message_bytes: messages * 10,
            paused: false,
            e2e_processing_latency: LatencyStats::default(),
        }
    }

    #[test]
    fn prefix_uses_the_host_key() {
        assert_eq!(prefix("nsq.%s", "my.host", 4151), "nsq.my_host_4151.");
        assert_eq!(prefix("nsq.", "h", 1), "nsq.");
        assert_eq!(prefix("", "h", 1), "");
    }

    #[test]
    fn counters_are_deltas_gauges_are_values() {
        let mut last = Counters::default();
        let first = stat_lines(&[topic("t", 10)], None, false, &mut last);
        assert!(first.contains(&Stat::Count("topic.t.message_count".into(), 10)));
        assert!(first.contains(&Stat::Gauge("topic.t.depth".into(), 5)));
        assert!(first.contains(&Stat::Gauge("topic.t.channel.c.clients".into(), 1)));
        let second = stat_lines(&[topic("t", 14)], None, false, &mut last);
        assert!(second.contains(&Stat::Count("topic.t.message_count".into(), 4)));
        assert!(second.contains(&Stat::Count("topic.t.channel.c.requeue_count".into(), 0)));
        assert!(second.contains(&Stat::Count("topic.t.message_bytes".into(), 40)));
    }

    #[test]
    fn ephemeral_can_be_excluded_and_mem_stats_added() {
        let mut last = Counters::default();
        let lines = stat_lines(
            &[topic("e#ephemeral", 1)],
            Some(&MemStats::default()),
            true,
            &mut last,
        );
        assert!(lines
            .iter()
            .all(|s| !format!("{s:?}").contains("ephemeral")));
        assert!(lines.contains(&Stat::Gauge("mem.heap_objects".into(), 0)));
        assert!(lines.contains(&Stat::Count("mem.gc_runs".into(), 0)));
    }

    #[test]
    fn datagrams_respect_the_packet_size() {
        let lines: Vec<Stat> = (0..20)
            .map(|i| Stat::Gauge(format!("topic.t{i}.depth"), i))
            .collect();
        let datagrams = pack("nsq.h_1.", &lines, 100);
        assert!(datagrams.len() > 1);
        assert!(datagrams.iter().all(|d| d.len() <= 100));
        let joined: String = datagrams
            .iter()
            .map(|d| String::from_utf8(d.clone()).unwrap())
            .collect();
        assert_eq!(joined.lines().count(), 20);
        assert!(joined.starts_with("nsq.h_1.topic.t0.depth:0|g\n"));
    }
}
