//! The channel hot path without sockets: an MPUB of 200 x 200 B published to a topic with one
//! channel, taken by a ready consumer (in flight) and FINed, message by message as a TCP
//! connection does it. Run with `cargo bench -p broker --bench channel`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use broker::nsqd::client::{ClientShared, ClientState};
use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nsq_wire::multi_body::MultiBody;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 200;

fn publish_take_finish(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let nsqd = rt
        .block_on(Nsqd::start(NsqdOptions {
            tcp_address: "127.0.0.1:0".parse().expect("addr"),
            http_address: "127.0.0.1:0".parse().expect("addr"),
            ..NsqdOptions::default()
        }))
        .expect("nsqd");
    let _guard = rt.enter();
    let topic = nsqd.context().get_or_create_topic("bench").expect("topic");
    let channel = topic.get_or_create_channel("ch").expect("channel");
    let client = Arc::new(ClientShared::new(
        1,
        "127.0.0.1:1".parse().expect("addr"),
        CancellationToken::new(),
    ));
    client.set_state(ClientState::Subscribed);
    client.ready_count.store(BATCH as i64, Ordering::Release);
    channel.add_consumer(client.clone()).expect("consumer");
    let bodies = MultiBody::from_bodies(&vec![Bytes::from(vec![b'x'; 200]); BATCH]);
    let mut taken = Vec::with_capacity(BATCH);

    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("MPUB 200 x 200B, take, FIN each", |b| {
        b.iter(|| {
            topic.publish_multi(bodies.clone()).expect("publish");
            taken.clear();
            channel.take(&client, BATCH, 0, Duration::from_secs(60), &mut taken);
            assert_eq!(taken.len(), BATCH);
            for msg in &taken {
                channel.finish(&client, &msg.id).expect("finish");
            }
        })
    });
    group.finish();
    channel.remove_consumer(client.id);
    rt.block_on(nsqd.shutdown());
}

criterion_group!(benches, publish_take_finish);
criterion_main!(benches);
