//! Our client against our nsqd in every combination of TLS (on/off), compression (none,
//! snappy, deflate) and AUTH (on/off): a producer publishes and a consumer receives the
//! message. Certificates are generated at test time (shared helpers from the broker's tests).

mod common;
#[path = "../../broker/tests/security_support/mod.rs"]
mod security_support;

use std::time::Duration;

use broker::nsqd::Nsqd;
use common::{fast_config, start_nsqd_with};
use security_support::{AuthServer, Pki};
use transport_nsq::{Config, Consumer, HandlerError, Message, Producer};

async fn nsqd(pki: &Pki, auth: Option<&AuthServer>) -> Nsqd {
    start_nsqd_with(|opts| {
        opts.tls_cert = Some(pki.server_cert.clone());
        opts.tls_key = Some(pki.server_key.clone());
        opts.https_address = "127.0.0.1:0".parse().unwrap();
        opts.auth_http_address = auth.map(|a| vec![a.addr.to_string()]).unwrap_or_default();
    })
    .await
}

fn config(pki: &Pki, tls: bool, compression: &str, auth: bool) -> Config {
    let mut config = fast_config();
    config.tls_v1 = tls;
    config.tls_root_ca_file = Some(pki.ca_pem.clone());
    config.snappy = compression == "snappy";
    config.deflate = compression == "deflate";
    if auth {
        config.auth_secret = "good".into();
    }
    config
}

async fn round_trip(nsqd: &Nsqd, config: Config, topic: &str) {
    let addr = nsqd.tcp_addr().to_string();
    let producer = Producer::new([addr.clone()], config.clone()).unwrap();
    producer
        .publish(topic, format!("hello {topic}"))
        .await
        .unwrap_or_else(|e| panic!("{topic}: publish failed: {e}"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = Consumer::builder(topic, "c")
        .config(config)
        .nsqd_address(addr)
        .handler(move |m: Message| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m.body().clone());
                Ok::<_, HandlerError>(())
            }
        })
        .start()
        .await
        .unwrap_or_else(|e| panic!("{topic}: consumer failed: {e}"));
    let body = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{topic}: no message"))
        .unwrap();
    assert_eq!(&body[..], format!("hello {topic}").as_bytes());
    consumer.stop().await;
    producer.stop().await;
}

#[tokio::test]
async fn every_tls_compression_auth_combination_round_trips() {
    let pki = Pki::generate("client");
    let auth_server = AuthServer::start(60).await;
    let open = nsqd(&pki, None).await;
    let authed = nsqd(&pki, Some(&auth_server)).await;
    for auth in [false, true] {
        let server = if auth { &authed } else { &open };
        for tls in [false, true] {
            for compression in ["none", "snappy", "deflate"] {
                let topic = format!("t_{tls}_{compression}_{auth}");
                round_trip(server, config(&pki, tls, compression, auth), &topic).await;
            }
        }
    }
    let stats: serde_json::Value =
        reqwest::get(format!("http://{}/stats?format=json", authed.http_addr()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(stats["topics"].as_array().unwrap().len(), 6, "{stats}");
    let queries = auth_server.queries.lock().clone();
    assert!(
        queries.iter().any(|q| q.ends_with("secret=good&tls=true")),
        "{queries:?}"
    );
    assert!(
        queries.iter().any(|q| q.ends_with("secret=good&tls=false")),
        "{queries:?}"
    );
    open.shutdown().await;
    authed.shutdown().await;
}
