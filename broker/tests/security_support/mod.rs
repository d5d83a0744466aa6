//! Test helpers for TLS/compression/AUTH: certificates generated with rcgen at test time
//! (no committed keys), a protocol-V2 client that can upgrade its stream, and a loopback
//! auth server (axum) speaking NSQ's auth protocol.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use nsq_wire::command::Command;
use nsq_wire::compress::{Compressor, Decompressor};
use nsq_wire::frame::{Frame, FrameDecoder};
use nsq_wire::identify::IdentifyResponse;
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

// A test crate may load this file through several support modules.
#[allow(clippy::duplicate_mod)]
#[path = "../embedded/mod.rs"]
mod embedded;
#[allow(unused_imports)]
pub use embedded::*;

/// Upper bound for any single wait.
pub const WAIT: Duration = Duration::from_secs(5);

/// A CA plus a server certificate (localhost, 127.0.0.1) and a client certificate, as
/// PEM files in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub ca_der: CertificateDer<'static>,
    pub client_chain: Vec<CertificateDer<'static>>,
    pub client_key_der: Vec<u8>,
}

impl Pki {
    /// Generates everything; the client certificate's CN is `client_cn`.
    pub fn generate(client_cn: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "nsq test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, client_cn);
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Pki {
            ca_pem: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            ca_der: ca.der().clone(),
            client_chain: vec![client.der().clone()],
            client_key_der: client_key.serialize_der(),
            dir,
        }
    }

    /// A rustls client config trusting the CA, optionally presenting the client cert.
    pub fn client_config(&self, with_client_cert: bool) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(broker::nsqd::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_client_cert {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.client_key_der.clone()));
            builder
                .with_client_auth_cert(self.client_chain.clone(), key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

/// `GET /stats?format=json&<query>` of the nsqd whose HTTP address is `http`.
pub async fn stats_json(http: SocketAddr, query: &str) -> serde_json::Value {
    let url = format!("http://{http}/stats?format=json&{query}");
    let response = tokio::time::timeout(WAIT, reqwest::get(url))
        .await
        .expect("stats timed out")
        .unwrap();
    response.json().await.unwrap()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A protocol-V2 client whose stream can be upgraded like go-nsq's.
pub struct Client {
    io: Box<dyn Io>,
    compressor: Compressor,
    inflate: Option<Decompressor>,
    raw: BytesMut,
    plain: BytesMut,
    frames: FrameDecoder,
}

impl Client {
    /// Connects and sends the V2 magic.
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&nsq_wire::MAGIC_V2).await.unwrap();
        Client {
            io: Box::new(stream),
            compressor: Compressor::None,
            inflate: None,
            raw: BytesMut::new(),
            plain: BytesMut::new(),
            frames: FrameDecoder::new(1 << 20),
        }
    }

    pub async fn send(&mut self, cmd: Command) {
        let mut plain = BytesMut::new();
        cmd.encode(&mut plain);
        let mut wire = BytesMut::new();
        self.compressor.compress(&plain, &mut wire).unwrap();
        self.io.write_all(&wire).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// The next frame other than a heartbeat; `None` when the server closed.
    pub async fn frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, async {
            loop {
                // Without a decompressor, frames are cut straight from the raw bytes so
                // nothing after the IDENTIFY reply is consumed before an upgrade.
                let source = if let Some(inflate) = &mut self.inflate {
                    inflate
                        .decompress(&mut self.raw, &mut self.plain, usize::MAX)
                        .unwrap();
                    &mut self.plain
                } else {
                    &mut self.raw
                };
                if let Some(frame) = self.frames.decode(source).unwrap() {
                    if frame.is_heartbeat() {
                        continue;
                    }
                    return Some(frame);
                }
                match self.io.read_buf(&mut self.raw).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("timed out waiting for a frame")
    }

    /// Expects a response frame and returns its text.
    pub async fn response(&mut self) -> String {
        match self.frame().await {
            Some(Frame::Response(data)) => String::from_utf8_lossy(&data).into_owned(),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Expects an error frame and returns its text.
    pub async fn error(&mut self) -> String {
        match self.frame().await {
            Some(Frame::Error(data)) => String::from_utf8_lossy(&data).into_owned(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Expects the server to close the connection.
    pub async fn closed(&mut self) {
        let frame = self.frame().await;
        assert!(frame.is_none(), "expected close, got {frame:?}");
    }

    /// Sends `AUTH` with `secret`.
    pub async fn send_auth(&mut self, secret: &'static [u8]) {
        self.send(Command::Auth(bytes::Bytes::from_static(secret)))
            .await;
    }

    /// IDENTIFY with a raw JSON body; returns the negotiated reply.
    pub async fn identify(&mut self, json: &str) -> IdentifyResponse {
        self.send(Command::Identify(
            serde_json::from_str(json).expect("identify json"),
        ))
        .await;
        let text = self.response().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The TLS client handshake, then expects `OK` over TLS.
    pub async fn start_tls(&mut self, config: Arc<rustls::ClientConfig>) {
        assert!(self.raw.is_empty(), "read past the IDENTIFY reply");
        let io = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from("localhost").unwrap();
        let tls = tokio::time::timeout(WAIT, connector.connect(name, BoxedIo(io)))
            .await
            .unwrap()
            .unwrap();
        self.io = Box::new(tls);
        assert_eq!(self.response().await, "OK");
    }

    pub async fn start_snappy(&mut self) {
        self.compressor = Compressor::snappy();
        self.inflate = Some(Decompressor::snappy());
        assert_eq!(self.response().await, "OK");
    }

    pub async fn start_deflate(&mut self, level: u8) {
        self.compressor = Compressor::deflate(level);
        self.inflate = Some(Decompressor::deflate());
        assert_eq!(self.response().await, "OK");
    }
}

/// `Box<dyn Io>` as a concrete type for the TLS connector.
struct BoxedIo(Box<dyn Io>);

impl AsyncRead for BoxedIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoxedIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A loopback NSQ auth server: secret `good` may publish and subscribe everywhere,
/// `pubonly` may publish to `^allowed$` only, `empty` has no authorizations, anything
/// else is refused with 403. Records every query string.
pub struct AuthServer {
    pub addr: SocketAddr,
    pub queries: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AuthServer {
    pub async fn start(ttl: i64) -> AuthServer {
        use axum::extract::{Query, RawQuery, State};
        use axum::http::StatusCode;
        use axum::response::IntoResponse;

        type Shared = (Arc<Mutex<Vec<String>>>, i64);
        async fn auth(
            State((queries, ttl)): State<Shared>,
            RawQuery(raw): RawQuery,
            Query(params): Query<HashMap<String, String>>,
        ) -> axum::response::Response {
            queries.lock().push(raw.unwrap_or_default());
            let all = serde_json::json!([{"topic": ".*", "channels": [".*"], "permissions": ["subscribe", "publish"]}]);
            let pubonly = serde_json::json!([{"topic": "^allowed$", "channels": [".*"], "permissions": ["publish"]}]);
            let authorizations = match params.get("secret").map(String::as_str) {
                Some("good") => all,
                Some("pubonly") => pubonly,
                Some("empty") => serde_json::json!([]),
                _ => return (StatusCode::FORBIDDEN, "NOT_AUTHORIZED").into_response(),
            };
            axum::Json(serde_json::json!({
                "ttl": ttl,
                "identity": "tester",
                "identity_url": "http://example.invalid/tester",
                "authorizations": authorizations,
            }))
            .into_response()
        }

        let queries = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/auth", axum::routing::get(auth))
            .with_state((queries.clone(), ttl));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AuthServer {
            addr,
            queries,
            task,
        }
    }
}
