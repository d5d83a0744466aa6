//! One TCP connection to nsqd: dial, magic, IDENTIFY, the negotiated upgrades (TLS, then
//! deflate or snappy), AUTH when nsqd asks for it, optional SUB, then a reader task and a
//! writer task.
//!
//! The reader decodes frames through `nsq_wire`'s `FrameDecoder` (bounded frame size),
//! answers heartbeats with `NOP` itself and forwards everything else as [`ConnEvent`]s; any
//! read error, timeout or garbage ends the connection with [`ConnEvent::Closed`]. The writer
//! batches queued commands and writes them under the write deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use nsq_wire::command::Command;
use nsq_wire::frame::{Frame, DEFAULT_MAX_FRAME_SIZE};
use nsq_wire::identify::{IdentifyRequest, IdentifyResponse};
use nsq_wire::message::{Message, MESSAGE_HEADER_LEN};
use tokio::io::AsyncWriteExt;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::compress::{Compressor, StreamDecoder};
use crate::config::Config;
use crate::error::Error;
use crate::stream::NsqStream;
use crate::tls;

/// What nsqd told us in its IDENTIFY reply (defaults when it answered a plain `OK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Upper bound for RDY on this connection.
    pub max_rdy_count: u64,
    /// Effective message timeout of this connection.
    pub msg_timeout: Duration,
    /// Upper bound for the message timeout (and TOUCH extension).
    pub max_msg_timeout: Duration,
    /// nsqd version string (empty for pre-negotiation servers).
    pub version: String,
    /// Whether nsqd required AUTH.
    pub auth_required: bool,
}

impl Default for ServerInfo {
    fn default() -> Self {
        Self {
            max_rdy_count: 2500,
            msg_timeout: Duration::from_secs(60),
            max_msg_timeout: Duration::from_secs(15 * 60),
            version: String::new(),
            auth_required: false,
        }
    }
}

/// Something that happened on a connection, for its owner.
#[derive(Debug)]
pub enum ConnEvent {
    /// A response frame other than `_heartbeat_` (`OK`, `CLOSE_WAIT`, JSON).
    Response(Bytes),
    /// An error frame.
    Error(Bytes),
    /// A message frame.
    Message(Message),
    /// The connection is gone (EOF, IO error, timeout, bad frame, or closed by us).
    Closed(Option<Error>),
}

/// `Some(command)` to write, `None` to flush and close.
type WriteOp = Option<Command>;

/// Cheap handle for writing commands to one connection.
#[derive(Debug, Clone)]
pub struct CommandSender {
    tx: mpsc::UnboundedSender<WriteOp>,
    addr: Arc<str>,
}

impl CommandSender {
    /// Queues a command; fails once the connection is closed.
    pub fn send(&self, command: Command) -> Result<(), Error> {
        self.tx
            .send(Some(command))
            .map_err(|_| Error::ConnectionLost {
                addr: self.addr.to_string(),
            })
    }

    /// Writes everything queued so far, then closes the socket.
    pub fn close(&self) {
        let _ = self.tx.send(None);
    }

    /// True when the writer is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The nsqd address.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// An established (identified, optionally subscribed) connection.
#[derive(Debug)]
pub struct Connection {
    /// The nsqd address as dialled.
    pub addr: String,
    /// The IDENTIFY outcome.
    pub info: ServerInfo,
    /// Writes commands.
    pub writer: CommandSender,
    /// Frames and the final close, in order.
    pub events: mpsc::UnboundedReceiver<ConnEvent>,
    /// Cancelled when the connection ends (either side).
    pub closed: CancellationToken,
}

/// The IDENTIFY body this client sends (go-nsq's set, with `feature_negotiation`).
pub fn identify_request(config: &Config) -> IdentifyRequest {
    IdentifyRequest {
        client_id: Some(config.client_id.clone()),
        hostname: Some(config.hostname.clone()),
        user_agent: Some(config.user_agent.clone()),
        feature_negotiation: Some(true),
        heartbeat_interval: Some(millis(config.heartbeat_interval)),
        output_buffer_size: Some(config.output_buffer_size),
        output_buffer_timeout: Some(millis(config.output_buffer_timeout)),
        msg_timeout: Some(millis(config.msg_timeout)),
        sample_rate: Some(config.sample_rate),
        tls_v1: Some(config.tls_v1),
        snappy: Some(config.snappy),
        deflate: Some(config.deflate),
        deflate_level: Some(i64::from(config.deflate_level)),
        topology_region: Some(String::new()),
        topology_zone: Some(String::new()),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Control frames (IDENTIFY/AUTH JSON) must fit even when `max_msg_size` is tiny.
const MIN_FRAME_LIMIT: usize = 64 * 1024;

/// Largest frame accepted: a message of `max_msg_size` plus headers (at least 64 KiB), or
/// nsq-wire's default bound when `max_msg_size` is 0.
fn max_frame_size(config: &Config) -> usize {
    if config.max_msg_size == 0 {
        DEFAULT_MAX_FRAME_SIZE
    } else {
        (4 + MESSAGE_HEADER_LEN + config.max_msg_size as usize).max(MIN_FRAME_LIMIT)
    }
}

type Reader = FramedRead<ReadHalf<NsqStream>, StreamDecoder>;
type Writer = WriteHalf<NsqStream>;

struct Handshake<'a> {
    addr: &'a str,
    config: &'a Config,
    reader: Reader,
    writer: Writer,
    compressor: Compressor,
}

/// Stream upgrades nsqd agreed to in its IDENTIFY reply.
#[derive(Debug, Default, Clone, Copy)]
struct Upgrades {
    tls: bool,
    deflate: bool,
    snappy: bool,
}

impl Handshake<'_> {
    async fn write(&mut self, command: &Command) -> Result<(), Error> {
        let mut plain = BytesMut::new();
        command.encode(&mut plain);
        let mut buf = BytesMut::new();
        self.compressor
            .compress(&plain, &mut buf)
            .map_err(|err| Error::Io {
                addr: self.addr.to_string(),
                reason: err.to_string(),
            })?;
        self.write_raw(&buf).await
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            addr: self.addr.to_string(),
            reason: e.to_string(),
        };
        let write = async {
            self.writer.write_all(bytes).await.map_err(io)?;
            self.writer.flush().await.map_err(io)
        };
        tokio::time::timeout(self.config.write_timeout, write)
            .await
            .map_err(|_| Error::Timeout {
                what: "write",
                after: self.config.write_timeout,
            })?
    }

    /// Reads the next frame that is not a heartbeat (heartbeats get their NOP).
    async fn read(&mut self) -> Result<Frame, Error> {
        loop {
            let frame = read_frame(&mut self.reader, self.addr, self.config.read_timeout).await?;
            match frame {
                Some(f) if f.is_heartbeat() => self.write(&Command::Nop).await?,
                Some(f) => return Ok(f),
                None => {
                    return Err(Error::ConnectionLost {
                        addr: self.addr.to_string(),
                    })
                }
            }
        }
    }

    async fn identify(&mut self) -> Result<(ServerInfo, Upgrades), Error> {
        let request = identify_request(self.config);
        self.write(&Command::Identify(request)).await?;
        let fail = |reason: String| Error::Identify {
            addr: self.addr.to_string(),
            reason,
        };
        match self.read().await? {
            Frame::Response(data) if data.first() == Some(&b'{') => {
                let reply: IdentifyResponse = serde_json::from_slice(&data)
                    .map_err(|e| fail(format!("bad IDENTIFY reply: {e}")))?;
                if (reply.tls_v1 && !self.config.tls_v1)
                    || (reply.snappy && !self.config.snappy)
                    || (reply.deflate && !self.config.deflate)
                    || (reply.snappy && reply.deflate)
                {
                    return Err(fail(
                        "nsqd enabled a feature this client did not ask for".into(),
                    ));
                }
                let upgrades = Upgrades {
                    tls: reply.tls_v1,
                    deflate: reply.deflate,
                    snappy: reply.snappy,
                };
                let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
                let defaults = ServerInfo::default();
                let info = ServerInfo {
                    // go-nsq caps RDY at this value; 0 would stop every delivery.
                    max_rdy_count: u64::try_from(reply.max_rdy_count)
                        .ok()
                        .filter(|n| *n > 0)
                        .unwrap_or(defaults.max_rdy_count),
                    msg_timeout: if reply.msg_timeout > 0 {
                        ms(reply.msg_timeout)
                    } else {
                        defaults.msg_timeout
                    },
                    max_msg_timeout: ms(reply.max_msg_timeout),
                    version: reply.version,
                    auth_required: reply.auth_required,
                };
                Ok((info, upgrades))
            }
            // Old servers answer a plain OK and negotiate nothing.
            Frame::Response(_) => Ok((ServerInfo::default(), Upgrades::default())),
            Frame::Error(data) => Err(fail(String::from_utf8_lossy(&data).into_owned())),
            Frame::Message(_) => Err(fail("unexpected message frame".into())),
        }
    }

    /// Applies the negotiated upgrades in go-nsq's order: TLS, deflate, snappy; each is
    /// confirmed by an `OK` frame read through the new layer.
    async fn upgrade(mut self, upgrades: Upgrades) -> Result<Self, Error> {
        if upgrades.tls {
            self = self.start_tls().await?;
            self.expect_upgrade_ok("TLS").await?;
        }
        if upgrades.deflate {
            self.reader.decoder_mut().start_deflate();
            self.compressor = Compressor::deflate(self.config.deflate_level);
            self.expect_upgrade_ok("deflate").await?;
        }
        if upgrades.snappy {
            self.reader.decoder_mut().start_snappy();
            self.compressor = Compressor::snappy();
            self.expect_upgrade_ok("snappy").await?;
        }
        Ok(self)
    }

    async fn start_tls(self) -> Result<Self, Error> {
        let Handshake {
            addr,
            config,
            reader,
            writer,
            compressor,
        } = self;
        let fail = |reason: String| Error::Identify {
            addr: addr.to_string(),
            reason: format!("TLS: {reason}"),
        };
        if !reader.read_buffer().is_empty() {
            return Err(fail("nsqd sent data before the TLS handshake".into()));
        }
        let NsqStream::Plain(tcp) = reader.into_inner().unsplit(writer) else {
            return Err(fail("connection is already TLS".into()));
        };
        let connector = tls::connector(config).map_err(fail)?;
        let name = tls::server_name(addr).map_err(fail)?;
        let deadline = config.dial_timeout.max(Duration::from_secs(5));
        let stream = tokio::time::timeout(deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| fail(format!("handshake timed out after {deadline:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        let (read_half, write_half) = tokio::io::split(NsqStream::Tls(Box::new(stream)));
        Ok(Handshake {
            addr,
            config,
            reader: FramedRead::new(read_half, StreamDecoder::new(max_frame_size(config))),
            writer: write_half,
            compressor,
        })
    }

    async fn expect_upgrade_ok(&mut self, feature: &str) -> Result<(), Error> {
        match self.read().await? {
            Frame::Response(data) if data.as_ref() == nsq_wire::OK => Ok(()),
            other => Err(Error::Identify {
                addr: self.addr.to_string(),
                reason: format!("{feature} upgrade not confirmed: {other:?}"),
            }),
        }
    }

    async fn auth(&mut self) -> Result<(), Error> {
        let fail = |reason: String| Error::Auth {
            addr: self.addr.to_string(),
            reason,
        };
        if self.config.auth_secret.is_empty() {
            return Err(fail("Auth Required".into()));
        }
        let secret = Bytes::from(self.config.auth_secret.clone().into_bytes());
        self.write(&Command::Auth(secret)).await?;
        match self.read().await? {
            Frame::Response(data) => {
                tracing::debug!(addr = self.addr, reply = %String::from_utf8_lossy(&data), "AUTH accepted");
                Ok(())
            }
            Frame::Error(data) => Err(fail(String::from_utf8_lossy(&data).into_owned())),
            Frame::Message(_) => Err(fail("unexpected message frame".into())),
        }
    }

    async fn subscribe(&mut self, topic: &str, channel: &str) -> Result<(), Error> {
        self.write(&Command::Sub {
            topic: topic.to_string(),
            channel: channel.to_string(),
        })
        .await?;
        match self.read().await? {
            Frame::Response(data) if data.as_ref() == nsq_wire::OK => Ok(()),
            Frame::Error(data) => Err(Error::broker(self.addr, &data)),
            other => Err(Error::Protocol {
                addr: self.addr.to_string(),
                reason: format!("unexpected reply to SUB: {other:?}"),
            }),
        }
    }
}

async fn read_frame(
    reader: &mut Reader,
    addr: &str,
    timeout: Duration,
) -> Result<Option<Frame>, Error> {
    match tokio::time::timeout(timeout, reader.next()).await {
        Err(_) => Err(Error::Timeout {
            what: "read",
            after: timeout,
        }),
        Ok(None) => Ok(None),
        Ok(Some(Ok(frame))) => Ok(Some(frame)),
        Ok(Some(Err(e))) => Err(match e {
            nsq_wire::frame::FrameError::Io(io) => Error::Io {
                addr: addr.to_string(),
                reason: io.to_string(),
            },
            other => Error::Protocol {
                addr: addr.to_string(),
                reason: other.to_string(),
            },
        }),
    }
}

async fn dial(addr: &str, config: &Config) -> Result<TcpStream, Error> {
    let fail = |reason: String| Error::Connect {
        addr: addr.to_string(),
        reason,
    };
    let connect = async {
        let target = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("address resolved to nothing".into()))?;
        match config.local_addr {
            Some(local) => {
                let socket = if target.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .map_err(|e| fail(e.to_string()))?;
                socket.bind(local).map_err(|e| fail(e.to_string()))?;
                socket
                    .connect(target)
                    .await
                    .map_err(|e| fail(e.to_string()))
            }
            None => TcpStream::connect(target)
                .await
                .map_err(|e| fail(e.to_string())),
        }
    };
    let stream = tokio::time::timeout(config.dial_timeout, connect)
        .await
        .map_err(|_| fail(format!("dial timeout after {:?}", config.dial_timeout)))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects, identifies, authenticates when required and, for consumers, subscribes.
pub async fn connect(
    addr: &str,
    config: &Config,
    subscribe: Option<(&str, &str)>,
) -> Result<Connection, Error> {
    let stream = dial(addr, config).await?;
    let (read_half, write_half) = tokio::io::split(NsqStream::Plain(stream));
    let mut hs = Handshake {
        addr,
        config,
        reader: FramedRead::new(read_half, StreamDecoder::new(max_frame_size(config))),
        writer: write_half,
        compressor: Compressor::None,
    };
    hs.write_raw(&nsq_wire::MAGIC_V2).await?;
    let (info, upgrades) = hs.identify().await?;
    let mut hs = hs.upgrade(upgrades).await?;
    if info.auth_required {
        hs.auth().await?;
    }
    if let Some((topic, channel)) = subscribe {
        hs.subscribe(topic, channel).await?;
    }
    let Handshake {
        reader,
        writer,
        compressor,
        ..
    } = hs;
    Ok(spawn_tasks(addr, config, info, reader, writer, compressor))
}

fn spawn_tasks(
    addr: &str,
    config: &Config,
    info: ServerInfo,
    reader: Reader,
    writer: Writer,
    compressor: Compressor,
) -> Connection {
    let (write_tx, write_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let closed = CancellationToken::new();
    let sender = CommandSender {
        tx: write_tx,
        addr: Arc::from(addr),
    };
    tokio::spawn(write_loop(
        addr.to_string(),
        writer,
        write_rx,
        compressor,
        config.write_timeout,
        closed.clone(),
    ));
    tokio::spawn(read_loop(
        addr.to_string(),
        reader,
        sender.clone(),
        event_tx,
        config.read_timeout,
        closed.clone(),
    ));
    Connection {
        addr: addr.to_string(),
        info,
        writer: sender,
        events: event_rx,
        closed,
    }
}

async fn read_loop(
    addr: String,
    mut reader: Reader,
    writer: CommandSender,
    events: mpsc::UnboundedSender<ConnEvent>,
    timeout: Duration,
    closed: CancellationToken,
) {
    let reason = loop {
        let frame = tokio::select! {
            _ = closed.cancelled() => break None,
            frame = read_frame(&mut reader, &addr, timeout) => frame,
        };
        match frame {
            Ok(Some(f)) if f.is_heartbeat() => {
                tracing::trace!(%addr, "heartbeat");
                if writer.send(Command::Nop).is_err() {
                    break None;
                }
            }
            Ok(Some(Frame::Response(data))) => {
                let _ = events.send(ConnEvent::Response(data));
            }
            Ok(Some(Frame::Error(data))) => {
                let _ = events.send(ConnEvent::Error(data));
            }
            Ok(Some(Frame::Message(msg))) => {
                let _ = events.send(ConnEvent::Message(msg));
            }
            Ok(None) => break Some(Error::ConnectionLost { addr: addr.clone() }),
            Err(e) => break Some(e),
        }
    };
    if let Some(e) = &reason {
        tracing::debug!(%addr, error = %e, "connection read loop ended");
    }
    closed.cancel();
    writer.close();
    let _ = events.send(ConnEvent::Closed(reason));
}

async fn write_loop(
    addr: String,
    mut writer: Writer,
    mut queue: mpsc::UnboundedReceiver<WriteOp>,
    mut compressor: Compressor,
    timeout: Duration,
    closed: CancellationToken,
) {
    let mut plain = BytesMut::new();
    let mut buf = BytesMut::new();
    'outer: loop {
        let first = tokio::select! {
            _ = closed.cancelled() => break,
            op = queue.recv() => op,
        };
        let Some(first) = first else { break };
        let mut close_after = false;
        let mut next = Some(first);
        // Batch everything already queued into one write.
        while let Some(op) = next.take() {
            match op {
                Some(c) => c.encode(&mut plain),
                None => {
                    close_after = true;
                    break;
                }
            }
            next = queue.try_recv().ok();
        }
        if !plain.is_empty() {
            if let Err(reason) = compressor.compress(&plain, &mut buf) {
                tracing::warn!(%addr, %reason, "compression failed");
                break 'outer;
            }
            plain.clear();
            let write = async {
                writer.write_all(&buf).await?;
                writer.flush().await
            };
            match tokio::time::timeout(timeout, write).await {
                Ok(Ok(())) => buf.clear(),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "write failed");
                    break 'outer;
                }
                Err(_) => {
                    tracing::debug!(%addr, ?timeout, "write timed out");
                    break 'outer;
                }
            }
        }
        if close_after {
            break;
        }
    }
    let _ = writer.shutdown().await;
    closed.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_has_go_nsq_fields() {
        let config = Config::default();
        let json: serde_json::Value =
            serde_json::from_slice(&identify_request(&config).to_json()).unwrap();
        assert_eq!(json["feature_negotiation"], true);
        assert_eq!(json["heartbeat_interval"], 30000);
        assert_eq!(json["output_buffer_size"], 16384);
        assert_eq!(json["output_buffer_timeout"], 250);
        assert_eq!(json["msg_timeout"], 0);
        assert_eq!(json["sample_rate"], 0);
        assert_eq!(json["deflate_level"], 6);
        assert_eq!(json["client_id"], config.client_id.as_str());
        assert!(json["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("transport-nsq/"));
    }

    #[test]
    fn frame_limit_follows_max_msg_size() {
        let mut config = Config::default();
        assert_eq!(max_frame_size(&config), DEFAULT_MAX_FRAME_SIZE);
        config.max_msg_size = 100;
        assert_eq!(max_frame_size(&config), MIN_FRAME_LIMIT);
        config.max_msg_size = 1 << 20;
        assert_eq!(max_frame_size(&config), (1 << 20) + 30);
    }
}
