//! The `E_*` error codes nsqd sends in error frames, and which of them close the connection.

use std::fmt;
use std::str::FromStr;

/// An NSQ protocol error code (the first token of an error frame's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadProtocol,
    Invalid,
    BadBody,
    BadTopic,
    BadChannel,
    BadMessage,
    PubFailed,
    MpubFailed,
    DpubFailed,
    SubFailed,
    IdentifyFailed,
    AuthDisabled,
    AuthFailed,
    AuthFirst,
    Unauthorized,
    AuthError,
    FinFailed,
    ReqFailed,
    TouchFailed,
}

impl ErrorCode {
    /// Every code, in the order of the protocol spec's table.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::BadProtocol,
        ErrorCode::Invalid,
        ErrorCode::BadBody,
        ErrorCode::BadTopic,
        ErrorCode::BadChannel,
        ErrorCode::BadMessage,
        ErrorCode::PubFailed,
        ErrorCode::MpubFailed,
        ErrorCode::DpubFailed,
        ErrorCode::SubFailed,
        ErrorCode::IdentifyFailed,
        ErrorCode::AuthDisabled,
        ErrorCode::AuthFailed,
        ErrorCode::AuthFirst,
        ErrorCode::Unauthorized,
        ErrorCode::AuthError,
        ErrorCode::FinFailed,
        ErrorCode::ReqFailed,
        ErrorCode::TouchFailed,
    ];

    /// The code as it appears on the wire, e.g. `"E_INVALID"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadProtocol => "E_BAD_PROTOCOL",
            ErrorCode::Invalid => "E_INVALID",
            ErrorCode::BadBody => "E_BAD_BODY",
            ErrorCode::BadTopic => "E_BAD_TOPIC",
            ErrorCode::BadChannel => "E_BAD_CHANNEL",
            ErrorCode::BadMessage => "E_BAD_MESSAGE",
            ErrorCode::PubFailed => "E_PUB_FAILED",
            ErrorCode::MpubFailed => "E_MPUB_FAILED",
            ErrorCode::DpubFailed => "E_DPUB_FAILED",
            ErrorCode::SubFailed => "E_SUB_FAILED",
            ErrorCode::IdentifyFailed => "E_IDENTIFY_FAILED",
            ErrorCode::AuthDisabled => "E_AUTH_DISABLED",
            ErrorCode::AuthFailed => "E_AUTH_FAILED",
            ErrorCode::AuthFirst => "E_AUTH_FIRST",
            ErrorCode::Unauthorized => "E_UNAUTHORIZED",
            ErrorCode::AuthError => "E_AUTH_ERROR",
            ErrorCode::FinFailed => "E_FIN_FAILED",
            ErrorCode::ReqFailed => "E_REQ_FAILED",
            ErrorCode::TouchFailed => "E_TOUCH_FAILED",
        }
    }

    /// Whether nsqd closes the connection after sending this error. Only the FIN/REQ/TOUCH
    /// failures keep it open.
    pub fn is_fatal(self) -> bool {
        !matches!(
            self,
            ErrorCode::FinFailed | ErrorCode::ReqFailed | ErrorCode::TouchFailed
        )
    }

    /// Parses the code from the start of an error frame's data (`"E_INVALID some text"`).
    pub fn from_frame_data(data: &[u8]) -> Option<ErrorCode> {
        let token = data.split(|&b| b == b' ').next()?;
        std::str::from_utf8(token).ok()?.parse().ok()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string is not a known NSQ error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown NSQ error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_code() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        }
        assert!("E_NOPE".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn only_fin_req_touch_failures_are_non_fatal() {
        let non_fatal: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| !c.is_fatal())
            .collect();
        assert_eq!(
            non_fatal,
            vec![
                ErrorCode::FinFailed,
                ErrorCode::ReqFailed,
                ErrorCode::TouchFailed
            ]
        );
    }

    #[test]
    fn parses_code_from_frame_data() {
        assert_eq!(
            ErrorCode::from_frame_data(b"E_FIN_FAILED FIN x failed ID not in flight"),
            Some(ErrorCode::FinFailed)
        );
        assert_eq!(
            ErrorCode::from_frame_data(b"E_BAD_PROTOCOL"),
            Some(ErrorCode::BadProtocol)
        );
    }
}
