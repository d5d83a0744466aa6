//! Protocol errors with nsqd's exact texts, and the helpers that build them.

use std::fmt::Write as _;

use nsq_wire::command::BodyError;
use nsq_wire::error::ErrorCode;

/// An error frame to send: `"<CODE> <text>"`; fatal ones close the connection. The text
/// is bytes because nsqd echoes raw parameters (which need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub text: Vec<u8>,
}

impl ProtocolError {
    /// An error with `code` and description `text`.
    pub fn new(code: ErrorCode, text: impl Into<Vec<u8>>) -> Self {
        ProtocolError {
            code,
            text: text.into(),
        }
    }

    /// `E_INVALID <text>`.
    pub fn invalid(text: impl Into<Vec<u8>>) -> Self {
        ProtocolError::new(ErrorCode::Invalid, text)
    }

    /// The description, lossily decoded (for logs).
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }

    /// Whether the connection closes after this error.
    pub fn is_fatal(&self) -> bool {
        self.code.is_fatal()
    }

    /// The error frame's data.
    pub fn frame_data(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.code.as_str().len() + 1 + self.text.len());
        data.extend_from_slice(self.code.as_str().as_bytes());
        if !self.text.is_empty() || self.code != ErrorCode::BadProtocol {
            data.push(b' ');
            data.extend_from_slice(&self.text);
        }
        data
    }
}

/// Raw parameter bytes as text, lossily (for names that already passed validation).
pub fn raw(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `prefix` + raw bytes + `suffix`: nsqd's `%s` of a parameter, byte for byte.
pub fn with_raw(prefix: &str, bytes: &[u8], suffix: &str) -> Vec<u8> {
    [prefix.as_bytes(), bytes, suffix.as_bytes()].concat()
}

/// Go's `%q` (strconv.Quote) of raw bytes.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Parses a decimal parameter like nsqd's `ByteToBase10`: only ASCII digits (empty = 0),
/// with Go's wrapping int64 arithmetic.
pub fn parse_base10(bytes: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    Some(n)
}

/// Which command a body belonged to, for nsqd's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCommand {
    Identify,
    Auth,
    Pub,
    Dpub,
    Mpub,
}

impl BodyCommand {
    fn name(self) -> &'static str {
        match self {
            BodyCommand::Identify => "IDENTIFY",
            BodyCommand::Auth => "AUTH",
            BodyCommand::Pub => "PUB",
            BodyCommand::Dpub => "DPUB",
            BodyCommand::Mpub => "MPUB",
        }
    }
}

/// nsqd's error for a body problem of `cmd`.
pub fn body_error(cmd: BodyCommand, err: BodyError) -> ProtocolError {
    let name = cmd.name();
    match cmd {
        BodyCommand::Identify | BodyCommand::Auth => {
            let text = match err {
                BodyError::SizeUnreadable => format!("{name} failed to read body size"),
                BodyError::TooBig { size, max } => format!("{name} body too big {size} > {max}"),
                BodyError::InvalidSize(size) | BodyError::Inconsistent(size) => {
                    format!("{name} invalid body size {size}")
                }
                _ => format!("{name} failed to read body"),
            };
            ProtocolError::new(ErrorCode::BadBody, text)
        }
        BodyCommand::Pub | BodyCommand::Dpub => {
            let text = match err {
                BodyError::SizeUnreadable => format!("{name} failed to read message body size"),
                BodyError::InvalidSize(size) | BodyError::Inconsistent(size) => {
                    format!("{name} invalid message body size {size}")
                }
                BodyError::TooBig { size, max } => format!("{name} message too big {size} > {max}"),
                _ => format!("{name} failed to read message body"),
            };
            ProtocolError::new(ErrorCode::BadMessage, text)
        }
        BodyCommand::Mpub => mpub_body_error(err),
    }
}

fn mpub_body_error(err: BodyError) -> ProtocolError {
    let bad_body = |text: String| ProtocolError::new(ErrorCode::BadBody, text);
    let bad_message = |text: String| ProtocolError::new(ErrorCode::BadMessage, text);
    match err {
        BodyError::SizeUnreadable => bad_body("MPUB failed to read body size".into()),
        BodyError::InvalidSize(size) | BodyError::Inconsistent(size) => {
            bad_body(format!("MPUB invalid body size {size}"))
        }
        BodyError::TooBig { size, max } => bad_body(format!("MPUB body too big {size} > {max}")),
        BodyError::BodyUnreadable | BodyError::CountUnreadable => {
            bad_body("MPUB failed to read message count".into())
        }
        BodyError::InvalidCount(count) => bad_body(format!("MPUB invalid message count {count}")),
        BodyError::MessageSizeUnreadable(index) => {
            bad_message(format!("MPUB failed to read message({index}) body size"))
        }
        BodyError::InvalidMessageSize { index, size } => {
            bad_message(format!("MPUB invalid message({index}) body size {size}"))
        }
        BodyError::MessageTooBig { size, max } => {
            bad_message(format!("MPUB message too big {size} > {max}"))
        }
        BodyError::MessageBodyUnreadable => bad_message("MPUB failed to read message body".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"bad!name"), "\"bad!name\"");
        assert_eq!(go_quote(b"a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote(b"\x01\xff"), "\"\\x01\\xff\"");
        assert_eq!(go_quote("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn parses_like_byte_to_base10() {
        assert_eq!(parse_base10(b""), Some(0));
        assert_eq!(parse_base10(b"2500"), Some(2500));
        assert_eq!(parse_base10(b"-1"), None);
        assert_eq!(parse_base10(b"1a"), None);
    }

    #[test]
    fn body_error_texts() {
        assert_eq!(
            body_error(BodyCommand::Identify, BodyError::InvalidSize(0)).frame_data(),
            b"E_BAD_BODY IDENTIFY invalid body size 0"
        );
        assert_eq!(
            body_error(
                BodyCommand::Pub,
                BodyError::TooBig {
                    size: 101,
                    max: 100
                }
            )
            .frame_data(),
            b"E_BAD_MESSAGE PUB message too big 101 > 100"
        );
        assert_eq!(
            body_error(
                BodyCommand::Mpub,
                BodyError::InvalidMessageSize { index: 1, size: 0 }
            )
            .frame_data(),
            b"E_BAD_MESSAGE MPUB invalid message(1) body size 0"
        );
        assert_eq!(
            ProtocolError::new(ErrorCode::BadProtocol, "").frame_data(),
            b"E_BAD_PROTOCOL"
        );
    }
}
