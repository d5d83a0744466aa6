//! What `GET /stats` serves around the engine's statistics model ([`crate::nsqd::stats`]):
//! the top-level document and memory object with Go's JSON keys and order (serde serializes
//! fields in declaration order), and Go nsqd's human-readable text form (`printStats`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::nsqd::cli::format_go_duration;
use crate::nsqd::stats::{ClientStats, LatencyStats, TopicStats};

/// The whole `/stats?format=json` document.
#[derive(Debug, Clone, Serialize)]
pub struct StatsDocument {
    pub version: String,
    pub health: String,
    pub start_time: i64,
    /// `None` (JSON null) when a topic filter matched no topic.
    pub topics: Option<Vec<TopicStats>>,
    /// Omitted entirely when `include_mem=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemStats>,
    /// `None` (JSON null) when there are no producers or clients are excluded.
    pub producers: Option<Vec<ClientStats>>,
}

/// Go's runtime memory statistics; we report process-level equivalents where we have them
/// (`heap_in_use_bytes` = resident set size) and zeros elsewhere, keeping every key.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemStats {
    pub heap_objects: u64,
    pub heap_idle_bytes: u64,
    pub heap_in_use_bytes: u64,
    pub heap_released_bytes: u64,
    pub gc_pause_usec_100: u64,
    pub gc_pause_usec_99: u64,
    pub gc_pause_usec_95: u64,
    pub next_gc_bytes: u64,
    pub gc_total_runs: u64,
}

impl MemStats {
    /// The current process's memory use (resident set size from `/proc/self/status` on
    /// Linux; zero where unavailable).
    pub fn current() -> MemStats {
        let rss_kb = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        MemStats {
            heap_in_use_bytes: rss_kb * 1024,
            ..MemStats::default()
        }
    }
}

/// Renders the default (text) `/stats` format, following Go nsqd's `printStats`.
pub fn render_text(doc: &StatsDocument, start: SystemTime, now: SystemTime) -> String {
    let mut w = String::new();
    let uptime = now.duration_since(start).unwrap_or_default();
    let _ = writeln!(w, "nsqd v{} (built w/rust)", doc.version);
    let _ = writeln!(w, "start_time {}", rfc3339(doc.start_time));
    let _ = writeln!(w, "uptime {}", format_go_duration(uptime));
    let _ = writeln!(w, "\nHealth: {}", doc.health);
    if let Some(m) = &doc.memory {
        let _ = writeln!(w, "\nMemory:");
        for (name, value) in [
            ("heap_objects", m.heap_objects),
            ("heap_idle_bytes", m.heap_idle_bytes),
            ("heap_in_use_bytes", m.heap_in_use_bytes),
            ("heap_released_bytes", m.heap_released_bytes),
            ("gc_pause_usec_100", m.gc_pause_usec_100),
            ("gc_pause_usec_99", m.gc_pause_usec_99),
            ("gc_pause_usec_95", m.gc_pause_usec_95),
            ("next_gc_bytes", m.next_gc_bytes),
            ("gc_total_runs", m.gc_total_runs),
        ] {
            let _ = writeln!(w, "   {name:<25}\t{value}");
        }
    }
    let topics = doc.topics.as_deref().unwrap_or_default();
    w.push_str(if topics.is_empty() {
        "\nTopics: None\n"
    } else {
        "\nTopics:\n"
    });
    for t in topics {
        let prefix = if t.paused { "*P " } else { "   " };
        let _ = writeln!(
            w,
            "\n{prefix}[{:<15}] depth: {:<5} be-depth: {:<5} msgs: {:<8} e2e%: {}",
            t.topic_name,
            t.depth,
            t.backend_depth,
            t.message_count,
            latency_text(&t.e2e_processing_latency)
        );
        for c in &t.channels {
            let prefix = if c.paused { "   *P " } else { "      " };
            let _ = writeln!(
                w,
                "{prefix}[{:<25}] depth: {:<5} be-depth: {:<5} inflt: {:<4} def: {:<4} re-q: {:<5} timeout: {:<5} msgs: {:<8} e2e%: {}",
                c.channel_name,
                c.depth,
                c.backend_depth,
                c.in_flight_count,
                c.deferred_count,
                c.requeue_count,
                c.timeout_count,
                c.message_count,
                latency_text(&c.e2e_processing_latency)
            );
            for client in c.clients.as_deref().unwrap_or_default() {
                let _ = writeln!(w, "        {}", client_text(client, now));
            }
        }
    }
    let producers = doc.producers.as_deref().unwrap_or_default();
    if producers.is_empty() {
        w.push_str("\nProducers: None\n");
    } else {
        w.push_str("\nProducers:\n");
        for p in producers {
            let _ = writeln!(w, "   {}", client_text(p, now));
        }
    }
    w
}

/// Go's `ClientStats.String()`: a producer line when it has publish counts, else a consumer
/// line.
fn client_text(c: &ClientStats, now: SystemTime) -> String {
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let connected = Duration::from_secs(now_secs.saturating_sub(c.connect_ts).max(0) as u64);
    let port = c.remote_address.rsplit(':').next().unwrap_or_default();
    let id = format!("{}:{} {}", c.client_id, port, c.user_agent);
    let connected = format_go_duration(connected);
    if !c.pub_counts.is_empty() {
        let total: u64 = c.pub_counts.iter().map(|p| p.count).sum();
        let topics: Vec<String> = c
            .pub_counts
            .iter()
            .map(|p| format!("{}={}", p.topic, p.count))
            .collect();
        return format!(
            "[{} {id:<21}] msgs: {total:<8} topics: {} connected: {connected}",
            c.version,
            topics.join(",")
        );
    }
    format!(
        "[{} {id:<21}] state: {} inflt: {:<4} rdy: {:<4} fin: {:<8} re-q: {:<8} msgs: {:<8} connected: {connected}",
        c.version,
        c.state,
        c.in_flight_count,
        c.ready_count,
        c.finish_count,
        c.requeue_count,
        c.message_count
    )
}

/// Go's `quantile.Result.String()`: the percentile values, human readable, comma separated.
fn latency_text(l: &LatencyStats) -> String {
    l.percentiles
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| nanos_to_human(p.value))
        .collect::<Vec<_>>()
        .join(", ")
}

fn nanos_to_human(v: f64) -> String {
    let (value, suffix) = if v > 1e9 {
        (v / 1e9, "s")
    } else if v > 1e6 {
        (v / 1e6, "ms")
    } else if v > 1e3 {
        (v / 1e3, "us")
    } else {
        (v, "ns")
    };
    format!("{value:.2}{suffix}")
}

/// Unix seconds as an RFC 3339 UTC timestamp (`2025-01-01T00:00:00Z`).
fn rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::nsqd::stats::ChannelStats;

    fn channel(name: &str, clients: Option<Vec<ClientStats>>) -> ChannelStats {
        ChannelStats {
            channel_name: name.into(),
            depth: 1,
            backend_depth: 0,
            in_flight_count: 2,
            deferred_count: 0,
            message_count: 3,
            requeue_count: 0,
            timeout_count: 0,
            client_count: clients.as_ref().map_or(0, |c| c.len() as i64),
            clients,
            paused: false,
            e2e_processing_latency: LatencyStats::default(),
        }
    }

    fn doc() -> StatsDocument {
        let client = ClientStats {
            client_id: "h".into(),
            hostname: String::new(),
            version: "V2".into(),
            remote_address: "127.0.0.1:5000".into(),
            state: 3,
            ready_count: 0,
            in_flight_count: 0,
            message_count: 0,
            finish_count: 0,
            requeue_count: 0,
            connect_ts: 0,
            sample_rate: 0,
            deflate: false,
            snappy: false,
            user_agent: String::new(),
            authed: false,
            auth_identity: String::new(),
            auth_identity_url: String::new(),
            topology_zone: String::new(),
            topology_region: String::new(),
            pub_counts: Vec::new(),
            tls: false,
            tls_cipher_suite: String::new(),
            tls_version: String::new(),
            tls_negotiated_protocol: String::new(),
            tls_negotiated_protocol_is_mutual: false,
        };
        StatsDocument {
            version: "1.3.0".into(),
            health: "OK".into(),
            start_time: 0,
            topics: Some(vec![TopicStats {
                topic_name: "t".into(),
                channels: vec![channel("c", Some(vec![client]))],
                depth: 0,
                backend_depth: 0,
                message_count: 3,
                message_bytes: 9,
                paused: true,
                e2e_processing_latency: LatencyStats::default(),
            }]),
            memory: None,
            producers: None,
        }
    }

    #[test]
    fn json_keys_in_go_order() {
        let json = serde_json::to_string(&doc()).unwrap();
        assert!(json.starts_with(r#"{"version":"1.3.0","health":"OK","start_time":0,"topics":[{"topic_name":"t","channels":[{"channel_name":"c","depth":1,"backend_depth":0,"in_flight_count":2,"deferred_count":0,"message_count":3,"requeue_count":0,"timeout_count":0,"client_count":1,"clients":[{"client_id":"h","hostname":"","version":"V2","remote_address":"127.0.0.1:5000","state":3,"ready_count":0,"in_flight_count":0,"message_count":0,"finish_count":0"#), "{json}");
        assert!(json.contains(r#""e2e_processing_latency":{"count":0,"percentiles":null}"#));
        assert!(
            json.ends_with(r#""producers":null}"#),
            "memory omitted: {json}"
        );
        assert!(!json.contains("authed") && !json.contains("pub_counts"));
    }

    #[test]
    fn text_format_like_go() {
        let text = render_text(&doc(), UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(61));
        assert!(text.starts_with("nsqd v1.3.0"), "{text}");
        assert!(
            text.contains("start_time 1970-01-01T00:00:00Z\nuptime 1m1s\n"),
            "{text}"
        );
        assert!(text.contains("\nHealth: OK\n"));
        assert!(
            text.contains(
                "*P [t              ] depth: 0     be-depth: 0     msgs: 3        e2e%: \n"
            ),
            "{text}"
        );
        assert!(text.contains("      [c                        ] depth: 1     be-depth: 0     inflt: 2    def: 0    re-q: 0     timeout: 0     msgs: 3        e2e%: \n"), "{text}");
        assert!(text.contains("        [V2 h:5000               ] state: 3 inflt: 0    rdy: 0    fin: 0        re-q: 0        msgs: 0        connected: 1m1s\n"), "{text}");
        assert!(text.ends_with("\nProducers: None\n"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn latency_human() {
        assert_eq!(nanos_to_human(1500.0), "1.50us");
        assert_eq!(nanos_to_human(2.5e9), "2.50s");
        assert_eq!(nanos_to_human(10.0), "10.00ns");
    }
}
