//! The client's error type.

use std::time::Duration;

use nsq_wire::error::ErrorCode;

use crate::config::ConfigError;

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// TCP connect failed or timed out.
    #[error("failed to connect to nsqd {addr}: {reason}")]
    Connect {
        /// The nsqd address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the socket failed.
    #[error("i/o error on {addr}: {reason}")]
    Io {
        /// The nsqd address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The peer sent bytes that are not valid NSQ frames (garbage, oversize, unknown type).
    #[error("protocol error from {addr}: {reason}")]
    Protocol {
        /// The nsqd address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// nsqd answered with an error frame (`E_BAD_TOPIC ...`).
    #[error("nsqd {addr} error: {text}")]
    Broker {
        /// The nsqd address.
        addr: String,
        /// The error code, when it is one NSQ defines.
        code: Option<ErrorCode>,
        /// The full error text (`"<CODE> <description>"`).
        text: String,
    },
    /// IDENTIFY was refused or its reply unusable.
    #[error("failed to IDENTIFY with {addr}: {reason}")]
    Identify {
        /// The nsqd address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// nsqd requires AUTH and it failed (or no secret is configured).
    #[error("AUTH with {addr} failed: {reason}")]
    Auth {
        /// The nsqd address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The connection closed before the command was answered.
    #[error("connection to {addr} lost")]
    ConnectionLost {
        /// The nsqd address.
        addr: String,
    },
    /// A deadline passed.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// Invalid topic name.
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    /// Invalid channel name.
    #[error("invalid channel name {0:?}")]
    InvalidChannel(String),
    /// The message cannot be published (empty body, too large, empty batch).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No nsqd (or lookupd) address was given.
    #[error("no nsqd address configured")]
    NoAddresses,
    /// A consumer was started without a handler.
    #[error("no message handler set")]
    MissingHandler,
    /// The producer or consumer was stopped.
    #[error("stopped")]
    Stopped,
}

impl Error {
    /// Errors after which retrying on another (or a reconnected) nsqd can succeed:
    /// connection failures and nsqd's own `E_*PUB_FAILED` (e.g. nsqd is exiting).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Io { .. }
            | Error::Protocol { .. }
            | Error::Identify { .. }
            | Error::ConnectionLost { .. }
            | Error::Timeout { .. } => true,
            Error::Broker { code, .. } => matches!(
                code,
                Some(ErrorCode::PubFailed | ErrorCode::MpubFailed | ErrorCode::DpubFailed)
            ),
            _ => false,
        }
    }

    pub(crate) fn broker(addr: &str, data: &[u8]) -> Self {
        Error::Broker {
            addr: addr.to_string(),
            code: ErrorCode::from_frame_data(data),
            text: String::from_utf8_lossy(data).into_owned(),
        }
    }
}
