//! One TCP client connection: a single task that reads commands, runs them, delivers
//! messages from its channel and sends heartbeats, all through one output buffer.
//!
//! Flushing: responses and errors are flushed as soon as the commands that were read
//! together have run; message frames are buffered and flushed when the buffer reaches the
//! client's `output_buffer_size` or when nothing more can be delivered right now (so a
//! message never waits for `output_buffer_timeout`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nsq_wire::command::{BodyLimits, CommandDecoder, DecodeError};
use nsq_wire::error::ErrorCode;
use nsq_wire::frame::{encode_error, encode_message, encode_response};
use nsq_wire::message::Message;
use nsq_wire::{HEARTBEAT, MAGIC_V2};
use tokio::net::TcpStream;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::channel::Channel;
use super::client::{ClientSettings, ClientShared};
use super::context::NsqdContext;
use super::errors::{body_error, ProtocolError};
use super::options::DEFAULT_OUTPUT_BUFFER_SIZE;
use super::protocol_v2::{Pending, Step};
use super::topic::Topic;
// security
use super::auth::AuthSession;
use super::security::Security;
use super::transport::{Transport, Upgrade};

/// Messages taken from the channel per lock acquisition.
const DELIVERY_BATCH: i64 = 64;
/// Initial read buffer capacity.
const READ_BUFFER: usize = 16 * 1024;
/// Topics a connection remembers for publishing without the global topic map.
const TOPIC_CACHE_LIMIT: usize = 1024;

/// What the connection does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// What woke the connection up.
enum Event {
    Closed,
    Heartbeat,
    ReadTimeout,
    Read(usize),
    Wake,
}

/// The state of one connection (fields are shared with the command handlers in
/// `protocol_v2`).
pub(super) struct Conn {
    pub(super) ctx: NsqdContext,
    pub(super) client: Arc<ClientShared>,
    pub(super) settings: ClientSettings,
    pub(super) sub: Option<(Arc<Topic>, Arc<Channel>)>,
    pub(super) stream: Transport,
    pub(super) security: Arc<Security>,
    pub(super) auth: Option<AuthSession>,
    pub(super) upgrade: Option<Upgrade>,
    pub(super) read_buf: BytesMut,
    pub(super) out: BytesMut,
    decoder: CommandDecoder,
    pending: Option<Pending>,
    topics: HashMap<Bytes, Arc<Topic>>,
    heartbeat: Option<Interval>,
    read_deadline: Option<Instant>,
    scratch: Vec<Message>,
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(
    ctx: NsqdContext,
    stream: TcpStream,
    remote: SocketAddr,
    security: Arc<Security>,
) {
    let _ = stream.set_nodelay(true);
    let client = ctx.register_client(remote);
    let opts = ctx.options();
    let settings = ClientSettings {
        heartbeat_interval: Some(opts.default_heartbeat_interval()),
        msg_timeout: opts.msg_timeout,
        sample_rate: 0,
        output_buffer_size: DEFAULT_OUTPUT_BUFFER_SIZE,
        output_buffer_timeout: opts.output_buffer_timeout,
    };
    let limits = BodyLimits {
        max_msg_size: usize::try_from(opts.max_msg_size).unwrap_or(0),
        max_body_size: usize::try_from(opts.max_body_size).unwrap_or(0),
    };
    let mut conn = Conn {
        ctx: ctx.clone(),
        client: client.clone(),
        settings,
        sub: None,
        stream: Transport::plain(stream),
        security,
        auth: None,
        upgrade: None,
        read_buf: BytesMut::with_capacity(READ_BUFFER),
        out: BytesMut::with_capacity(READ_BUFFER),
        decoder: CommandDecoder::new(limits),
        pending: None,
        topics: HashMap::new(),
        heartbeat: None,
        read_deadline: None,
        scratch: Vec::new(),
    };
    conn.reset_heartbeat();
    tracing::debug!(%remote, client = client.id, "TCP: new client");
    if let Err(err) = conn.run().await {
        if err.kind() == io::ErrorKind::TimedOut {
            // A consumer that stops reading: its output is bounded, so it is dropped.
            tracing::warn!(%remote, client = client.id, %err, "disconnecting client: it does not read its output");
        } else {
            tracing::debug!(%remote, client = client.id, %err, "client connection ended");
        }
    }
    if let Some((topic, channel)) = conn.sub.take() {
        ctx.unsubscribe(&topic, &channel, client.id);
    }
    ctx.unregister_client(client.id);
    tracing::debug!(%remote, client = client.id, "TCP: client closed");
}

impl Conn {
    async fn run(&mut self) -> io::Result<()> {
        if !self.read_magic().await? {
            return Ok(());
        }
        loop {
            if self.process_commands().await? == Flow::Close {
                return self.flush().await;
            }
            self.deliver().await?;
            self.flush().await?;
            match self.wait().await {
                Event::Closed | Event::ReadTimeout => return Ok(()),
                Event::Heartbeat => encode_response(&mut self.out, HEARTBEAT),
                Event::Wake => {}
                Event::Read(0) => {
                    self.handle_eof();
                    return self.flush().await;
                }
                Event::Read(_) => self.touch_read_deadline(),
            }
        }
    }

    /// Reads the 4-byte magic; answers `E_BAD_PROTOCOL` to anything else.
    async fn read_magic(&mut self) -> io::Result<bool> {
        while self.read_buf.len() < MAGIC_V2.len() {
            match self.wait().await {
                Event::Read(0) | Event::Closed | Event::ReadTimeout => return Ok(false),
                // No frames before the client has spoken V2.
                Event::Heartbeat | Event::Read(_) | Event::Wake => {}
            }
        }
        let magic = self.read_buf.split_to(MAGIC_V2.len());
        if magic[..] != MAGIC_V2 {
            tracing::debug!(client = self.client.id, magic = ?&magic[..], "bad protocol magic");
            let err = ProtocolError::new(ErrorCode::BadProtocol, "");
            encode_error(&mut self.out, &err.frame_data());
            self.flush().await?;
            return Ok(false);
        }
        self.touch_read_deadline();
        Ok(true)
    }

    /// Runs every complete command in the read buffer.
    async fn process_commands(&mut self) -> io::Result<Flow> {
        loop {
            let result = if let Some(pending) = self.pending.take() {
                match self.decoder.decode_body(&mut self.read_buf, pending.kind) {
                    Ok(None) => {
                        self.pending = Some(pending);
                        return Ok(Flow::Continue);
                    }
                    Ok(Some(body)) => self.exec_body(pending, body).await,
                    Err(err) => Err(body_error(pending.cmd, err)),
                }
            } else {
                match self.decoder.decode_line(&mut self.read_buf) {
                    Ok(None) => return Ok(Flow::Continue),
                    Err(DecodeError::LineTooLong) => {
                        tracing::debug!(client = self.client.id, "command line too long");
                        return Ok(Flow::Close);
                    }
                    Err(err) => return Err(io::Error::other(err.to_string())),
                    Ok(Some(line)) => match self.exec_line(line).await {
                        Ok(Step::NeedBody(pending)) => {
                            self.pending = Some(pending);
                            continue;
                        }
                        Ok(Step::Done(resp)) => Ok(resp),
                        Err(err) => Err(err),
                    },
                }
            };
            if self.respond(result) == Flow::Close {
                return Ok(Flow::Close);
            }
            if let Some(upgrade) = self.upgrade.take() {
                self.flush().await?;
                self.run_upgrade(upgrade).await?;
            }
            if self.out.len() >= READ_BUFFER {
                self.flush().await?;
            }
        }
    }

    /// Writes a command's response or error; fatal errors end the connection.
    fn respond(&mut self, result: Result<Option<Bytes>, ProtocolError>) -> Flow {
        match result {
            Ok(None) => Flow::Continue,
            Ok(Some(data)) => {
                encode_response(&mut self.out, &data);
                Flow::Continue
            }
            Err(err) => {
                tracing::debug!(client = self.client.id, code = %err.code, text = %err.text_lossy(), "client error");
                encode_error(&mut self.out, &err.frame_data());
                if err.is_fatal() {
                    Flow::Close
                } else {
                    Flow::Continue
                }
            }
        }
    }

    /// The stream ended: a half-read body gets nsqd's "failed to read" error.
    fn handle_eof(&mut self) {
        if let Some(pending) = self.pending.take() {
            let err = self
                .decoder
                .body_eof_error(&mut self.read_buf, pending.kind);
            self.respond(Err(body_error(pending.cmd, err)));
        }
    }

    /// Moves as many messages as the RDY window allows from the channel to the buffer.
    async fn deliver(&mut self) -> io::Result<()> {
        let Some((_, channel)) = &self.sub else {
            return Ok(());
        };
        let channel = channel.clone();
        loop {
            let window = self.client.window();
            if window <= 0 {
                return Ok(());
            }
            self.scratch.clear();
            channel.take(
                &self.client,
                window.min(DELIVERY_BATCH) as usize,
                self.settings.sample_rate,
                self.settings.msg_timeout,
                &mut self.scratch,
            );
            if self.scratch.is_empty() {
                return Ok(());
            }
            for msg in &self.scratch {
                encode_message(&mut self.out, msg);
            }
            self.client.message_count.fetch_add(
                self.scratch.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            if self.out.len() as i64 >= self.settings.output_buffer_size {
                self.flush().await?;
            }
        }
    }

    /// Writes the output buffer (within one heartbeat interval, like nsqd's write deadline).
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let limit = self.settings.heartbeat_interval;
        let write = async {
            match limit {
                Some(limit) => tokio::time::timeout(limit, self.stream.write_all(&self.out))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timeout"))?,
                None => self.stream.write_all(&self.out).await,
            }
        };
        tokio::select! {
            result = write => result?,
            _ = self.client.close.cancelled() => {
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed while writing"));
            }
        }
        self.out.clear();
        if self.out.capacity() > 4 * 1024 * 1024 {
            self.out = BytesMut::with_capacity(READ_BUFFER);
        }
        Ok(())
    }

    async fn wait(&mut self) -> Event {
        let Conn {
            stream,
            read_buf,
            client,
            heartbeat,
            read_deadline,
            ..
        } = self;
        if read_buf.capacity() - read_buf.len() < 1024 {
            read_buf.reserve(READ_BUFFER);
        }
        let tick = async {
            match heartbeat {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        let deadline = async {
            match read_deadline {
                Some(at) => tokio::time::sleep_until(*at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = client.close.cancelled() => Event::Closed,
            _ = deadline => Event::ReadTimeout,
            _ = tick => Event::Heartbeat,
            read = stream.read_buf(read_buf) => Event::Read(read.unwrap_or(0)),
            _ = client.wake.notified() => Event::Wake,
        }
    }

    /// Restarts the heartbeat ticker and read deadline for the current settings.
    pub(super) fn reset_heartbeat(&mut self) {
        self.heartbeat = self.settings.heartbeat_interval.map(|every| {
            let mut interval = tokio::time::interval_at(Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        self.touch_read_deadline();
    }

    /// Allows another 2 × heartbeat interval of silence.
    fn touch_read_deadline(&mut self) {
        self.read_deadline = self
            .settings
            .heartbeat_interval
            .map(|every| Instant::now() + every * 2);
    }

    /// The topic to publish to, from the connection's cache when possible.
    pub(super) fn publish_topic(&mut self, name: &Bytes) -> Result<Arc<Topic>, String> {
        if let Some(topic) = self.topics.get(name) {
            if !topic.is_exiting() {
                return Ok(topic.clone());
            }
        }
        let topic_name = String::from_utf8_lossy(name);
        let topic = self
            .ctx
            .get_or_create_topic(&topic_name)
            .map_err(|err| err.to_string())?;
        if self.topics.len() >= TOPIC_CACHE_LIMIT {
            self.topics.clear();
        }
        self.topics.insert(name.clone(), topic.clone());
        Ok(topic)
    }
}
