//! Client → server commands: a text line, then (IDENTIFY, AUTH, PUB, MPUB, DPUB) a
//! length-prefixed body.
//!
//! * Clients build a [`Command`] and [`Command::encode`] it.
//! * Servers read with [`CommandDecoder`]: [`CommandDecoder::decode_line`] returns the
//!   split line, the server runs its own pre-body checks (state, parameters, names — nsqd's
//!   order), then [`CommandDecoder::decode_body`] reads the body with size limits checked
//!   before anything is allocated. The [`BodyError`] variants carry the numbers nsqd puts
//!   into its error texts. For simple uses the decoder also implements
//!   [`tokio_util::codec::Decoder`], reading every body-carrying command's body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::identify::IdentifyRequest;
use crate::message::MessageId;
pub use crate::multi_body::MultiBody;

/// nsqd reads command lines through a buffer of this size; the `\n` must fall inside it.
pub const MAX_LINE_LENGTH: usize = 16384;

/// A command as a client sends it.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use nsq_wire::command::Command;
///
/// let mut buf = BytesMut::new();
/// Command::Pub { topic: "t".into(), body: Bytes::from_static(b"hello") }.encode(&mut buf);
/// assert_eq!(&buf[..], b"PUB t\n\x00\x00\x00\x05hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Identify(IdentifyRequest),
    Auth(Bytes),
    Sub {
        topic: String,
        channel: String,
    },
    Pub {
        topic: String,
        body: Bytes,
    },
    Mpub {
        topic: String,
        bodies: Vec<Bytes>,
    },
    Dpub {
        topic: String,
        defer_ms: u64,
        body: Bytes,
    },
    Rdy(u64),
    Fin(MessageId),
    Req {
        id: MessageId,
        timeout_ms: u64,
    },
    Touch(MessageId),
    Cls,
    Nop,
}

impl Command {
    /// The command name as sent on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Identify(_) => "IDENTIFY",
            Command::Auth(_) => "AUTH",
            Command::Sub { .. } => "SUB",
            Command::Pub { .. } => "PUB",
            Command::Mpub { .. } => "MPUB",
            Command::Dpub { .. } => "DPUB",
            Command::Rdy(_) => "RDY",
            Command::Fin(_) => "FIN",
            Command::Req { .. } => "REQ",
            Command::Touch(_) => "TOUCH",
            Command::Cls => "CLS",
            Command::Nop => "NOP",
        }
    }

    /// Appends the encoded command (line and body) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Command::Identify(req) => {
                dst.put_slice(b"IDENTIFY\n");
                put_body(dst, &req.to_json());
            }
            Command::Auth(secret) => {
                dst.put_slice(b"AUTH\n");
                put_body(dst, secret);
            }
            Command::Sub { topic, channel } => {
                put_line(dst, &["SUB", topic, channel]);
            }
            Command::Pub { topic, body } => {
                put_line(dst, &["PUB", topic]);
                put_body(dst, body);
            }
            Command::Mpub { topic, bodies } => {
                put_line(dst, &["MPUB", topic]);
                let size = 4 + bodies.iter().map(|b| 4 + b.len()).sum::<usize>();
                dst.reserve(4 + size);
                dst.put_u32(size as u32);
                dst.put_u32(bodies.len() as u32);
                for body in bodies {
                    put_body(dst, body);
                }
            }
            Command::Dpub {
                topic,
                defer_ms,
                body,
            } => {
                put_line(dst, &["DPUB", topic, &defer_ms.to_string()]);
                put_body(dst, body);
            }
            Command::Rdy(count) => put_line(dst, &["RDY", &count.to_string()]),
            Command::Fin(id) => put_id_line(dst, b"FIN ", id, None),
            Command::Req { id, timeout_ms } => put_id_line(dst, b"REQ ", id, Some(*timeout_ms)),
            Command::Touch(id) => put_id_line(dst, b"TOUCH ", id, None),
            Command::Cls => dst.put_slice(b"CLS\n"),
            Command::Nop => dst.put_slice(b"NOP\n"),
        }
    }
}

fn put_line(dst: &mut BytesMut, parts: &[&str]) {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            dst.put_u8(b' ');
        }
        dst.put_slice(part.as_bytes());
    }
    dst.put_u8(b'\n');
}

fn put_id_line(dst: &mut BytesMut, prefix: &[u8], id: &MessageId, timeout_ms: Option<u64>) {
    dst.put_slice(prefix);
    dst.put_slice(id.as_bytes());
    if let Some(ms) = timeout_ms {
        dst.put_u8(b' ');
        dst.put_slice(ms.to_string().as_bytes());
    }
    dst.put_u8(b'\n');
}

fn put_body(dst: &mut BytesMut, body: &[u8]) {
    dst.reserve(4 + body.len());
    dst.put_u32(body.len() as u32);
    dst.put_slice(body);
}

/// A command line split the way nsqd splits it: on every single space byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The first token (empty for an empty line).
    pub name: Bytes,
    /// The remaining tokens; consecutive spaces yield empty parameters.
    pub params: Vec<Bytes>,
}

impl Line {
    /// The body a command of this name carries, with the limits to apply, if any.
    pub fn body_kind(&self, limits: &BodyLimits) -> Option<BodyKind> {
        match &self.name[..] {
            b"IDENTIFY" | b"AUTH" => Some(BodyKind::Single {
                max: limits.max_body_size,
            }),
            b"PUB" | b"DPUB" => Some(BodyKind::Single {
                max: limits.max_msg_size,
            }),
            b"MPUB" => Some(BodyKind::Multi {
                max_body: limits.max_body_size,
                max_msg: limits.max_msg_size,
            }),
            _ => None,
        }
    }
}

/// nsqd's `--max-msg-size` and `--max-body-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub max_msg_size: usize,
    pub max_body_size: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_msg_size: 1_048_576,
            max_body_size: 5_242_880,
        }
    }
}

/// How to read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `[size][bytes]` with `0 < size <= max`.
    Single { max: usize },
    /// MPUB: `[size][count]([size_i][bytes_i])*`.
    Multi { max_body: usize, max_msg: usize },
}

/// A body read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Single(Bytes),
    /// MPUB messages; they share one allocation.
    Multi(MultiBody),
}

/// Why a body was rejected; each maps to one nsqd error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("failed to read body size")]
    SizeUnreadable,
    #[error("invalid body size {0}")]
    InvalidSize(i32),
    #[error("body too big {size} > {max}")]
    TooBig { size: i32, max: usize },
    #[error("failed to read body")]
    BodyUnreadable,
    #[error("failed to read message count")]
    CountUnreadable,
    #[error("invalid message count {0}")]
    InvalidCount(i32),
    #[error("failed to read message({0}) body size")]
    MessageSizeUnreadable(usize),
    #[error("invalid message({index}) body size {size}")]
    InvalidMessageSize { index: usize, size: i32 },
    #[error("message too big {size} > {max}")]
    MessageTooBig { size: i32, max: usize },
    #[error("failed to read message body")]
    MessageBodyUnreadable,
    /// The MPUB structure does not fill its declared body size exactly.
    #[error("invalid body size {0}")]
    Inconsistent(i32),
}

/// Why the stream cannot be decoded further (the connection must be closed).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("command line longer than {MAX_LINE_LENGTH} bytes")]
    LineTooLong,
    #[error("bad body: {0}")]
    Body(BodyError),
}

/// A command line plus its body, as produced by the [`Decoder`] impl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub line: Line,
    pub body: Option<Body>,
}

/// Progress through an MPUB body that has not fully arrived yet.
#[derive(Debug, Clone, Default)]
struct MultiProgress {
    /// Offset (from the start of the body data, after its size field) of the next
    /// unparsed item.
    cursor: usize,
    count: Option<usize>,
    /// Records validated so far.
    parsed: usize,
}

/// Server-side decoder of command lines and bodies.
///
/// ```
/// use bytes::BytesMut;
/// use nsq_wire::command::{Body, BodyLimits, CommandDecoder};
///
/// let mut dec = CommandDecoder::new(BodyLimits::default());
/// let mut buf = BytesMut::from(&b"PUB t\n\x00\x00\x00\x02hi"[..]);
/// let line = dec.decode_line(&mut buf).unwrap().unwrap();
/// assert_eq!(&line.name[..], b"PUB");
/// let kind = line.body_kind(&dec.limits()).unwrap();
/// assert_eq!(dec.decode_body(&mut buf, kind).unwrap(), Some(Body::Single("hi".into())));
/// ```
#[derive(Debug, Clone)]
pub struct CommandDecoder {
    limits: BodyLimits,
    pending_line: Option<Line>,
    multi: MultiProgress,
}

impl CommandDecoder {
    /// A decoder applying `limits` to bodies.
    pub fn new(limits: BodyLimits) -> Self {
        CommandDecoder {
            limits,
            pending_line: None,
            multi: MultiProgress::default(),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> BodyLimits {
        self.limits
    }

    /// Takes one `\n`-terminated line off `src` (a `\r` before the `\n` is stripped).
    /// `Ok(None)` = need more bytes; `Err(LineTooLong)` = no `\n` within
    /// [`MAX_LINE_LENGTH`] bytes.
    pub fn decode_line(&mut self, src: &mut BytesMut) -> Result<Option<Line>, DecodeError> {
        let window = &src[..src.len().min(MAX_LINE_LENGTH)];
        let Some(pos) = window.iter().position(|&b| b == b'\n') else {
            if src.len() >= MAX_LINE_LENGTH {
                return Err(DecodeError::LineTooLong);
            }
            return Ok(None);
        };
        let mut line = src.split_to(pos + 1).freeze();
        line.truncate(pos);
        if line.last() == Some(&b'\r') {
            line.truncate(pos - 1);
        }
        Ok(Some(split_line(line)))
    }

    /// Reads the body that follows a line. `Ok(None)` = need more bytes (capacity for the
    /// validated size is reserved). Sizes are validated before any allocation.
    pub fn decode_body(
        &mut self,
        src: &mut BytesMut,
        kind: BodyKind,
    ) -> Result<Option<Body>, BodyError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let max = match kind {
            BodyKind::Single { max } => max,
            BodyKind::Multi { max_body, .. } => max_body,
        };
        if size <= 0 {
            return Err(BodyError::InvalidSize(size));
        }
        if size as usize > max {
            return Err(BodyError::TooBig { size, max });
        }
        let size_usize = size as usize;
        if let BodyKind::Multi { max_body, max_msg } = kind {
            let available = &src[4..src.len().min(4 + size_usize)];
            self.scan_multi(available, size, max_body, max_msg)?;
        }
        if src.len() < 4 + size_usize {
            src.reserve(4 + size_usize - src.len());
            return Ok(None);
        }
        src.advance(4);
        let data = Bytes::copy_from_slice(&src[..size_usize]);
        src.advance(size_usize);
        match kind {
            BodyKind::Single { .. } => Ok(Some(Body::Single(data))),
            BodyKind::Multi { .. } => {
                let progress = std::mem::take(&mut self.multi);
                if progress.count != Some(progress.parsed) || progress.cursor != size_usize {
                    return Err(BodyError::Inconsistent(size));
                }
                Ok(Some(Body::Multi(MultiBody::from_validated(
                    data.slice(4..),
                    progress.parsed,
                ))))
            }
        }
    }

    /// The error for a stream that ended while a body of `kind` was incomplete in `src`.
    pub fn body_eof_error(&mut self, src: &mut BytesMut, kind: BodyKind) -> BodyError {
        let err = match self.decode_body(src, kind) {
            Err(err) => err,
            Ok(_) if src.len() < 4 => BodyError::SizeUnreadable,
            Ok(_) => match kind {
                BodyKind::Single { .. } => BodyError::BodyUnreadable,
                BodyKind::Multi { .. } => match self.multi.count {
                    None => BodyError::CountUnreadable,
                    Some(_) => {
                        let index = self.multi.parsed;
                        let cursor = self.multi.cursor;
                        if src.len() < 4 + cursor + 4 {
                            BodyError::MessageSizeUnreadable(index)
                        } else {
                            BodyError::MessageBodyUnreadable
                        }
                    }
                },
            },
        };
        self.multi = MultiProgress::default();
        err
    }

    /// Validates as much of an MPUB body as has arrived, remembering how far it got.
    fn scan_multi(
        &mut self,
        data: &[u8],
        size: i32,
        max_body: usize,
        max_msg: usize,
    ) -> Result<(), BodyError> {
        let declared = size as usize;
        let progress = &mut self.multi;
        if progress.count.is_none() {
            if data.len() < 4 {
                return Ok(());
            }
            let count = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let max_count = max_body.saturating_sub(4) / 5;
            if count <= 0 || count as usize > max_count {
                self.multi = MultiProgress::default();
                return Err(BodyError::InvalidCount(count));
            }
            progress.count = Some(count as usize);
            progress.cursor = 4;
        }
        let count = progress.count.unwrap_or(0);
        while progress.parsed < count {
            let at = progress.cursor;
            if data.len() < at + 4 {
                if at + 4 > declared {
                    self.multi = MultiProgress::default();
                    return Err(BodyError::Inconsistent(size));
                }
                return Ok(());
            }
            let index = progress.parsed;
            let msg_size = i32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            if msg_size <= 0 {
                self.multi = MultiProgress::default();
                return Err(BodyError::InvalidMessageSize {
                    index,
                    size: msg_size,
                });
            }
            if msg_size as usize > max_msg {
                self.multi = MultiProgress::default();
                return Err(BodyError::MessageTooBig {
                    size: msg_size,
                    max: max_msg,
                });
            }
            let end = at + 4 + msg_size as usize;
            if end > declared {
                self.multi = MultiProgress::default();
                return Err(BodyError::Inconsistent(size));
            }
            if data.len() < end {
                return Ok(());
            }
            progress.parsed += 1;
            progress.cursor = end;
        }
        Ok(())
    }
}

fn split_line(line: Bytes) -> Line {
    let mut tokens = line.split(|&b| b == b' ').map(|t| {
        let start = t.as_ptr() as usize - line.as_ptr() as usize;
        line.slice(start..start + t.len())
    });
    let name = tokens.next().unwrap_or_default();
    Line {
        name,
        params: tokens.collect(),
    }
}

impl Decoder for CommandDecoder {
    type Item = Request;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, DecodeError> {
        let line = match self.pending_line.take() {
            Some(line) => line,
            None => match self.decode_line(src)? {
                Some(line) => line,
                None => return Ok(None),
            },
        };
        let Some(kind) = line.body_kind(&self.limits) else {
            return Ok(Some(Request { line, body: None }));
        };
        match self.decode_body(src, kind).map_err(DecodeError::Body)? {
            Some(body) => Ok(Some(Request {
                line,
                body: Some(body),
            })),
            None => {
                self.pending_line = Some(line);
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Request>, DecodeError> {
        if let Some(request) = self.decode(src)? {
            return Ok(Some(request));
        }
        match self.pending_line.take() {
            Some(line) => {
                let kind = line.body_kind(&self.limits);
                match kind {
                    Some(kind) => Err(DecodeError::Body(self.body_eof_error(src, kind))),
                    None => Ok(None),
                }
            }
            // A partial line at EOF is dropped, as nsqd does.
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
