//! Cross-client tests: our producer -> our nsqd -> pynsq Reader, and pynsq Writer -> our
//! nsqd -> our consumer, comparing exact bodies (text, UTF-8 and binary with NUL/newlines).
//! Skipped with a notice when NSQ_INTEROP_PYTHON is unset; failing when it is set but broken.

mod common;
#[path = "../../broker/tests/interop/mod.rs"]
mod interop;

use std::time::Duration;

use common::{fast_config, forwarding_consumer, init_tracing, recv_n, start_nsqd};
use transport_nsq::{Consumer, Producer};

#[tokio::test]
async fn our_producer_to_pynsq_reader() {
    init_tracing();
    let Some(python) = interop::python() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let producer = Producer::new([addr.clone()], fast_config()).unwrap();
    let mut bodies = interop::sample_bodies("pub");
    for b in &bodies {
        producer.publish("ip", b.clone()).await.unwrap();
    }
    let batch = interop::sample_bodies("mpub");
    producer.multi_publish("ip", batch.clone()).await.unwrap();
    bodies.extend(batch);
    let deferred = b"dpub-later".to_vec();
    producer
        .deferred_publish("ip", Duration::from_millis(50), deferred.clone())
        .await
        .unwrap();
    bodies.push(deferred);

    let args: Vec<String> = vec![
        "--nsqd".into(),
        addr,
        "--topic".into(),
        "ip".into(),
        "--channel".into(),
        "py".into(),
        "--expect".into(),
        bodies.len().to_string(),
    ];
    let run = interop::run_python(&python, "pynsq_reader.py", &args).await;
    let json = run.ok_json();
    interop::assert_delivered_once(&json, &bodies);
    producer.stop().await;
    nsqd.shutdown().await;
}

#[tokio::test]
async fn pynsq_writer_to_our_consumer() {
    init_tracing();
    let Some(python) = interop::python() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let mut config = fast_config();
    config.max_in_flight = 10;
    let builder = Consumer::builder("iw", "rs")
        .config(config)
        .nsqd_address(addr.clone());
    let (consumer, mut rx) =
        forwarding_consumer(builder, |m| (m.body().to_vec(), m.attempts())).await;
    consumer
        .wait_for_connections(1, Duration::from_secs(10))
        .await
        .unwrap();

    let mut expected = Vec::new();
    for (mode, tag) in [("pub", "py-pub"), ("mpub", "py-mpub")] {
        let bodies = interop::sample_bodies(tag);
        let mut args: Vec<String> = vec![
            "--nsqd".into(),
            addr.clone(),
            "--topic".into(),
            "iw".into(),
            "--mode".into(),
            mode.into(),
        ];
        args.extend(bodies.iter().map(|b| interop::hex(b)));
        interop::run_python(&python, "pynsq_writer.py", &args)
            .await
            .ok_json();
        expected.extend(bodies);
    }

    // pynsq's messages all arrive, each on its first attempt.
    let (mut got, attempts): (Vec<_>, Vec<_>) =
        recv_n(Duration::from_secs(20), &mut rx, expected.len())
            .await
            .into_iter()
            .unzip();
    assert!(attempts.iter().all(|a| *a == 1), "{attempts:?}");
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    consumer.drain(Duration::from_secs(1)).await;
    nsqd.shutdown().await;
}
