//! `NsqBroker` passes the framework's broker conformance suite (the same checks the
//! in-memory broker passes), against an embedded nsqd.

mod common;

use std::time::Duration;

use framework::broker::conformance;
use framework::Broker;

#[tokio::test]
async fn nsq_broker_passes_the_broker_conformance_suite() {
    common::init_tracing();
    let nsqd = common::start_nsqd().await;
    let broker = common::connected_broker(&common::nsq_config(&nsqd)).await;
    tokio::time::timeout(
        Duration::from_secs(60),
        conformance::run_all(&broker, Duration::from_secs(10)),
    )
    .await
    .expect("suite finished in time")
    .unwrap();
    broker.disconnect().await.unwrap();
    nsqd.shutdown().await;
}
