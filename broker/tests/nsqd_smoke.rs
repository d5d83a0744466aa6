//! Quick end-to-end checks of the embedded nsqd: publish, subscribe, deliver, FIN.

mod common;

use common::*;
use nsq_wire::command::Command;

#[tokio::test]
async fn publish_then_consume() {
    let nsqd = start().await;
    let (mut consumer, msg) = Client::with_one_message(nsqd.tcp_addr(), "hello").await;
    assert_eq!(&msg.body[..], b"hello");
    assert_eq!(msg.attempts, 1);
    consumer.send(&Command::Fin(msg.id)).await;
    consumer.nop_then_silence(100).await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn ping_over_http() {
    let nsqd = start().await;
    let url = format!("http://{}/ping", nsqd.http_addr());
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert_eq!(body, "OK");
    nsqd.shutdown().await;
    nsqd.shutdown().await;
}
