//! Go's `time.ParseDuration` syntax (`250ms`, `1h30m`, `1.5s`), which nsqd's flags and config
//! file use for every duration, plus go-options' rule that a bare integer in a config file means
//! milliseconds.

use std::time::Duration;

/// Parses a Go duration string. A bare non-negative integer is read as milliseconds (the rule
/// Go nsqd applies to integer durations in its config file); `0` is zero.
///
/// ```
/// use broker::nsqd::cli::parse_go_duration;
/// use std::time::Duration;
/// assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert_eq!(parse_go_duration("250").unwrap(), Duration::from_millis(250));
/// ```
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let text = input.trim();
    let invalid = || format!("invalid duration {input:?} (expected e.g. 250ms, 60s, 1h30m)");
    if text.is_empty() {
        return Err(invalid());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: u64 = text.parse().map_err(|_| invalid())?;
        return Ok(Duration::from_millis(millis));
    }
    parse_go_duration_strict(text).map_err(|_| invalid())
}

/// Go's `time.ParseDuration` exactly: units are required (`0` alone is zero), so `5` is an
/// error. nsqlookupd's and nsqadmin's flags use this.
///
/// ```
/// use broker::nsqd::cli::parse_go_duration_strict;
/// use std::time::Duration;
/// assert_eq!(parse_go_duration_strict("5m0s").unwrap(), Duration::from_secs(300));
/// assert!(parse_go_duration_strict("5").is_err());
/// ```
pub fn parse_go_duration_strict(input: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {input:?} (expected e.g. 250ms, 60s, 1h30m)");
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    let text = input.strip_prefix('+').unwrap_or(input);
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        total_nanos += value * unit_nanos(unit).ok_or_else(invalid)?;
        rest = tail;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

/// Formats a duration the way Go's `time.Duration.String` does (`1h0m0s`, `250ms`, `2s`),
/// used for `--help` defaults and logs.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trim_fraction(nanos as f64 / 1e3, "µs");
    }
    if nanos < 1_000_000_000 {
        return trim_fraction(nanos as f64 / 1e6, "ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_nanos();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        trim_fraction(s as f64 + f64::from(frac) / 1e9, "s")
    };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

fn trim_fraction(value: f64, unit: &str) -> String {
    let text = format!("{value:.9}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go_duration("0").unwrap(), ms(0));
        assert_eq!(parse_go_duration("0s").unwrap(), ms(0));
        assert_eq!(parse_go_duration("25ms").unwrap(), ms(25));
        assert_eq!(parse_go_duration("60s").unwrap(), ms(60_000));
        assert_eq!(parse_go_duration("15m").unwrap(), ms(900_000));
        assert_eq!(parse_go_duration("1h").unwrap(), ms(3_600_000));
        assert_eq!(parse_go_duration("1h2m3s").unwrap(), ms(3_723_000));
        assert_eq!(parse_go_duration("1.5h").unwrap(), ms(5_400_000));
        assert_eq!(
            parse_go_duration("100us").unwrap(),
            Duration::from_micros(100)
        );
        assert_eq!(parse_go_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse_go_duration("1500").unwrap(), ms(1500));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "1x", "1h-2m", "-1s", "1..2s", "abc", "1 s"] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_go_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }
}
