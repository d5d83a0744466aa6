//! TLS negotiated through IDENTIFY (`tls_v1`), against a fake nsqd that upgrades with
//! rustls: trusted through `tls_root_ca_file`, rejected without it, and accepted with
//! `tls_insecure_skip_verify`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::fake::{id_text, identify_reply, message, FakeNsqd, WAIT};
use common::{acking_consumer, eventually, fast_config, init_tracing, join_within, spawn_publish};
use nsq_wire::frame::Frame;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use transport_nsq::{Config, Producer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn acceptor() -> TlsAcceptor {
    let certs = CertificateDer::pem_file_iter(fixture("tls-cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("tls-key.pem")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Accepts the next connection, answers its IDENTIFY with `tls_v1` on and upgrades it with
/// the fixture certificate; returns the client's IDENTIFY JSON and the TLS outcome.
async fn accept_tls(
    fake: &mut FakeNsqd,
) -> (serde_json::Value, std::io::Result<TlsStream<TcpStream>>) {
    let mut conn = fake.accept().await;
    let identify = conn
        .handshake_with(identify_reply("tls_v1", "true").as_bytes())
        .await;
    (identify, acceptor().accept(conn.into_tcp()).await)
}

/// The next line the client sends (within WAIT).
async fn read_line(lines: &mut (impl AsyncBufRead + Unpin)) -> String {
    let mut line = String::new();
    tokio::time::timeout(WAIT, lines.read_line(&mut line))
        .await
        .expect("no line in time")
        .unwrap();
    line
}

fn encode(frame: Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    frame.encode(&mut buf);
    buf
}

fn tls_config() -> Config {
    let mut config = fast_config();
    config.tls_v1 = true;
    config
}

#[tokio::test]
async fn consumer_over_tls_trusting_a_ca_file() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = tls_config();
    config.tls_root_ca_file = Some(fixture("tls-cert.pem"));
    let consumer = acking_consumer(fake.consumer_builder(config)).await;
    let (identify, tls) = accept_tls(&mut fake).await;
    assert_eq!(identify["tls_v1"], true);
    let (read, mut write) = tokio::io::split(tls.unwrap());
    let mut lines = BufReader::new(read);
    let ok = encode(Frame::Response(Bytes::from_static(b"OK")));
    write.write_all(&ok).await.unwrap(); // TLS upgrade confirmed
    assert_eq!(read_line(&mut lines).await, "SUB t c\n");
    write.write_all(&ok).await.unwrap();
    assert_eq!(read_line(&mut lines).await, "RDY 1\n");
    write
        .write_all(&encode(message(7, 1, b"secret body")))
        .await
        .unwrap();
    assert_eq!(read_line(&mut lines).await, format!("FIN {}\n", id_text(7)));
    eventually(WAIT, || consumer.stats().messages_finished == 1).await;
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn untrusted_certificate_fails_and_the_consumer_retries() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    // Default trust roots: the self-signed fixture certificate is not trusted.
    let consumer = acking_consumer(fake.consumer_builder(tls_config())).await;
    for _ in 0..2 {
        assert!(accept_tls(&mut fake).await.1.is_err());
    }
    assert_eq!(consumer.stats().connections, 0);
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn producer_with_insecure_skip_verify() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    let mut config = tls_config();
    config.tls_insecure_skip_verify = true;
    let producer = Producer::new([fake.addr.clone()], config).unwrap();
    let publish = spawn_publish(&producer, "t", "over tls");
    let mut tls = accept_tls(&mut fake).await.1.unwrap();
    let ok = encode(Frame::Response(Bytes::from_static(b"OK")));
    tls.write_all(&ok).await.unwrap();
    let mut expected = b"PUB t\n\x00\x00\x00\x08".to_vec();
    expected.extend_from_slice(b"over tls");
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(WAIT, tls.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, expected);
    tls.write_all(&ok).await.unwrap();
    join_within(WAIT, publish).await.unwrap();
}
