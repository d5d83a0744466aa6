//! TLS, snappy, deflate and AUTH on the embedded nsqd, with a raw upgrading client:
//! negotiation replies, upgrades in nsqd's order, `--tls-required`, client certificates,
//! the auth server protocol and its error texts, and `--max-connections`.

mod security_support;

use std::time::Duration;

use broker::nsqd::{Nsqd, NsqdOptions, TlsRequired};
use bytes::Bytes;
use nsq_wire::command::Command;
use nsq_wire::frame::Frame;
use security_support::{launch_nsqd, nsqd_opts as options, stats_json, AuthServer, Client, Pki};

fn tls_options(pki: &Pki) -> NsqdOptions {
    NsqdOptions {
        tls_cert: Some(pki.server_cert.clone()),
        tls_key: Some(pki.server_key.clone()),
        https_address: "127.0.0.1:0".parse().unwrap(),
        ..options()
    }
}

/// Starts an nsqd with `pki`'s server certificate and `--tls-required=<required>`.
async fn start_tls_required(pki: &Pki, required: TlsRequired) -> Nsqd {
    launch_nsqd(NsqdOptions {
        tls_required: required,
        ..tls_options(pki)
    })
    .await
}

/// Starts an nsqd asking the auth server at `address` (with `options()` otherwise).
async fn start_with_auth(address: String) -> Nsqd {
    launch_nsqd(NsqdOptions {
        auth_http_address: vec![address],
        ..options()
    })
    .await
}

/// `GET /ping` over plain HTTP.
async fn plain_ping(nsqd: &Nsqd) -> reqwest::Response {
    reqwest::get(format!("http://{}/ping", nsqd.http_addr()))
        .await
        .unwrap()
}

/// A client that sent `AUTH pubonly` and got its reply.
async fn pubonly_client(nsqd: &Nsqd) -> Client {
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    client.send_auth(b"pubonly").await;
    client.response().await;
    client
}

fn publish(topic: &str, body: &'static [u8]) -> Command {
    Command::Pub {
        topic: topic.into(),
        body: Bytes::from_static(body),
    }
}

fn sub(topic: &str, channel: &str) -> Command {
    Command::Sub {
        topic: topic.into(),
        channel: channel.into(),
    }
}

/// Publishes, subscribes and receives one message on an identified (upgraded) client.
async fn round_trip(client: &mut Client, topic: &str) {
    client.send(publish(topic, b"secret payload")).await;
    assert_eq!(client.response().await, "OK");
    client.send(sub(topic, "c")).await;
    assert_eq!(client.response().await, "OK");
    client.send(Command::Rdy(1)).await;
    match client.frame().await {
        Some(Frame::Message(msg)) => assert_eq!(&msg.body[..], b"secret payload"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_then_snappy_round_trip() {
    let pki = Pki::generate("c1");
    let nsqd = launch_nsqd(tls_options(&pki)).await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"tls_v1":true,"snappy":true}"#)
        .await;
    assert!(reply.tls_v1 && reply.snappy && !reply.deflate && !reply.auth_required);
    client.start_tls(pki.client_config(false)).await;
    client.start_snappy().await;
    round_trip(&mut client, "tls_snappy").await;
    let stats = stats_json(nsqd.http_addr(), "topic=tls_snappy").await;
    let c = &stats["topics"][0]["channels"][0]["clients"][0];
    assert_eq!(c["tls"], true, "{stats}");
    assert_eq!(c["snappy"], true);
    assert!(c["tls_version"].as_str().unwrap().starts_with("TLS1."));
    nsqd.shutdown().await;
}

#[tokio::test]
async fn tls_then_deflate_round_trip() {
    let pki = Pki::generate("c1");
    let nsqd = launch_nsqd(tls_options(&pki)).await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"tls_v1":true,"deflate":true,"deflate_level":9}"#)
        .await;
    assert!(reply.tls_v1 && reply.deflate);
    assert_eq!(reply.deflate_level, 6, "clamped to --max-deflate-level");
    client.start_tls(pki.client_config(false)).await;
    client.start_deflate(6).await;
    round_trip(&mut client, "tls_deflate").await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn snappy_and_deflate_without_tls() {
    let nsqd = launch_nsqd(options()).await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"snappy":true,"tls_v1":true}"#)
        .await;
    assert!(!reply.tls_v1, "no certificate configured: TLS not offered");
    client.start_snappy().await;
    round_trip(&mut client, "plain_snappy").await;

    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"deflate":true,"deflate_level":1}"#)
        .await;
    assert_eq!(reply.deflate_level, 1);
    client.start_deflate(1).await;
    round_trip(&mut client, "plain_deflate").await;

    let mut client = Client::connect(nsqd.tcp_addr()).await;
    client
        .send(Command::Identify(
            serde_json::from_str(r#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#)
                .unwrap(),
        ))
        .await;
    assert_eq!(
        client.error().await,
        "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression"
    );
    client.closed().await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn compression_can_be_disabled_by_flags() {
    let nsqd = launch_nsqd(NsqdOptions {
        snappy: false,
        deflate: false,
        ..options()
    })
    .await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"snappy":true}"#)
        .await;
    assert!(!reply.snappy);
    // No upgrade: plain commands keep working.
    client.send(Command::Nop).await;
    client.send(publish("t", b"x")).await;
    assert_eq!(client.response().await, "OK");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn tls_required_refuses_plaintext_commands() {
    let pki = Pki::generate("c1");
    let nsqd = start_tls_required(&pki, TlsRequired::Yes).await;
    let mut plain = Client::connect(nsqd.tcp_addr()).await;
    plain.identify(r#"{"feature_negotiation":true}"#).await;
    plain.send(publish("t", b"x")).await;
    assert_eq!(
        plain.error().await,
        "E_INVALID cannot PUB in current state (TLS required)"
    );
    plain.closed().await;

    let mut plain = Client::connect(nsqd.tcp_addr()).await;
    plain.send(sub("t", "c")).await;
    assert_eq!(
        plain.error().await,
        "E_INVALID cannot SUB in current state (TLS required)"
    );

    let mut secure = Client::connect(nsqd.tcp_addr()).await;
    secure
        .identify(r#"{"feature_negotiation":true,"tls_v1":true}"#)
        .await;
    secure.start_tls(pki.client_config(false)).await;
    round_trip(&mut secure, "tls_required").await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn tls_required_without_a_certificate_fails_to_start() {
    let err = Nsqd::start(NsqdOptions {
        tls_required: TlsRequired::Yes,
        ..options()
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("without TLS key and cert"),
        "{err}"
    );
}

#[tokio::test]
async fn client_certificates_require_verify_and_common_name_reaches_auth() {
    let pki = Pki::generate("client-one");
    let auth = AuthServer::start(60).await;
    let nsqd = launch_nsqd(NsqdOptions {
        tls_client_auth_policy: "require-verify".into(),
        tls_root_ca_file: Some(pki.ca_pem.clone()),
        auth_http_address: vec![auth.addr.to_string()],
        ..tls_options(&pki)
    })
    .await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client
        .identify(r#"{"feature_negotiation":true,"tls_v1":true}"#)
        .await;
    assert!(reply.tls_v1 && reply.auth_required);
    client.start_tls(pki.client_config(true)).await;
    client.send_auth(b"good").await;
    let json: serde_json::Value = serde_json::from_str(&client.response().await).unwrap();
    assert_eq!(json["identity"], "tester");
    assert_eq!(json["permission_count"], 1);
    assert_eq!(
        auth.queries.lock().last().unwrap(),
        "common_name=client-one&remote_ip=127.0.0.1&secret=good&tls=true"
    );
    round_trip(&mut client, "mutual").await;

    // Without a client certificate the handshake fails.
    let mut anonymous = Client::connect(nsqd.tcp_addr()).await;
    anonymous
        .identify(r#"{"feature_negotiation":true,"tls_v1":true}"#)
        .await;
    let handshake = std::panic::AssertUnwindSafe(anonymous.start_tls(pki.client_config(false)));
    let outcome = futures::FutureExt::catch_unwind(handshake).await;
    assert!(outcome.is_err(), "handshake without client cert must fail");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn bad_secret_gets_auth_failed_and_cannot_pub_or_sub() {
    let auth = AuthServer::start(60).await;
    let nsqd = start_with_auth(auth.addr.to_string()).await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    let reply = client.identify(r#"{"feature_negotiation":true}"#).await;
    assert!(reply.auth_required);
    client.send_auth(b"wrong").await;
    assert_eq!(client.error().await, "E_AUTH_FAILED AUTH failed");
    client.closed().await;
    assert_eq!(
        auth.queries.lock().last().unwrap(),
        "common_name=&remote_ip=127.0.0.1&secret=wrong&tls=false"
    );

    for (cmd, text) in [
        (publish("t", b"x"), "E_AUTH_FIRST AUTH required before PUB"),
        (sub("t", "c"), "E_AUTH_FIRST AUTH required before SUB"),
        (
            Command::Mpub {
                topic: "t".into(),
                bodies: vec![Bytes::from_static(b"x")],
            },
            "E_AUTH_FIRST AUTH required before MPUB",
        ),
    ] {
        let mut client = Client::connect(nsqd.tcp_addr()).await;
        client.send(cmd).await;
        assert_eq!(client.error().await, text);
        client.closed().await;
    }

    let mut client = Client::connect(nsqd.tcp_addr()).await;
    client.send_auth(b"empty").await;
    assert_eq!(
        client.error().await,
        "E_UNAUTHORIZED AUTH no authorizations found"
    );
    nsqd.shutdown().await;
}

#[tokio::test]
async fn permissions_are_enforced_and_rechecked_after_ttl() {
    let auth = AuthServer::start(1).await;
    let nsqd = start_with_auth(format!("http://{}/auth", auth.addr)).await;
    let mut client = pubonly_client(&nsqd).await;
    client.send(publish("allowed", b"x")).await;
    assert_eq!(client.response().await, "OK");
    assert_eq!(auth.queries.lock().len(), 1, "cached within the TTL");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.send(publish("allowed", b"x")).await;
    assert_eq!(client.response().await, "OK");
    assert_eq!(auth.queries.lock().len(), 2, "re-queried after the TTL");
    client.send_auth(b"pubonly").await;
    assert_eq!(client.error().await, "E_INVALID AUTH already set");

    let mut client = pubonly_client(&nsqd).await;
    client.send(publish("other", b"x")).await;
    assert_eq!(
        client.error().await,
        r#"E_UNAUTHORIZED AUTH failed for PUB on "other" """#
    );
    let mut client = pubonly_client(&nsqd).await;
    client.send(sub("allowed", "c")).await;
    assert_eq!(
        client.error().await,
        r#"E_UNAUTHORIZED AUTH failed for SUB on "allowed" "c""#
    );
    nsqd.shutdown().await;
}

#[tokio::test]
async fn auth_disabled_answers_e_auth_disabled() {
    let nsqd = launch_nsqd(options()).await;
    let mut client = Client::connect(nsqd.tcp_addr()).await;
    client.send_auth(b"x").await;
    assert_eq!(client.error().await, "E_AUTH_DISABLED AUTH disabled");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let nsqd = launch_nsqd(NsqdOptions {
        max_connections: 2,
        ..options()
    })
    .await;
    let mut first = Client::connect(nsqd.tcp_addr()).await;
    let mut second = Client::connect(nsqd.tcp_addr()).await;
    for c in [&mut first, &mut second] {
        c.send(publish("t", b"x")).await;
        assert_eq!(c.response().await, "OK");
    }
    let mut third = Client::connect(nsqd.tcp_addr()).await;
    third.closed().await;
    drop(first);
    // A slot frees up once a connection ends.
    let mut fourth = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut c = Client::connect(nsqd.tcp_addr()).await;
        c.send(Command::Nop).await;
        c.send(publish("t", b"x")).await;
        if let Some(Frame::Response(_)) = c.frame().await {
            fourth = Some(c);
            break;
        }
    }
    assert!(fourth.is_some(), "a freed slot admits a new connection");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn https_listener_serves_the_api_and_plain_http_answers_tls_required() {
    let pki = Pki::generate("c1");
    let nsqd = start_tls_required(&pki, TlsRequired::Yes).await;
    let https = nsqd
        .https_addr()
        .expect("HTTPS listener with a certificate");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca_pem).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let resp = client
        .get(format!("https://localhost:{}/ping", https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "OK");

    let resp = plain_ping(&nsqd).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.text().await.unwrap(),
        format!(
            "{{\"message\": \"TLS_REQUIRED\", \"https_port\": {}}}",
            https.port()
        )
    );
    nsqd.shutdown().await;
}

#[tokio::test]
async fn tcp_https_keeps_plain_http_open() {
    let pki = Pki::generate("c1");
    let nsqd = start_tls_required(&pki, TlsRequired::TcpHttps).await;
    let resp = plain_ping(&nsqd).await;
    assert_eq!(resp.status(), 200);
    nsqd.shutdown().await;
}
