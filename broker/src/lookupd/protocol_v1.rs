//! The lookup TCP protocol "V1": one connection from one nsqd.
//!
//! After the 4-byte magic `"  V1"`, the nsqd sends newline-terminated commands (`PING`,
//! `IDENTIFY` + a size-prefixed JSON body, `REGISTER`, `UNREGISTER`). Every reply is
//! `[u32 BE length][data]` with data `OK`, a JSON object, or `"<CODE> <description>"`.
//! Every error is fatal: the error reply is written and the connection closed. When the
//! connection ends, the producer is removed from every registration it was in.

use std::net::SocketAddr;
use std::sync::Arc;

use nsq_wire::lookup::{encode_response, MAGIC_V1};
use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::registry::{PeerFields, PeerInfo, Registration, Registry};
use super::VERSION;

/// Longest command line accepted (Go's is unbounded; ours must not be).
const MAX_LINE_LENGTH: u64 = 64 * 1024;
/// Largest IDENTIFY body accepted (nsqd's default `--max-body-size`).
const MAX_IDENTIFY_BODY: i32 = 5 * 1024 * 1024;

/// A protocol error: the reply text is `"<code> <description>"`; always fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub struct ProtocolError {
    code: &'static str,
    description: String,
}

impl ProtocolError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    fn invalid(description: impl Into<String>) -> Self {
        Self::new("E_INVALID", description)
    }

    fn bad_body(description: &str) -> Self {
        Self::new("E_BAD_BODY", description)
    }
}

/// What the protocol needs to know about the lookupd it runs in.
#[derive(Debug)]
pub(crate) struct ServerInfo {
    pub registry: Registry,
    pub broadcast_address: String,
    pub hostname: String,
    pub tcp_port: u16,
    pub http_port: u16,
}

/// The JSON body of IDENTIFY. Go decodes into a struct, so `null` fields are zero values.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentifyBody {
    hostname: Option<String>,
    broadcast_address: Option<String>,
    tcp_port: Option<i64>,
    http_port: Option<i64>,
    version: Option<String>,
    topology_zone: Option<String>,
    topology_region: Option<String>,
}

impl IdentifyBody {
    fn into_fields(self) -> PeerFields {
        PeerFields {
            hostname: self.hostname.unwrap_or_default(),
            broadcast_address: self.broadcast_address.unwrap_or_default(),
            tcp_port: self.tcp_port.unwrap_or_default(),
            http_port: self.http_port.unwrap_or_default(),
            version: self.version.unwrap_or_default(),
            topology_zone: self.topology_zone.unwrap_or_default(),
            topology_region: self.topology_region.unwrap_or_default(),
        }
    }
}

/// The IDENTIFY reply (keys sorted, as Go's map marshalling produces).
#[derive(Debug, Serialize)]
struct IdentifyReply<'a> {
    broadcast_address: &'a str,
    hostname: &'a str,
    http_port: u16,
    tcp_port: u16,
    version: &'a str,
}

/// One client connection's state.
struct Client {
    remote_address: String,
    peer: Option<Arc<PeerInfo>>,
}

/// Serves one TCP connection until it ends or `shutdown` fires.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    server: Arc<ServerInfo>,
    shutdown: CancellationToken,
) {
    let mut client = Client {
        remote_address: remote.to_string(),
        peer: None,
    };
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    tokio::select! {
        result = run(&mut reader, &mut write_half, &mut client, &server) => {
            if let Err(err) = result {
                tracing::debug!(client = %client.remote_address, %err, "lookup connection ended");
            }
        }
        _ = shutdown.cancelled() => {}
    }
    if let Some(peer) = client.peer.take() {
        for registration in server.registry.remove_producer_everywhere(&peer.id) {
            tracing::info!(
                client = %client.remote_address,
                category = registration.category.as_str(),
                key = %registration.key,
                subkey = %registration.sub_key,
                "DB: client UNREGISTER (connection closed)"
            );
        }
    }
    let _ = write_half.shutdown().await;
}

/// Reads the magic, then commands until EOF or a fatal error (which is answered first).
async fn run<R, W>(
    reader: &mut R,
    writer: &mut W,
    client: &mut Client,
    server: &ServerInfo,
) -> std::io::Result<()>
where
    R: AsyncBufReadExt + AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).await?;
    if magic != MAGIC_V1 {
        tracing::info!(client = %client.remote_address, ?magic, "bad protocol magic");
        return send(writer, b"E_BAD_PROTOCOL").await;
    }
    loop {
        let line = match read_line(reader).await? {
            Line::Command(line) => line,
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let err = ProtocolError::invalid("command line too long");
                return send(writer, err.to_string().as_bytes()).await;
            }
        };
        match execute(&line, reader, client, server).await {
            Ok(reply) => send(writer, &reply).await?,
            Err(err) => {
                tracing::error!(client = %client.remote_address, %err, "lookup protocol error");
                return send(writer, err.to_string().as_bytes()).await;
            }
        }
    }
}

enum Line {
    Command(String),
    Eof,
    TooLong,
}

/// Reads one `\n`-terminated line; a final line without `\n` counts as EOF (as in Go).
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut limited = reader.take(MAX_LINE_LENGTH + 1);
    limited.read_until(b'\n', &mut buf).await?;
    if buf.last() == Some(&b'\n') {
        return Ok(Line::Command(String::from_utf8_lossy(&buf).into_owned()));
    }
    if buf.len() as u64 > MAX_LINE_LENGTH {
        return Ok(Line::TooLong);
    }
    Ok(Line::Eof)
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, data: &[u8]) -> std::io::Result<()> {
    writer.write_all(&encode_response(data)).await?;
    writer.flush().await
}

async fn execute<R>(
    line: &str,
    reader: &mut R,
    client: &mut Client,
    server: &ServerInfo,
) -> Result<Vec<u8>, ProtocolError>
where
    R: AsyncRead + Unpin,
{
    let params: Vec<&str> = line.trim().split(' ').collect();
    let (name, args) = params.split_first().unwrap_or((&"", &[]));
    match *name {
        "PING" => Ok(ping(client)),
        "IDENTIFY" => identify(reader, client, server).await,
        "REGISTER" => register(args, client, server),
        "UNREGISTER" => unregister(args, client, server),
        other => Err(ProtocolError::invalid(format!("invalid command {other}"))),
    }
}

fn ping(client: &Client) -> Vec<u8> {
    if let Some(peer) = &client.peer {
        peer.touch();
    }
    b"OK".to_vec()
}

async fn identify<R: AsyncRead + Unpin>(
    reader: &mut R,
    client: &mut Client,
    server: &ServerInfo,
) -> Result<Vec<u8>, ProtocolError> {
    if client.peer.is_some() {
        return Err(ProtocolError::invalid("cannot IDENTIFY again"));
    }
    let size = reader
        .read_i32()
        .await
        .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to read body size"))?;
    if size <= 0 || size > MAX_IDENTIFY_BODY {
        return Err(ProtocolError::bad_body("IDENTIFY failed to read body size"));
    }
    let mut body = vec![0u8; size as usize];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to read body"))?;
    let decoded: Option<IdentifyBody> = serde_json::from_slice(&body)
        .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to decode JSON body"))?;
    let fields = decoded.unwrap_or_default().into_fields();
    if fields.broadcast_address.is_empty()
        || fields.tcp_port == 0
        || fields.http_port == 0
        || fields.version.is_empty()
    {
        return Err(ProtocolError::bad_body("IDENTIFY missing fields"));
    }
    let peer = Arc::new(PeerInfo::new(client.remote_address.clone(), fields));
    tracing::info!(
        client = %client.remote_address,
        address = %peer.broadcast_address,
        tcp = peer.tcp_port,
        http = peer.http_port,
        version = %peer.version,
        "IDENTIFY"
    );
    server.registry.add_producer(Registration::client(), &peer);
    client.peer = Some(peer);
    let reply = IdentifyReply {
        broadcast_address: &server.broadcast_address,
        hostname: &server.hostname,
        http_port: server.http_port,
        tcp_port: server.tcp_port,
        version: VERSION,
    };
    Ok(serde_json::to_vec(&reply).unwrap_or_else(|_| b"OK".to_vec()))
}

fn register(args: &[&str], client: &Client, server: &ServerInfo) -> Result<Vec<u8>, ProtocolError> {
    let peer = identified(client)?;
    let (topic, channel) = topic_and_channel("REGISTER", args)?;
    tracing::info!(client = %client.remote_address, topic, channel, "REGISTER");
    server.registry.register(peer, topic, channel);
    Ok(b"OK".to_vec())
}

fn unregister(
    args: &[&str],
    client: &Client,
    server: &ServerInfo,
) -> Result<Vec<u8>, ProtocolError> {
    let peer = identified(client)?;
    let (topic, channel) = topic_and_channel("UNREGISTER", args)?;
    tracing::info!(client = %client.remote_address, topic, channel, "UNREGISTER");
    server.registry.unregister(&peer.id, topic, channel);
    Ok(b"OK".to_vec())
}

fn identified(client: &Client) -> Result<&Arc<PeerInfo>, ProtocolError> {
    client
        .peer
        .as_ref()
        .ok_or_else(|| ProtocolError::invalid("client must IDENTIFY"))
}

/// Go's `getTopicChan`: the topic is required, the channel optional; both validated.
fn topic_and_channel<'a>(
    command: &str,
    args: &[&'a str],
) -> Result<(&'a str, &'a str), ProtocolError> {
    let Some(&topic) = args.first() else {
        return Err(ProtocolError::invalid(format!(
            "{command} insufficient number of params"
        )));
    };
    let channel = args.get(1).copied().unwrap_or("");
    if !is_valid_topic_name(topic) {
        return Err(ProtocolError::new(
            "E_BAD_TOPIC",
            format!("{command} topic name '{topic}' is not valid"),
        ));
    }
    if !channel.is_empty() && !is_valid_channel_name(channel) {
        return Err(ProtocolError::new(
            "E_BAD_CHANNEL",
            format!("{command} channel name '{channel}' is not valid"),
        ));
    }
    Ok((topic, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_and_channel_errors_match_go() {
        assert_eq!(
            topic_and_channel("REGISTER", &[]).unwrap_err().to_string(),
            "E_INVALID REGISTER insufficient number of params"
        );
        assert_eq!(
            topic_and_channel("UNREGISTER", &["bad!"])
                .unwrap_err()
                .to_string(),
            "E_BAD_TOPIC UNREGISTER topic name 'bad!' is not valid"
        );
        assert_eq!(
            topic_and_channel("REGISTER", &["t", "c c!"])
                .unwrap_err()
                .to_string(),
            "E_BAD_CHANNEL REGISTER channel name 'c c!' is not valid"
        );
        assert_eq!(
            topic_and_channel("REGISTER", &["t", "c", "extra"]).unwrap(),
            ("t", "c")
        );
        assert_eq!(topic_and_channel("REGISTER", &["t"]).unwrap(), ("t", ""));
    }

    #[test]
    fn identify_body_accepts_null_and_ignores_unknown_fields() {
        let body: Option<IdentifyBody> = serde_json::from_slice(b"null").unwrap();
        assert!(body.is_none());
        let body: Option<IdentifyBody> =
            serde_json::from_slice(br#"{"tcp_port":1,"remote_address":"x","extra":[1]}"#).unwrap();
        assert_eq!(body.unwrap().into_fields().tcp_port, 1);
        assert!(serde_json::from_slice::<Option<IdentifyBody>>(b"{\"tcp_port\":\"1\"}").is_err());
    }
}
