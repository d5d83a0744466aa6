//! Interop: nsqjs's Writer and Reader (real third-party client, node) against our nsqd, plus
//! pynsq -> nsqjs across clients. Skips with a notice when `NSQ_INTEROP_NODE_MODULES` is unset;
//! fails when it is set but broken.

mod interop;

use interop::scenarios::{self, Client};

#[tokio::test]
async fn nsqjs_writer_publish_single_multi_deferred_reach_nsqjs_reader_byte_exact() {
    let Some(nsqjs) = Client::nsqjs() else { return };
    scenarios::publish_single_multi_deferred(&nsqjs, "js").await;
}

#[tokio::test]
async fn nsqjs_reader_requeue_redelivers_with_attempts_incremented() {
    let Some(nsqjs) = Client::nsqjs() else { return };
    scenarios::requeue_redelivers(&nsqjs, "jsreq").await;
}

#[tokio::test]
async fn nsqjs_reader_touch_keeps_message_past_its_timeout() {
    let Some(nsqjs) = Client::nsqjs() else { return };
    scenarios::touch_keeps_message(&nsqjs, "jstouch").await;
}

#[tokio::test]
async fn pynsq_writer_to_nsqjs_reader_across_clients() {
    let Some(nsqjs) = Client::nsqjs() else { return };
    let Some(pynsq) = Client::pynsq() else { return };
    let nsqd = interop::start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = interop::sample_bodies("cross");
    pynsq.write(&addr, "cross", "mpub", &[], &bodies).await;
    let got = nsqjs.read(&addr, "cross", 3, &[]).await;
    interop::assert_delivered_once(&got, &bodies);
    nsqd.shutdown().await;
}
