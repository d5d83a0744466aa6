//! Process statistics in Prometheus' standard names (`process_*`), read from `/proc/self`
//! on Linux; elsewhere the families are simply absent.

use super::Exposition;

/// Linux's fixed `USER_HZ` (clock ticks per second in `/proc`).
const TICKS_PER_SECOND: f64 = 100.0;

/// Adds `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_cpu_seconds_total`, `process_threads`, `process_open_fds` and
/// `process_start_time_seconds` when `/proc` is readable.
pub fn add_process_metrics(metrics: &mut Exposition) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
    };
    if let Some(rss) = kib("VmRSS:") {
        metrics.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            [(vec![], rss * 1024)],
        );
    }
    if let Some(size) = kib("VmSize:") {
        metrics.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            [(vec![], size * 1024)],
        );
    }
    if let Some(threads) = kib("Threads:") {
        metrics.gauge(
            "process_threads",
            "Number of OS threads.",
            [(vec![], threads)],
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            [(vec![], fds.count() as i64)],
        );
    }
    if let Some((cpu_seconds, start_time)) = stat_times() {
        metrics.counter_f64(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            [(vec![], cpu_seconds)],
        );
        metrics.gauge_f64(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            [(vec![], start_time)],
        );
    }
}

/// (CPU seconds, start time as Unix seconds) from `/proc/self/stat` and `/proc/stat`.
fn stat_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers from proc(5), minus the 2 before `rest` and 1 for zero-based.
    let ticks = |field: usize| fields.get(field - 3)?.parse::<f64>().ok();
    let cpu = (ticks(14)? + ticks(15)?) / TICKS_PER_SECOND;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    Some((cpu, boot_time + ticks(22)? / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_process() {
        let mut metrics = Exposition::new();
        add_process_metrics(&mut metrics);
        let text = metrics.finish();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(text.contains("process_resident_memory_bytes "), "{text}");
            assert!(text.contains("process_cpu_seconds_total "), "{text}");
            assert!(text.contains("process_start_time_seconds "), "{text}");
        }
    }
}
