//! The process-wide runtime log level behind `PUT /config/log_level`. Logging (the `tracing`
//! subscriber) belongs to the process, not to one broker, so the program that installs the
//! subscriber (the `nsqd` binary) also installs a setter here. Without a setter (a broker
//! embedded in another program) the log level cannot be changed over HTTP.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::nsqd::cli::{parse_log_level, LogLevel};

type Setter = Box<dyn Fn(LogLevel) + Send + Sync>;

static SETTER: OnceLock<Setter> = OnceLock::new();
/// The level last applied through the setter, as Go's number (0 = no setter installed).
static CURRENT: AtomicU8 = AtomicU8::new(0);

/// Installs the function that changes the process's log level, with the level in force now.
/// Returns `false` (and changes nothing) when a setter was installed already.
pub fn install_log_level_setter(
    initial: LogLevel,
    setter: impl Fn(LogLevel) + Send + Sync + 'static,
) -> bool {
    if SETTER.set(Box::new(setter)).is_err() {
        return false;
    }
    CURRENT.store(initial as u8, Ordering::Release);
    true
}

/// The runtime log level, when a setter is installed.
pub(super) fn current() -> Option<LogLevel> {
    match CURRENT.load(Ordering::Acquire) {
        0 => None,
        n => parse_log_level(&n.to_string()).ok(),
    }
}

/// Applies `level` through the installed setter; `false` when there is none.
pub(super) fn apply(level: LogLevel) -> bool {
    match SETTER.get() {
        Some(setter) => {
            setter(level);
            CURRENT.store(level as u8, Ordering::Release);
            true
        }
        None => false,
    }
}
