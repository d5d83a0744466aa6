//! Persistence of the embedded nsqd: disk overflow, clean restart, nsqd.dat, corrupt segments,
//! the Go nsqd 1.3 data directory, data path locking, ephemeral queues and disk errors.

mod persistence_support;

use std::collections::BTreeSet;
use std::time::Duration;

use broker::nsqd::{Nsqd, NsqdOptions};
use bytes::Bytes;
use persistence_support::*;

const IDLE: Duration = Duration::from_millis(1500);

use disk_options as options;
use launch_nsqd as start;
use shutdown_nsqd as stop;

/// Creates `topic/channel` by subscribing once (the channel then exists before publishing).
async fn create_channel(nsqd: &Nsqd, topic: &str, channel: &str) {
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    conn.sub(topic, channel).await;
    conn.send(nsq_wire::command::Command::Cls).await;
    let _ = conn.frame_within(Duration::from_secs(2)).await;
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|i| format!("{prefix}-{i:05}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_overflow_to_disk_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 100)).await;
    create_channel(&nsqd, "bulk", "c").await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    for batch in 0..100 {
        let bodies = (0..100)
            .map(|i| Bytes::from(format!("msg-{:05}", batch * 100 + i)))
            .collect();
        conn.mpub("bulk", bodies).await.expect("MPUB");
    }
    stop(nsqd).await;
    assert!(
        file_names(dir.path())
            .iter()
            .any(|f| f.starts_with("bulk:c.diskqueue.")),
        "channel overflowed to disk: {:?}",
        file_names(dir.path())
    );

    let nsqd = start(options(dir.path(), 100)).await;
    let got = consume_all(nsqd.tcp_addr(), "bulk", "c", 10_000, IDLE).await;
    assert_eq!(body_set(&got), numbered("msg", 0..10_000));
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_backlog_without_channels_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 10)).await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    for i in 0..50 {
        conn.publish("lonely", format!("m-{i:05}")).await.unwrap();
    }
    stop(nsqd).await;
    let nsqd = start(options(dir.path(), 10)).await;
    let got = consume_all(nsqd.tcp_addr(), "lonely", "late", 50, IDLE).await;
    assert_eq!(body_set(&got), numbered("m", 0..50));
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_nsqd_data_directory_is_consumed_in_full() {
    let dir = tempfile::tempdir().unwrap();
    copy_go_fixture(dir.path());
    let nsqd = start(options(dir.path(), 100)).await;

    let billing = consume_all(nsqd.tcp_addr(), "orders", "billing", 5000, IDLE).await;
    assert_eq!(body_set(&billing), numbered("order", 1000..3000));
    assert!(billing.iter().all(|m| m.attempts == 1));

    let archive = consume_all(nsqd.tcp_addr(), "events", "archive", 5000, IDLE).await;
    assert_eq!(body_set(&archive), numbered("event", 0..500));

    // audit was paused in Go nsqd: nothing until unpaused.
    let mut audit = Conn::connect(nsqd.tcp_addr()).await;
    audit.sub("orders", "audit").await;
    let none = audit.consume(1000, 5000, Duration::from_millis(500)).await;
    assert!(none.is_empty(), "paused channel delivered {}", none.len());
    let (status, body) = http_post(
        nsqd.http_addr(),
        "/channel/unpause?topic=orders&channel=audit",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let audit_msgs = audit.consume(1000, 5000, IDLE).await;
    assert_eq!(body_set(&audit_msgs), numbered("order", 0..3000));
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_segment_is_skipped_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let opts = NsqdOptions {
        // 26-byte header + 9-byte body + 4-byte length = 39 bytes; 10 records per file.
        max_bytes_per_file: 390,
        ..options(dir.path(), 0)
    };
    let nsqd = start(opts.clone()).await;
    create_channel(&nsqd, "t", "c").await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    for i in 0..100 {
        conn.publish("t", format!("msg-{i:05}")).await.unwrap();
    }
    stop(nsqd).await;

    let corrupt = dir.path().join("t:c.diskqueue.000002.dat");
    let mut data = std::fs::read(&corrupt).expect("third channel data file");
    assert_eq!(data.len(), 390);
    data[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(&corrupt, data).unwrap();

    let nsqd = start(opts).await;
    let got = consume_all(nsqd.tcp_addr(), "t", "c", 100, IDLE).await;
    let mut expected = numbered("msg", 0..20);
    expected.extend(numbered("msg", 30..100));
    assert_eq!(body_set(&got), expected);
    assert!(dir.path().join("t:c.diskqueue.000002.dat.bad").exists());
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_channels_and_pause_state_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 0)).await;
    let http = nsqd.http_addr();
    for path in [
        "/topic/create?topic=p",
        "/channel/create?topic=p&channel=a",
        "/channel/create?topic=p&channel=b",
        "/channel/pause?topic=p&channel=a",
    ] {
        let (status, body) = http_post(http, path, "").await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    for i in 0..3 {
        conn.publish("p", format!("m-{i:05}")).await.unwrap();
    }
    stop(nsqd).await;

    let dat = std::fs::read_to_string(dir.path().join("nsqd.dat")).unwrap();
    assert_eq!(
        dat,
        r#"{"topics":[{"name":"p","paused":false,"channels":[{"name":"a","paused":true},{"name":"b","paused":false}]}],"version":"1.3.0"}"#
    );

    let nsqd = start(options(dir.path(), 0)).await;
    let b = consume_all(nsqd.tcp_addr(), "p", "b", 3, IDLE).await;
    assert_eq!(body_set(&b), numbered("m", 0..3));
    let mut a = Conn::connect(nsqd.tcp_addr()).await;
    a.sub("p", "a").await;
    assert!(a
        .consume(10, 3, Duration::from_millis(500))
        .await
        .is_empty());
    let (status, _) = http_post(nsqd.http_addr(), "/channel/unpause?topic=p&channel=a", "").await;
    assert_eq!(status, 200);
    assert_eq!(body_set(&a.consume(10, 3, IDLE).await), numbered("m", 0..3));
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_and_deferred_messages_are_flushed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 100)).await;
    let mut consumer = Conn::connect(nsqd.tcp_addr()).await;
    consumer.sub("f", "c").await;
    let mut producer = Conn::connect(nsqd.tcp_addr()).await;
    producer.publish("f", "in-flight").await.unwrap();
    producer.dpub("f", 60_000, "deferred").await;
    consumer.send(nsq_wire::command::Command::Rdy(1)).await;
    match consumer.frame().await {
        nsq_wire::frame::Frame::Message(m) => assert_eq!(&m.body[..], b"in-flight"),
        other => panic!("expected the message, got {other:?}"),
    }
    // Neither FIN'd nor due: both must be written to disk by the shutdown.
    stop(nsqd).await;

    let nsqd = start(options(dir.path(), 100)).await;
    let got = consume_all(nsqd.tcp_addr(), "f", "c", 2, Duration::from_secs(5)).await;
    let mut by_body: Vec<_> = got
        .iter()
        .map(|m| (String::from_utf8_lossy(&m.body).into_owned(), m.attempts))
        .collect();
    by_body.sort();
    assert_eq!(by_body.len(), 2, "{by_body:?}");
    assert_eq!(by_body[0].0, "deferred");
    assert_eq!(by_body[1].0, "in-flight");
    assert!(by_body[1].1 >= 2, "in-flight attempts {}", by_body[1].1);
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_queues_never_touch_disk() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 10)).await;
    let mut consumer = Conn::connect(nsqd.tcp_addr()).await;
    consumer.sub("e#ephemeral", "c#ephemeral").await;
    let mut producer = Conn::connect(nsqd.tcp_addr()).await;
    for i in 0..20 {
        producer
            .publish("e#ephemeral", format!("m-{i:05}"))
            .await
            .unwrap();
    }
    stop(nsqd).await;
    let names = file_names(dir.path());
    assert!(
        !names.iter().any(|n| n.contains("ephemeral")),
        "ephemeral data on disk: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_nsqd_on_the_same_data_path_fails() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = start(options(dir.path(), 10)).await;
    let second = Nsqd::start(options(dir.path(), 10)).await;
    let err = second.expect_err("second nsqd must not start");
    assert!(
        err.to_string().contains("data-path") || err.to_string().contains("data path"),
        "{err}"
    );
    stop(nsqd).await;
    // Released at shutdown.
    let again = start(options(dir.path(), 10)).await;
    stop(again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_errors_fail_the_publish_without_crashing() {
    let dir = MovableDataDir::new();
    let opts = NsqdOptions {
        max_bytes_per_file: 200,
        ..options(&dir.data, 0)
    };
    let nsqd = start(opts).await;
    create_channel(&nsqd, "d", "c").await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    conn.publish("d", "stored-before").await.unwrap();
    // The data directory vanishes (moved away atomically): new data files cannot be created.
    dir.move_away();
    let error = publish_until_failure(&mut conn).await;
    assert!(error.starts_with("E_PUB_FAILED"), "{error}");
    // Still alive: a fresh connection works and HTTP answers.
    let mut other = Conn::connect(nsqd.tcp_addr()).await;
    other.send(nsq_wire::command::Command::Nop).await;
    let (status, _) = http_post(nsqd.http_addr(), "/pub?topic=d", "x").await;
    assert!(status >= 500, "HTTP publish status {status}");
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_queue_files_use_go_names_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let opts = NsqdOptions {
        max_bytes_per_file: 200,
        ..options(dir.path(), 0)
    };
    let nsqd = start(opts).await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    for i in 0..10 {
        conn.publish("d", format!("{i:050}")).await.unwrap();
    }
    // Two 80-byte records (length 76) per 200-byte file, written within milliseconds.
    let first = dir.path().join("d.diskqueue.000000.dat");
    let last = dir.path().join("d.diskqueue.000004.dat");
    tokio::time::timeout(WAIT, async {
        while std::fs::metadata(&last).map(|m| m.len()).unwrap_or(0) < 160 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("records reach the last data file");
    let names = file_names(dir.path());
    for n in 0..5 {
        assert!(
            names.contains(&format!("d.diskqueue.{n:06}.dat")),
            "{names:?}"
        );
    }
    let data = std::fs::read(&first).unwrap();
    assert_eq!(&data[..4], &76u32.to_be_bytes());
    assert_eq!(&data[4 + 8..4 + 10], &[0, 0], "attempts 0 on disk");
    assert_eq!(&data[4 + 26..80], format!("{:050}", 0).as_bytes());
    assert_eq!(data.len(), 160);

    let got = consume_all(nsqd.tcp_addr(), "d", "c", 10, IDLE).await;
    assert_eq!(got.len(), 10);
    let meta = dir.path().join("d.diskqueue.meta.dat");
    tokio::time::timeout(WAIT, async {
        loop {
            let text = std::fs::read_to_string(&meta).unwrap_or_default();
            let lines: Vec<_> = text.lines().collect();
            if lines.len() == 3 && lines[0] == "0" && lines[1] == lines[2] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("topic metadata shows the queue drained");
    let names = file_names(dir.path());
    assert!(
        !names.contains(&"d.diskqueue.000000.dat".to_string()),
        "completed files are deleted: {names:?}"
    );
    stop(nsqd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ack_publishes_over_tcp_and_http_and_keeps_ephemeral_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let opts = NsqdOptions {
        sync_ack: true,
        ..options(dir.path(), 100)
    };
    let nsqd = start(opts.clone()).await;
    create_channel(&nsqd, "s", "c").await;
    let mut conn = Conn::connect(nsqd.tcp_addr()).await;
    conn.publish("s", "tcp-pub").await.unwrap();
    conn.mpub(
        "s",
        vec![Bytes::from("tcp-mpub-1"), Bytes::from("tcp-mpub-2")],
    )
    .await
    .unwrap();
    conn.dpub("s", 10, "tcp-dpub").await;
    let (status, body) = http_post(nsqd.http_addr(), "/pub?topic=s", "http-pub").await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, _) = http_post(
        nsqd.http_addr(),
        "/mpub?topic=s",
        "http-mpub-1\nhttp-mpub-2",
    )
    .await;
    assert_eq!(status, 200);
    // Acknowledged means on disk: the channel's data file holds them already.
    let data = std::fs::read(dir.path().join("s:c.diskqueue.000000.dat")).unwrap();
    for needle in ["tcp-pub", "tcp-mpub-2", "http-pub", "http-mpub-2"] {
        assert!(
            data.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} not on disk"
        );
    }
    conn.publish("e#ephemeral", "memory-only").await.unwrap();
    let got = consume_all(nsqd.tcp_addr(), "s", "c", 7, IDLE).await;
    assert_eq!(got.len(), 7, "{:?}", bodies(&got));
    stop(nsqd).await;
    assert!(!file_names(dir.path())
        .iter()
        .any(|n| n.contains("ephemeral")));
}
