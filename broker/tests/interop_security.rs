//! Interop: pynsq and nsqjs (real third-party clients) consuming from our nsqd over TLS
//! (verified against a CA generated at test time), with deflate or snappy, and AUTH against
//! a loopback auth server. Skips with a notice when the interop variables are unset; fails
//! when they are set but the tools are broken.

mod interop;
mod security_support;

use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::Bytes;
use interop::*;
use nsq_wire::command::Command;
use security_support::{AuthServer, Client, Pki};

struct Secured {
    nsqd: Nsqd,
    pki: Pki,
    auth: AuthServer,
}

async fn secured() -> Secured {
    let pki = Pki::generate("interop");
    let auth = AuthServer::start(60).await;
    let nsqd = Nsqd::start(NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(pki.server_cert.clone()),
        tls_key: Some(pki.server_key.clone()),
        https_address: "127.0.0.1:0".parse().unwrap(),
        auth_http_address: vec![auth.addr.to_string()],
        ..NsqdOptions::default()
    })
    .await
    .unwrap();
    Secured { nsqd, pki, auth }
}

/// Publishes `bodies` over TLS + AUTH with our raw client.
async fn publish(s: &Secured, topic: &str, bodies: &[Vec<u8>]) {
    let mut c = Client::connect(s.nsqd.tcp_addr()).await;
    c.identify(r#"{"feature_negotiation":true,"tls_v1":true}"#)
        .await;
    c.start_tls(s.pki.client_config(false)).await;
    c.send(Command::Auth(Bytes::from_static(b"good"))).await;
    c.response().await;
    for body in bodies {
        c.send(Command::Pub {
            topic: topic.into(),
            body: Bytes::from(body.clone()),
        })
        .await;
        assert_eq!(c.response().await, "OK");
    }
}

fn reader_args(s: &Secured, topic: &str, expect: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--nsqd",
        &s.nsqd.tcp_addr().to_string(),
        "--topic",
        topic,
        "--channel",
        "c",
        "--expect",
        &expect.to_string(),
        "--tls-ca",
        s.pki.ca_pem.to_str().unwrap(),
        "--auth-secret",
        "good",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn assert_all_finished(out: &serde_json::Value, bodies: &[Vec<u8>]) {
    assert_eq!(finished_sorted(out), hex_sorted(bodies), "{out}");
}

#[tokio::test]
async fn pynsq_reads_over_tls_deflate_with_auth() {
    let Some(python) = python() else { return };
    let s = secured().await;
    let bodies = sample_bodies("py-tls-deflate");
    publish(&s, "py_secure", &bodies).await;
    let args = reader_args(&s, "py_secure", bodies.len(), &["--deflate"]);
    let out = run_python(&python, "pynsq_reader.py", &args)
        .await
        .ok_json();
    assert_all_finished(&out, &bodies);
    assert!(s.auth.queries.lock().iter().any(|q| q.contains("tls=true")));
    s.nsqd.shutdown().await;
}

#[tokio::test]
async fn pynsq_reads_over_tls_snappy_with_auth() {
    let Some(python) = python() else { return };
    let s = secured().await;
    let bodies = sample_bodies("py-tls-snappy");
    publish(&s, "py_snappy", &bodies).await;
    let args = reader_args(&s, "py_snappy", bodies.len(), &["--snappy"]);
    let out = run_python(&python, "pynsq_reader.py", &args)
        .await
        .ok_json();
    assert_all_finished(&out, &bodies);
    s.nsqd.shutdown().await;
}

#[tokio::test]
async fn nsqjs_reads_over_tls_snappy_and_tls_deflate_with_auth() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let s = secured().await;
    for (topic, flag) in [("js_snappy", "--snappy"), ("js_deflate", "--deflate")] {
        let bodies = sample_bodies(topic);
        publish(&s, topic, &bodies).await;
        let args = reader_args(&s, topic, bodies.len(), &[flag]);
        let out = run_node(&node_modules, "nsqjs_reader.js", &args)
            .await
            .ok_json();
        assert_all_finished(&out, &bodies);
    }
    s.nsqd.shutdown().await;
}
