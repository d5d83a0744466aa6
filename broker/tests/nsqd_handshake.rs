//! Conformance A/B: magic, framing, IDENTIFY validation and negotiation.

mod common;

use bytes::Bytes;
use common::*;
use nsq_wire::command::Command;
use nsq_wire::frame::Frame;
use nsq_wire::identify::IdentifyRequest;
use tokio::io::AsyncReadExt;

fn identify_bytes(json: &[u8]) -> Vec<u8> {
    let mut out = b"IDENTIFY\n".to_vec();
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(json);
    out
}

#[tokio::test]
async fn wrong_magic_gets_bad_protocol_bytes_then_close() {
    let nsqd = start().await;
    let mut stream = tokio::net::TcpStream::connect(nsqd.tcp_addr())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"  V1")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let mut expected = vec![0, 0, 0, 0x12, 0, 0, 0, 1];
    expected.extend_from_slice(b"E_BAD_PROTOCOL");
    assert_eq!(got, expected);
}

#[tokio::test]
async fn short_magic_then_eof_closes_silently() {
    let nsqd = start().await;
    let mut c = Client::connect_raw(nsqd.tcp_addr()).await;
    c.send_raw(b"  ").await;
    c.shutdown_write().await;
    c.expect_closed().await;
}

#[tokio::test]
async fn identify_without_negotiation_is_ok_bytes() {
    let nsqd = start().await;
    let mut stream = tokio::net::TcpStream::connect(nsqd.tcp_addr())
        .await
        .unwrap();
    let mut req = b"  V2".to_vec();
    req.extend(identify_bytes(b"{}"));
    tokio::io::AsyncWriteExt::write_all(&mut stream, &req)
        .await
        .unwrap();
    let mut got = [0u8; 10];
    tokio::time::timeout(WAIT, stream.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, [0, 0, 0, 6, 0, 0, 0, 0, 0x4F, 0x4B]);
}

#[tokio::test]
async fn feature_negotiation_reply_has_nsqd_keys_and_defaults() {
    let nsqd = start().await;
    let mut c = Client::connect_raw(nsqd.tcp_addr()).await;
    // Magic and IDENTIFY in one write, as pynsq does.
    let mut req = b"  V2".to_vec();
    req.extend(identify_bytes(br#"{"feature_negotiation":true}"#));
    c.send_raw(&req).await;
    let data = c.expect_response_data().await;
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut expected = vec![
        "max_rdy_count",
        "version",
        "max_msg_timeout",
        "msg_timeout",
        "tls_v1",
        "deflate",
        "deflate_level",
        "max_deflate_level",
        "snappy",
        "sample_rate",
        "auth_required",
        "output_buffer_size",
        "output_buffer_timeout",
        "topology_region",
        "topology_zone",
    ];
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    expected.sort();
    assert_eq!(sorted_keys, expected);
    assert!(
        String::from_utf8_lossy(&data).starts_with(r#"{"max_rdy_count":2500,"version":"1.3.0","#)
    );
    assert_eq!(json["max_msg_timeout"], 900000);
    assert_eq!(json["msg_timeout"], 60000);
    assert_eq!(json["deflate_level"], 6);
    assert_eq!(json["max_deflate_level"], 6);
    assert_eq!(json["output_buffer_size"], 16384);
    assert_eq!(json["output_buffer_timeout"], 250);
    assert_eq!(json["tls_v1"], false);
    assert_eq!(json["auth_required"], false);
}

#[tokio::test]
async fn identify_settings_are_echoed() {
    let nsqd = start().await;
    let (_c, resp) = Client::identified(
        nsqd.tcp_addr(),
        IdentifyRequest {
            msg_timeout: Some(5000),
            output_buffer_size: Some(-1),
            sample_rate: Some(50),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(resp.msg_timeout, 5000);
    assert_eq!(resp.output_buffer_size, 1);
    assert_eq!(resp.output_buffer_timeout, 0);
    assert_eq!(resp.sample_rate, 50);
}

#[tokio::test]
async fn compression_disabled_by_flags_keeps_stream_plain() {
    let nsqd = start_with(|o| {
        o.snappy = false;
        o.deflate = false;
    })
    .await;
    let (mut c, resp) = Client::identified(
        nsqd.tcp_addr(),
        IdentifyRequest {
            snappy: Some(true),
            tls_v1: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert!(!resp.snappy);
    assert!(!resp.tls_v1);
    c.publish("t", "plain").await;
}

async fn identify_error(json: &[u8], expected: &str) {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.expect_fatal_after(&identify_bytes(json), expected).await;
}

#[tokio::test]
async fn identify_validation_errors_are_fatal() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"not json",
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            br#"{"heartbeat_interval":"x"}"#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            br#"{"heartbeat_interval":500}"#,
            "E_BAD_BODY IDENTIFY heartbeat interval (500) is invalid",
        ),
        (
            br#"{"output_buffer_size":10}"#,
            "E_BAD_BODY IDENTIFY output buffer size (10) is invalid",
        ),
        (
            br#"{"output_buffer_timeout":1}"#,
            "E_BAD_BODY IDENTIFY output buffer timeout (1) is invalid",
        ),
        (
            br#"{"sample_rate":100}"#,
            "E_BAD_BODY IDENTIFY sample rate (100) is invalid",
        ),
        (
            br#"{"msg_timeout":999}"#,
            "E_BAD_BODY IDENTIFY msg timeout (999) is invalid",
        ),
        (
            br#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#,
            "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression",
        ),
    ];
    for (json, expected) in cases {
        identify_error(json, expected).await;
    }
}

#[tokio::test]
async fn identify_body_size_errors() {
    let nsqd = start_with(|o| o.max_body_size = 100).await;
    let cases: &[(&[u8], &str)] = &[
        (
            b"IDENTIFY\n\x00\x00\x00\x00",
            "E_BAD_BODY IDENTIFY invalid body size 0",
        ),
        (
            b"IDENTIFY\n\x00\x00\x00\x65",
            "E_BAD_BODY IDENTIFY body too big 101 > 100",
        ),
    ];
    expect_fatal_cases(nsqd.tcp_addr(), cases).await;

    let truncated: &[(&[u8], &str)] = &[
        (
            b"IDENTIFY\n\x00\x00",
            "E_BAD_BODY IDENTIFY failed to read body size",
        ),
        (
            b"IDENTIFY\n\x00\x00\x00\x10{}",
            "E_BAD_BODY IDENTIFY failed to read body",
        ),
    ];
    expect_fatal_truncated_cases(nsqd.tcp_addr(), truncated).await;
}

#[tokio::test]
async fn identify_after_sub_is_rejected() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.sub("t", "c").await;
    c.send(&Command::Identify(IdentifyRequest::default())).await;
    c.expect_fatal("E_INVALID cannot IDENTIFY in current state")
        .await;
}

#[tokio::test]
async fn repeated_identify_in_init_is_accepted() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send(&Command::Identify(IdentifyRequest::default())).await;
    c.expect_ok().await;
    c.send(&Command::Identify(IdentifyRequest::default())).await;
    c.expect_ok().await;
}

#[tokio::test]
async fn lower_case_and_empty_commands_are_invalid() {
    let nsqd = start().await;
    let cases: &[(&[u8], &str)] = &[
        (b"pub t\n", "E_INVALID invalid command pub"),
        (b"\n", "E_INVALID invalid command "),
    ];
    expect_fatal_cases(nsqd.tcp_addr(), cases).await;
}

#[tokio::test]
async fn crlf_is_accepted_and_nop_has_no_reply() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send_raw(b"NOP\r\n").await;
    c.expect_silence(200).await;
    c.publish("t", "still open").await;
}

#[tokio::test]
async fn overlong_line_closes_without_error_and_broker_keeps_serving() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send_raw(&vec![b'A'; 20000]).await;
    c.expect_closed().await;
    let mut other = Client::connect(nsqd.tcp_addr()).await;
    other.publish("t", "fine").await;
}

#[tokio::test]
async fn a_16383_byte_line_is_accepted() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let mut line = b"NOP".to_vec();
    line.resize(16383, b' ');
    line.push(b'\n');
    c.send_raw(&line).await;
    c.expect_silence(200).await;
    c.publish("t", "ok").await;
}

#[tokio::test]
async fn ten_pipelined_pubs_get_ten_oks_in_order() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let mut buf = bytes::BytesMut::new();
    for i in 0..10 {
        Command::Pub {
            topic: "t".into(),
            body: Bytes::from(format!("m{i}")),
        }
        .encode(&mut buf);
    }
    c.send_raw(&buf).await;
    for _ in 0..10 {
        c.expect_ok().await;
    }
    c.expect_silence(100).await;
}

#[tokio::test]
async fn tls_required_rejects_plaintext_commands() {
    // TLS can only be required with a certificate (generated here; see tests/security.rs
    // for the upgraded side).
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let nsqd = start_with(|o| {
        o.tls_required = broker::nsqd::TlsRequired::Yes;
        o.tls_cert = Some(dir.path().join("cert.pem"));
        o.tls_key = Some(dir.path().join("key.pem"));
        o.https_address = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let expected = "E_INVALID cannot PUB in current state (TLS required)";
    c.command_fatal(&pub_cmd("t", b"x"), expected).await;
    let (mut c, _) = Client::identified(nsqd.tcp_addr(), IdentifyRequest::default()).await;
    let expected = "E_INVALID cannot NOP in current state (TLS required)";
    c.command_fatal(&Command::Nop, expected).await;
}

#[tokio::test]
async fn auth_is_disabled() {
    let nsqd = start().await;
    let auth = Command::Auth(Bytes::from_static(b"secret"));
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.command_fatal(&auth, "E_AUTH_DISABLED AUTH disabled")
        .await;

    let mut c = Client::connect(nsqd.tcp_addr()).await;
    let expected = "E_INVALID AUTH invalid number of parameters";
    c.expect_fatal_after(b"AUTH x\n\x00\x00\x00\x01s", expected)
        .await;

    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.sub("t", "c").await;
    c.command_fatal(&auth, "E_INVALID cannot AUTH in current state")
        .await;
}

#[tokio::test]
async fn heartbeats_arrive_and_nop_keeps_connection_alive() {
    let nsqd = start().await;
    let mut c = Client::with_heartbeat(nsqd.tcp_addr(), 1000).await;
    let start = tokio::time::Instant::now();
    let mut beats = 0;
    while start.elapsed() < std::time::Duration::from_millis(3500) {
        match c.read_frame().await {
            Some(frame) if frame.is_heartbeat() => {
                beats += 1;
                c.send(&Command::Nop).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(beats >= 3, "got {beats} heartbeats");
    c.publish("t", "alive").await;
}

#[tokio::test]
async fn silent_client_is_disconnected_after_two_intervals() {
    let nsqd = start().await;
    let mut c = Client::with_heartbeat(nsqd.tcp_addr(), 1000).await;
    let started = tokio::time::Instant::now();
    loop {
        match c.read_frame().await {
            Some(Frame::Response(data)) if &data[..] == b"_heartbeat_" => continue,
            None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(1900));
}
