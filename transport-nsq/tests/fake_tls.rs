//! TLS negotiated through IDENTIFY (`tls_v1`), against a fake nsqd that upgrades with
//! rustls: trusted through `tls_root_ca_file`, rejected without it, and accepted with
//! `tls_insecure_skip_verify`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::fake::{id_text, message, FakeNsqd, IDENTIFY_REPLY, WAIT};
use common::{eventually, fast_config, init_tracing};
use nsq_wire::frame::Frame;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use transport_nsq::{Config, Consumer, HandlerError, Message, Producer};

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

fn tls_reply() -> String {
    IDENTIFY_REPLY.replace("\"tls_v1\":false", "\"tls_v1\":true")
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
    let consumer = Consumer::builder("t", "c")
        .config(config)
        .nsqd_address(fake.addr.clone())
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap();
    let mut conn = fake.accept().await;
    let identify = conn.handshake_with(tls_reply().as_bytes()).await;
    assert_eq!(identify["tls_v1"], true);
    let tls = acceptor().accept(conn.into_tcp()).await.unwrap();
    let (read, mut write) = tokio::io::split(tls);
    let mut lines = BufReader::new(read);
    let ok = encode(Frame::Response(Bytes::from_static(b"OK")));
    write.write_all(&ok).await.unwrap(); // TLS upgrade confirmed
    let mut line = String::new();
    tokio::time::timeout(WAIT, lines.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "SUB t c\n");
    write.write_all(&ok).await.unwrap();
    line.clear();
    lines.read_line(&mut line).await.unwrap();
    assert_eq!(line, "RDY 1\n");
    write
        .write_all(&encode(message(7, 1, b"secret body")))
        .await
        .unwrap();
    line.clear();
    lines.read_line(&mut line).await.unwrap();
    assert_eq!(line, format!("FIN {}\n", id_text(7)));
    eventually(WAIT, || consumer.stats().messages_finished == 1).await;
    consumer.drain(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn untrusted_certificate_fails_and_the_consumer_retries() {
    init_tracing();
    let mut fake = FakeNsqd::start().await;
    // Default trust roots: the self-signed fixture certificate is not trusted.
    let consumer = Consumer::builder("t", "c")
        .config(tls_config())
        .nsqd_address(fake.addr.clone())
        .handler(|_m: Message| async { Ok::<_, HandlerError>(()) })
        .start()
        .await
        .unwrap();
    for _ in 0..2 {
        let mut conn = fake.accept().await;
        conn.handshake_with(tls_reply().as_bytes()).await;
        assert!(acceptor().accept(conn.into_tcp()).await.is_err());
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
    let p = producer.clone();
    let publish = tokio::spawn(async move { p.publish("t", "over tls").await });
    let mut conn = fake.accept().await;
    conn.handshake_with(tls_reply().as_bytes()).await;
    let mut tls = acceptor().accept(conn.into_tcp()).await.unwrap();
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
    tokio::time::timeout(WAIT, publish)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
