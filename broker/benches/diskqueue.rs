//! Disk queue throughput: batched appends, append+read at the tail, and fsync'ed appends with
//! group commit (one and many concurrent writers). Run with
//! `cargo bench -p broker --bench diskqueue`.

use std::time::Duration;

use broker::diskqueue::{DiskQueue, DiskQueueOptions};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const RECORD: usize = 100 + 26;

fn options() -> DiskQueueOptions {
    DiskQueueOptions {
        max_bytes_per_file: 16 * 1024 * 1024,
        ..DiskQueueOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn buffered(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open("bench", dir.path(), options()).expect("open");
    let record = vec![b'x'; RECORD];
    let mut group = c.benchmark_group("diskqueue");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("put 10k x 126B then read them", |b| {
        b.iter(|| {
            for _ in 0..10_000 {
                queue.put(&record).expect("put");
            }
            while queue.pop().is_some() {}
        })
    });
    group.bench_function("put+pop at the tail 10k x 126B", |b| {
        b.iter(|| {
            for _ in 0..10_000 {
                queue.put(&record).expect("put");
                queue.pop().expect("pop");
            }
        })
    });
    group.finish();
}

fn durable(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = rt.block_on(async { DiskQueue::open("durable", dir.path(), options()) });
    let queue = queue.expect("open");
    let record = vec![b'x'; RECORD];
    let mut group = c.benchmark_group("diskqueue put_durable");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for writers in [1usize, 16, 64] {
        let per_writer = 20;
        group.throughput(Throughput::Elements((writers * per_writer) as u64));
        group.bench_function(format!("{writers} concurrent writers"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..writers)
                            .map(|_| {
                                let queue = queue.clone();
                                let record = record.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_writer {
                                        queue.put_durable(&record).await.expect("put");
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("task");
                        }
                        while queue.pop().is_some() {}
                    })
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, buffered, durable);
criterion_main!(benches);
