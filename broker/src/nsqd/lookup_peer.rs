//! One nsqd → nsqlookupd connection (Go's `lookupPeer`): dial, IDENTIFY, register every
//! topic and channel, then send commands and read replies with short deadlines.
//!
//! Any failed write or read closes the connection; the next command reconnects and re-runs
//! the connect routine, so a restarted lookupd gets the full registration again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use nsq_wire::lookup::{is_error_response, ClientCodec, LookupCommand, MAGIC_V1};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

/// Go nsqd's dial timeout and per-command read/write deadline for lookupd connections.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// What nsqd tells lookupd about itself in IDENTIFY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupIdentity {
    /// `--broadcast-address`.
    pub broadcast_address: String,
    /// OS hostname.
    pub hostname: String,
    /// `--broadcast-http-port` or the bound HTTP port.
    pub http_port: u16,
    /// `--broadcast-tcp-port` or the bound TCP port.
    pub tcp_port: u16,
    /// `--topology-region`.
    pub topology_region: String,
    /// `--topology-zone`.
    pub topology_zone: String,
    /// nsqd's version.
    pub version: String,
}

/// What a lookupd said about itself in its IDENTIFY reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupdInfo {
    /// lookupd's TCP port.
    pub tcp_port: i64,
    /// lookupd's HTTP port (used to query `/channels`).
    pub http_port: i64,
    /// lookupd's version.
    pub version: String,
    /// lookupd's `--broadcast-address` (used to query `/channels`).
    pub broadcast_address: String,
}

/// The state of one configured lookupd, as nsqd sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupPeerStatus {
    /// The configured `host:port`.
    pub address: String,
    /// Whether the connection is currently up.
    pub connected: bool,
    /// The lookupd's IDENTIFY reply, once received.
    pub info: Option<LookupdInfo>,
}

/// What the lookupd client needs from the nsqd engine.
pub trait NsqdTopology: Send + Sync + 'static {
    /// Every topic with its channels (an empty list for a topic without channels); sent as
    /// REGISTERs after every (re)connect.
    fn topics_and_channels(&self) -> Vec<(String, Vec<String>)>;
    /// A new receiver of topic/channel lifecycle events.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<super::events::NsqdEvent>;
    /// Creates these channels on `topic` if it still exists (channel pre-creation).
    fn create_channels(&self, topic: &str, channels: &[String]);
}

/// Why a command to a lookupd failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Connecting failed or timed out.
    #[error("connect to {address} failed: {reason}")]
    Connect {
        /// The lookupd address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// A write or read failed, timed out, or the connection was closed.
    #[error("{0}")]
    Io(String),
    /// The IDENTIFY reply was refused or unparseable.
    #[error("IDENTIFY rejected: {0}")]
    Identify(String),
    /// The registration replay after connecting failed.
    #[error("connect routine failed: {0}")]
    Registration(String),
}

/// One lookupd connection and its shared status.
pub(crate) struct LookupPeer {
    address: String,
    identity: Arc<LookupIdentity>,
    source: Arc<dyn NsqdTopology>,
    max_body_size: usize,
    connection: Option<Framed<TcpStream, ClientCodec>>,
    status: Arc<RwLock<LookupPeerStatus>>,
}

impl LookupPeer {
    pub fn new(
        address: String,
        identity: Arc<LookupIdentity>,
        source: Arc<dyn NsqdTopology>,
        max_body_size: usize,
    ) -> Self {
        let status = Arc::new(RwLock::new(LookupPeerStatus {
            address: address.clone(),
            connected: false,
            info: None,
        }));
        Self {
            address,
            identity,
            source,
            max_body_size,
            connection: None,
            status,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn status(&self) -> Arc<RwLock<LookupPeerStatus>> {
        Arc::clone(&self.status)
    }

    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Connects (running the connect routine) if needed, then sends `command` if any and
    /// returns its reply.
    pub async fn command(
        &mut self,
        command: Option<LookupCommand>,
    ) -> Result<Option<Bytes>, PeerError> {
        if self.connection.is_none() {
            self.connect().await?;
        }
        match command {
            Some(command) => self.round_trip(command).await.map(Some),
            None => Ok(None),
        }
    }

    /// Closes the connection; the next command reconnects.
    pub fn close(&mut self) {
        if self.connection.take().is_some() {
            tracing::info!(lookupd = %self.address, "LOOKUPD: connection closed");
        }
        self.status.write().connected = false;
    }

    async fn connect(&mut self) -> Result<(), PeerError> {
        tracing::info!(lookupd = %self.address, "LOOKUP connecting");
        let connect_error = |reason: String| PeerError::Connect {
            address: self.address.clone(),
            reason,
        };
        let mut stream = timeout(IO_TIMEOUT, TcpStream::connect(self.address.as_str()))
            .await
            .map_err(|_| connect_error("timed out".into()))?
            .map_err(|err| connect_error(err.to_string()))?;
        timeout(IO_TIMEOUT, stream.write_all(&MAGIC_V1))
            .await
            .map_err(|_| connect_error("timed out writing magic".into()))?
            .map_err(|err| connect_error(err.to_string()))?;
        self.connection = Some(Framed::new(stream, ClientCodec::new(self.max_body_size)));
        self.status.write().connected = true;
        self.identify().await?;
        self.register_everything().await
    }

    async fn identify(&mut self) -> Result<(), PeerError> {
        let body = serde_json::to_vec(&*self.identity)
            .map_err(|err| PeerError::Identify(err.to_string()))?;
        let reply = self
            .round_trip(LookupCommand::Identify(Bytes::from(body)))
            .await?;
        if &reply[..] == b"E_INVALID" {
            self.close();
            return Err(PeerError::Identify("lookupd returned E_INVALID".into()));
        }
        let info: LookupdInfo = match serde_json::from_slice(&reply) {
            Ok(info) => info,
            Err(_) => {
                self.close();
                let text = String::from_utf8_lossy(&reply).into_owned();
                return Err(PeerError::Identify(format!("unparseable reply {text:?}")));
            }
        };
        if info.broadcast_address.is_empty() {
            tracing::error!(lookupd = %self.address, "LOOKUPD: no broadcast address");
        }
        tracing::info!(lookupd = %self.address, ?info, "LOOKUPD: peer info");
        self.status.write().info = Some(info);
        Ok(())
    }

    /// Go's connect callback: `REGISTER t` for a topic without channels, else
    /// `REGISTER t c` for each channel. Stops at the first failure.
    async fn register_everything(&mut self) -> Result<(), PeerError> {
        for (topic, channels) in self.source.topics_and_channels() {
            let commands: Vec<LookupCommand> = if channels.is_empty() {
                vec![LookupCommand::register(&topic, None)]
            } else {
                channels
                    .iter()
                    .map(|channel| LookupCommand::register(&topic, Some(channel)))
                    .collect()
            };
            for command in commands {
                tracing::info!(lookupd = %self.address, %command, "LOOKUPD");
                let reply = self.round_trip(command).await?;
                if is_error_response(&reply) {
                    self.close();
                    let text = String::from_utf8_lossy(&reply).into_owned();
                    return Err(PeerError::Registration(text));
                }
            }
        }
        Ok(())
    }

    /// Writes one command and reads one reply, each bounded by [`IO_TIMEOUT`]; any
    /// failure closes the connection. An error reply also closes it (lookupd closes its
    /// side after every error).
    async fn round_trip(&mut self, command: LookupCommand) -> Result<Bytes, PeerError> {
        let result = self.try_round_trip(command).await;
        match &result {
            Ok(reply) if is_error_response(reply) => self.close(),
            Err(_) => self.close(),
            Ok(_) => {}
        }
        result
    }

    async fn try_round_trip(&mut self, command: LookupCommand) -> Result<Bytes, PeerError> {
        let connection = self
            .connection
            .as_mut()
            .ok_or_else(|| PeerError::Io("not connected".into()))?;
        let name = command.to_string();
        timeout(IO_TIMEOUT, connection.send(command))
            .await
            .map_err(|_| PeerError::Io(format!("{name}: write timed out")))?
            .map_err(|err| PeerError::Io(format!("{name}: write failed: {err}")))?;
        match timeout(IO_TIMEOUT, connection.next()).await {
            Err(_) => Err(PeerError::Io(format!("{name}: read timed out"))),
            Ok(None) => Err(PeerError::Io(format!("{name}: connection closed"))),
            Ok(Some(Err(err))) => Err(PeerError::Io(format!("{name}: read failed: {err}"))),
            Ok(Some(Ok(reply))) => Ok(reply),
        }
    }
}
