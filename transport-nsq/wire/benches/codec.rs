//! Criterion benchmarks of the NSQ wire codec's hot paths: decoding an MPUB of 200
//! messages (what a publisher-heavy broker spends its parse time on), encoding message
//! frames (what every delivery costs) and decoding them on the client side.
//!
//! Run: `cargo bench -p nsq-wire --bench codec`.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nsq_wire::command::{BodyLimits, Command, CommandDecoder};
use nsq_wire::frame::{encode_message, FrameDecoder};
use nsq_wire::message::{Message, MessageId};
use tokio_util::codec::Decoder;

const BATCH: usize = 200;
const BODY_SIZE: usize = 200;

fn mpub_bytes() -> BytesMut {
    let bodies = (0..BATCH)
        .map(|_| Bytes::from(vec![b'x'; BODY_SIZE]))
        .collect();
    let mut buf = BytesMut::new();
    Command::Mpub {
        topic: "bench".into(),
        bodies,
    }
    .encode(&mut buf);
    buf
}

fn sample_message(seq: u64) -> Message {
    Message {
        timestamp: 1_700_000_000_000_000_000,
        attempts: 1,
        id: MessageId::from_u64(seq),
        body: Bytes::from(vec![b'x'; BODY_SIZE]),
    }
}

fn bench_mpub_decode(c: &mut Criterion) {
    let encoded = mpub_bytes();
    let mut group = c.benchmark_group("server");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode MPUB 200 x 200 B", |b| {
        let mut decoder = CommandDecoder::new(BodyLimits::default());
        b.iter_batched(
            || encoded.clone(),
            |mut buf| decoder.decode(&mut buf).expect("valid MPUB"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("encode 200 message frames", |b| {
        let messages: Vec<Message> = (0..BATCH as u64).map(sample_message).collect();
        let mut out = BytesMut::with_capacity(BATCH * (BODY_SIZE + 64));
        b.iter(|| {
            out.clear();
            for msg in &messages {
                encode_message(&mut out, msg);
            }
            out.len()
        })
    });
    group.finish();
}

fn bench_frame_decode(c: &mut Criterion) {
    let mut encoded = BytesMut::new();
    for seq in 0..BATCH as u64 {
        encode_message(&mut encoded, &sample_message(seq));
    }
    let mut group = c.benchmark_group("client");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode 200 message frames", |b| {
        let mut decoder = FrameDecoder::default();
        b.iter_batched(
            || encoded.clone(),
            |mut buf| {
                let mut frames = 0;
                while let Some(frame) = decoder.decode(&mut buf).expect("valid frames") {
                    criterion::black_box(frame);
                    frames += 1;
                }
                frames
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_mpub_decode, bench_frame_decode);
criterion_main!(benches);
