//! Client configuration: go-nsq's options, names and defaults, as a typed struct that can
//! also be filled from `key=value` strings (so go-nsq option lists carry over unchanged).
//!
//! Options that go-nsq does not have (ours) are listed at the end of [`Config`] and use the
//! same `key=value` mechanism.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::backoff::BackoffStrategy;
use crate::duration::parse_go_duration;

/// A bad option name or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The option name is not known.
    #[error("invalid option {0}")]
    UnknownOption(String),
    /// The value could not be parsed for this option.
    #[error("invalid value {value:?} for option {option}: {reason}")]
    BadValue {
        /// Option name.
        option: String,
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A `key=value` string without `=`.
    #[error("option {0:?} is not of the form key=value")]
    NotKeyValue(String),
    /// The options are individually valid but do not fit together.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

/// Client configuration, shared by [`crate::Producer`] and [`crate::Consumer`].
///
/// Field names are go-nsq's option names; [`Config::default`] gives go-nsq's defaults.
///
/// ```
/// use transport_nsq::Config;
/// let mut config = Config::default();
/// config.set("max_in_flight", "10").unwrap();
/// config.set("lookupd_poll_interval", "15s").unwrap();
/// assert_eq!(config.max_in_flight, 10);
/// assert!(config.set("max_in_flight", "-1").is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// TCP connect deadline (`dial_timeout`, 1s).
    pub dial_timeout: Duration,
    /// Deadline for reading a frame; must exceed `heartbeat_interval` (`read_timeout`, 60s).
    pub read_timeout: Duration,
    /// Deadline for writing a command (`write_timeout`, 1s).
    pub write_timeout: Duration,
    /// Local address to bind outgoing connections to (`local_addr`, none).
    pub local_addr: Option<SocketAddr>,
    /// How often to query lookupd (`lookupd_poll_interval`, 60s).
    pub lookupd_poll_interval: Duration,
    /// Fraction of the poll interval used as the initial random delay (`lookupd_poll_jitter`, 0.3).
    pub lookupd_poll_jitter: f64,
    /// HTTP timeout of one lookupd query (`lookupd_poll_timeout`, 1m).
    pub lookupd_poll_timeout: Duration,
    /// Cap of the computed requeue delay (`max_requeue_delay`, 15m).
    pub max_requeue_delay: Duration,
    /// Requeue delay per attempt when the handler does not choose one (`default_requeue_delay`, 90s).
    pub default_requeue_delay: Duration,
    /// How backoff durations are computed (`backoff_strategy`, exponential).
    pub backoff_strategy: BackoffStrategy,
    /// Longest backoff; 0 disables backoff (`max_backoff_duration`, 2m).
    pub max_backoff_duration: Duration,
    /// Unit of the backoff duration (`backoff_multiplier`, 1s).
    pub backoff_multiplier: Duration,
    /// Messages with more attempts than this are not handled but passed to the exhausted
    /// hook and finished; 0 = unlimited (`max_attempts`, 5).
    pub max_attempts: u16,
    /// A connection idle this long may lose its RDY to redistribution (`low_rdy_idle_timeout`, 10s).
    pub low_rdy_idle_timeout: Duration,
    /// A connection holding RDY this long may lose it to redistribution (`low_rdy_timeout`, 30s).
    pub low_rdy_timeout: Duration,
    /// How often RDY is redistributed when max_in_flight < connections (`rdy_redistribute_interval`, 5s).
    pub rdy_redistribute_interval: Duration,
    /// IDENTIFY `client_id` (`client_id`, short hostname).
    pub client_id: String,
    /// IDENTIFY `hostname` (`hostname`, the hostname).
    pub hostname: String,
    /// IDENTIFY `user_agent` (`user_agent`, `transport-nsq/<version>`).
    pub user_agent: String,
    /// Heartbeat interval requested from nsqd (`heartbeat_interval`, 30s).
    pub heartbeat_interval: Duration,
    /// Percentage of messages to receive, 0 = all (`sample_rate`, 0).
    pub sample_rate: i32,
    /// Negotiate TLS (`tls_v1`, false).
    pub tls_v1: bool,
    /// PEM file of CA certificates to trust instead of the webpki roots (`tls_root_ca_file`).
    pub tls_root_ca_file: Option<PathBuf>,
    /// Accept any server certificate; for tests only (`tls_insecure_skip_verify`, false).
    pub tls_insecure_skip_verify: bool,
    /// PEM client certificate for mutual TLS (`tls_cert`, with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (`tls_key`).
    pub tls_key: Option<PathBuf>,
    /// Minimum TLS version, `tls1.0`..`tls1.3` (`tls_min_version`, tls1.0); rustls speaks
    /// 1.2 and 1.3 only, so anything below `tls1.3` means 1.2.
    pub tls_min_version: String,
    /// Negotiate raw DEFLATE compression (`deflate`, false).
    pub deflate: bool,
    /// Deflate level 1..9 (`deflate_level`, 6).
    pub deflate_level: u8,
    /// Negotiate Snappy compression (`snappy`, false).
    pub snappy: bool,
    /// nsqd output buffer size in bytes, -1 = unbuffered (`output_buffer_size`, 16384).
    pub output_buffer_size: i64,
    /// nsqd output buffer flush timeout (`output_buffer_timeout`, 250ms).
    pub output_buffer_timeout: Duration,
    /// Messages in flight across all connections of a consumer (`max_in_flight`, 1).
    pub max_in_flight: usize,
    /// Per-message timeout requested from nsqd, 0 = server default (`msg_timeout`, 0).
    pub msg_timeout: Duration,
    /// Secret for AUTH, sent only when nsqd requires it (`auth_secret`, empty).
    pub auth_secret: String,
    /// Largest frame accepted from nsqd, 0 = no limit (`max_msg_size`, 0).
    pub max_msg_size: u32,

    // ---- ours (not in go-nsq) ----
    /// Deadline of one publish including retries on other nsqd (`publish_timeout`, 10s).
    pub publish_timeout: Duration,
    /// First delay before reconnecting to a directly configured nsqd (`reconnect_min_delay`, 500ms).
    pub reconnect_min_delay: Duration,
    /// Longest delay between reconnect attempts (`reconnect_max_delay`, 60s).
    pub reconnect_max_delay: Duration,
    /// TOUCH in-flight messages while their handler runs (`auto_touch`, false).
    pub auto_touch: bool,
    /// How long a closing consumer waits for CLOSE_WAIT and in-flight answers (`close_timeout`, 30s).
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let client_id = hostname.split('.').next().unwrap_or_default().to_string();
        Self {
            dial_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(1),
            local_addr: None,
            lookupd_poll_interval: Duration::from_secs(60),
            lookupd_poll_jitter: 0.3,
            lookupd_poll_timeout: Duration::from_secs(60),
            max_requeue_delay: Duration::from_secs(15 * 60),
            default_requeue_delay: Duration::from_secs(90),
            backoff_strategy: BackoffStrategy::Exponential,
            max_backoff_duration: Duration::from_secs(120),
            backoff_multiplier: Duration::from_secs(1),
            max_attempts: 5,
            low_rdy_idle_timeout: Duration::from_secs(10),
            low_rdy_timeout: Duration::from_secs(30),
            rdy_redistribute_interval: Duration::from_secs(5),
            client_id,
            hostname,
            user_agent: format!("transport-nsq/{}", env!("CARGO_PKG_VERSION")),
            heartbeat_interval: Duration::from_secs(30),
            sample_rate: 0,
            tls_v1: false,
            tls_root_ca_file: None,
            tls_insecure_skip_verify: false,
            tls_cert: None,
            tls_key: None,
            tls_min_version: "tls1.0".into(),
            deflate: false,
            deflate_level: 6,
            snappy: false,
            output_buffer_size: 16384,
            output_buffer_timeout: Duration::from_millis(250),
            max_in_flight: 1,
            msg_timeout: Duration::ZERO,
            auth_secret: String::new(),
            max_msg_size: 0,
            publish_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(60),
            auto_touch: false,
            close_timeout: Duration::from_secs(30),
        }
    }
}

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

impl Config {
    /// Sets one option by its go-nsq name (`-` and `_` are interchangeable). Durations take Go
    /// syntax (`1s`, `250ms`, `1m30s`) or a bare integer of milliseconds, as go-nsq does.
    pub fn set(&mut self, option: &str, value: &str) -> Result<(), ConfigError> {
        let name = option.trim().replace('-', "_");
        let v = value.trim();
        let bad = |reason: &str| ConfigError::BadValue {
            option: name.clone(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let dur = |min: Duration, max: Duration| -> Result<Duration, ConfigError> {
            let d = parse_duration_value(v).map_err(|e| bad(&e))?;
            if d < min || d > max {
                return Err(bad(&format!("must be between {min:?} and {max:?}")));
            }
            Ok(d)
        };
        let any = Duration::MAX;
        match name.as_str() {
            "dial_timeout" => self.dial_timeout = dur(Duration::ZERO, any)?,
            "read_timeout" => self.read_timeout = dur(100 * MS, 5 * MIN)?,
            "write_timeout" => self.write_timeout = dur(100 * MS, 5 * MIN)?,
            "local_addr" => {
                self.local_addr = if v.is_empty() {
                    None
                } else {
                    Some(v.parse().map_err(|_| bad("not a socket address"))?)
                }
            }
            "lookupd_poll_interval" => self.lookupd_poll_interval = dur(10 * MS, 5 * MIN)?,
            "lookupd_poll_jitter" => {
                let f: f64 = v.parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(bad("must be between 0 and 1"));
                }
                self.lookupd_poll_jitter = f;
            }
            "lookupd_poll_timeout" => self.lookupd_poll_timeout = dur(Duration::ZERO, any)?,
            "max_requeue_delay" => self.max_requeue_delay = dur(Duration::ZERO, 60 * MIN)?,
            "default_requeue_delay" => self.default_requeue_delay = dur(Duration::ZERO, 60 * MIN)?,
            "backoff_strategy" => self.backoff_strategy = v.parse().map_err(|e: String| bad(&e))?,
            "max_backoff_duration" => self.max_backoff_duration = dur(Duration::ZERO, 60 * MIN)?,
            "backoff_multiplier" => self.backoff_multiplier = dur(Duration::ZERO, 60 * MIN)?,
            "max_attempts" => self.max_attempts = parse_int(v, 0, 65535).map_err(|e| bad(&e))?,
            "low_rdy_idle_timeout" => self.low_rdy_idle_timeout = dur(SEC, 5 * MIN)?,
            "low_rdy_timeout" => self.low_rdy_timeout = dur(SEC, 5 * MIN)?,
            "rdy_redistribute_interval" => self.rdy_redistribute_interval = dur(MS, 5 * SEC)?,
            "client_id" => self.client_id = v.to_string(),
            "hostname" => self.hostname = v.to_string(),
            "user_agent" => self.user_agent = v.to_string(),
            "heartbeat_interval" => self.heartbeat_interval = dur(Duration::ZERO, any)?,
            "sample_rate" => self.sample_rate = parse_int(v, 0, 99).map_err(|e| bad(&e))?,
            "tls_v1" => self.tls_v1 = parse_bool(v).map_err(|e| bad(&e))?,
            "deflate" => self.deflate = parse_bool(v).map_err(|e| bad(&e))?,
            "tls_root_ca_file" => self.tls_root_ca_file = optional_path(v),
            "tls_insecure_skip_verify" => {
                self.tls_insecure_skip_verify = parse_bool(v).map_err(|e| bad(&e))?
            }
            "tls_cert" => self.tls_cert = optional_path(v),
            "tls_key" => self.tls_key = optional_path(v),
            "tls_min_version" => match v {
                "ssl3.0" | "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3" => {
                    self.tls_min_version = v.to_string()
                }
                _ => return Err(bad("must be one of ssl3.0, tls1.0, tls1.1, tls1.2, tls1.3")),
            },
            "deflate_level" => self.deflate_level = parse_int(v, 1, 9).map_err(|e| bad(&e))?,
            "snappy" => self.snappy = parse_bool(v).map_err(|e| bad(&e))?,
            "output_buffer_size" => {
                self.output_buffer_size = parse_int(v, -1, i64::MAX).map_err(|e| bad(&e))?
            }
            "output_buffer_timeout" => self.output_buffer_timeout = dur(Duration::ZERO, any)?,
            "max_in_flight" => {
                self.max_in_flight = parse_int(v, 0, usize::MAX).map_err(|e| bad(&e))?
            }
            "msg_timeout" => self.msg_timeout = dur(Duration::ZERO, any)?,
            "auth_secret" => self.auth_secret = v.to_string(),
            "max_msg_size" => self.max_msg_size = parse_int(v, 0, u32::MAX).map_err(|e| bad(&e))?,
            "publish_timeout" => self.publish_timeout = dur(MS, any)?,
            "reconnect_min_delay" => self.reconnect_min_delay = dur(Duration::ZERO, 60 * MIN)?,
            "reconnect_max_delay" => self.reconnect_max_delay = dur(Duration::ZERO, 60 * MIN)?,
            "auto_touch" => self.auto_touch = parse_bool(v).map_err(|e| bad(&e))?,
            "close_timeout" => self.close_timeout = dur(Duration::ZERO, any)?,
            _ => return Err(ConfigError::UnknownOption(option.to_string())),
        }
        Ok(())
    }

    /// Applies a list of `key=value` strings (e.g. the values of `--consumer-opt`).
    pub fn apply_options<I, S>(&mut self, options: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for opt in options {
            let opt = opt.as_ref();
            let (key, value) = opt
                .split_once('=')
                .ok_or_else(|| ConfigError::NotKeyValue(opt.to_string()))?;
            self.set(key, value)?;
        }
        Ok(())
    }

    /// Builds a validated configuration from go-nsq defaults plus `key=value` strings.
    pub fn from_options<I, S>(options: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut config = Self::default();
        config.apply_options(options)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the rules that involve several options (go-nsq's `Validate`), plus the
    /// features this client cannot negotiate yet.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval >= self.read_timeout {
            return Err(ConfigError::Inconsistent(format!(
                "heartbeat_interval ({:?}) must be less than read_timeout ({:?})",
                self.heartbeat_interval, self.read_timeout
            )));
        }
        if self.snappy && self.deflate {
            return Err(ConfigError::Inconsistent(
                "cannot enable both snappy and deflate".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Inconsistent(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if self.reconnect_min_delay > self.reconnect_max_delay {
            return Err(ConfigError::Inconsistent(
                "reconnect_min_delay must not exceed reconnect_max_delay".into(),
            ));
        }
        Ok(())
    }
}

fn optional_path(v: &str) -> Option<PathBuf> {
    (!v.is_empty()).then(|| PathBuf::from(v))
}

fn parse_duration_value(v: &str) -> Result<Duration, String> {
    if let Ok(ms) = v.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    parse_go_duration(v)
}

fn parse_int<T>(v: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let n: T = v
        .parse()
        .map_err(|_| "not an integer in range".to_string())?;
    if n < min || n > max {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(n)
}

fn parse_bool(v: &str) -> Result<bool, String> {
    // Go's strconv.ParseBool set.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("not a boolean".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_go_nsq_defaults() {
        let c = Config::default();
        assert_eq!(c.dial_timeout, SEC);
        assert_eq!(c.read_timeout, 60 * SEC);
        assert_eq!(c.write_timeout, SEC);
        assert_eq!(c.lookupd_poll_interval, 60 * SEC);
        assert_eq!(c.lookupd_poll_jitter, 0.3);
        assert_eq!(c.max_requeue_delay, 15 * MIN);
        assert_eq!(c.default_requeue_delay, 90 * SEC);
        assert_eq!(c.backoff_strategy, BackoffStrategy::Exponential);
        assert_eq!(c.max_backoff_duration, 2 * MIN);
        assert_eq!(c.backoff_multiplier, SEC);
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.low_rdy_idle_timeout, 10 * SEC);
        assert_eq!(c.low_rdy_timeout, 30 * SEC);
        assert_eq!(c.rdy_redistribute_interval, 5 * SEC);
        assert_eq!(c.heartbeat_interval, 30 * SEC);
        assert_eq!(c.deflate_level, 6);
        assert_eq!(c.output_buffer_size, 16384);
        assert_eq!(c.output_buffer_timeout, 250 * MS);
        assert_eq!(c.max_in_flight, 1);
        assert_eq!(c.max_msg_size, 0);
        assert!(!c.client_id.contains('.'));
        assert!(c.user_agent.starts_with("transport-nsq/"));
        c.validate().unwrap();
    }

    #[test]
    fn set_accepts_go_syntax() {
        let mut c = Config::default();
        c.set("max-in-flight", "200").unwrap();
        c.set("lookupd_poll_interval", "1m30s").unwrap();
        c.set("read_timeout", "1500").unwrap();
        c.set("backoff_strategy", "full_jitter").unwrap();
        c.set("tls_v1", "false").unwrap();
        c.set("lookupd_poll_jitter", "0.5").unwrap();
        assert_eq!(c.max_in_flight, 200);
        assert_eq!(c.lookupd_poll_interval, 90 * SEC);
        assert_eq!(c.read_timeout, 1500 * MS);
        assert_eq!(c.backoff_strategy, BackoffStrategy::FullJitter);
        assert_eq!(c.lookupd_poll_jitter, 0.5);
    }

    #[test]
    fn bad_values_are_errors() {
        let mut c = Config::default();
        for (k, v) in [
            ("max_in_flight", "-1"),
            ("max_in_flight", "ten"),
            ("read_timeout", "10ms"),
            ("read_timeout", "6m"),
            ("lookupd_poll_jitter", "1.5"),
            ("sample_rate", "100"),
            ("deflate_level", "0"),
            ("max_attempts", "65536"),
            ("backoff_strategy", "linear"),
            ("tls_v1", "yes"),
            ("rdy_redistribute_interval", "6s"),
            ("dial_timeout", "1x"),
        ] {
            assert!(
                matches!(c.set(k, v), Err(ConfigError::BadValue { .. })),
                "{k}={v}"
            );
        }
        assert!(matches!(
            c.set("no_such_option", "1"),
            Err(ConfigError::UnknownOption(_))
        ));
        assert_eq!(c, Config::default(), "failed sets change nothing");
    }

    #[test]
    fn from_options_parses_and_validates() {
        let c = Config::from_options(["max_in_flight=3", "max_attempts=0"]).unwrap();
        assert_eq!((c.max_in_flight, c.max_attempts), (3, 0));
        assert!(matches!(
            Config::from_options(["max_in_flight"]),
            Err(ConfigError::NotKeyValue(_))
        ));
        assert!(matches!(
            Config::from_options(["heartbeat_interval=2m"]),
            Err(ConfigError::Inconsistent(_))
        ));
        assert!(matches!(
            Config::from_options(["tls_v1=true", "tls_cert=/c.pem"]),
            Err(ConfigError::Inconsistent(_))
        ));
        let tls = Config::from_options(["tls_v1=true", "tls_root_ca_file=/ca.pem"]).unwrap();
        assert_eq!(tls.tls_root_ca_file, Some(PathBuf::from("/ca.pem")));
        assert!(Config::from_options(["tls_min_version=tls9"]).is_err());
        assert!(matches!(
            Config::from_options(["snappy=true", "deflate=true"]),
            Err(ConfigError::Inconsistent(_))
        ));
        assert!(Config::from_options(["snappy=true"]).is_ok());
    }
}
