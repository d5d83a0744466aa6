//! Persistence through the real `nsqd` binary:
//! * `--sync-ack` crash test: several connections publish, the process is killed with SIGKILL
//!   mid-stream, restarted on the same data path, and every message that was answered `OK`
//!   must be delivered (duplicates allowed, losses not);
//! * `--sync-ack` with a consumer: messages delivered and not yet FINed (in flight, or
//!   REQ'd with a delay) when the process is killed are delivered again after restart;
//! * `--sync-ack` with `DPUB`: deferred messages survive `kill -9` and keep their due time;
//! * SIGTERM: messages held only in memory are written to disk and delivered after restart.

mod persistence_support;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use persistence_support::*;
use tokio::process::{Child, Command};

/// Kills the child on drop so a failing test never leaves an nsqd behind.
struct Running {
    child: Child,
    tcp: SocketAddr,
}

impl Running {
    /// SIGKILL (a crash: no shutdown hooks run) and wait until the process is gone.
    async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn_nsqd(data_path: &Path) -> Running {
    spawn_nsqd_with(data_path, &["--sync-ack", "--mem-queue-size=100"]).await
}

async fn spawn_nsqd_with(data_path: &Path, extra: &[&str]) -> Running {
    let tcp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nsqd"))
        .arg(format!("--tcp-address={tcp}"))
        .arg(format!("--http-address={http}"))
        .arg(format!("--data-path={}", data_path.display()))
        .args(extra)
        .arg("--sync-timeout=200ms")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn nsqd");
    let running = Running { child, tcp };
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(tcp).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("nsqd did not start listening");
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ack_loses_no_acknowledged_message_on_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = spawn_nsqd(dir.path()).await;

    // The channel exists before publishing, so messages also move topic -> channel.
    let mut setup = Conn::connect(nsqd.tcp).await;
    setup.sub("crash", "c").await;
    setup.send(nsq_wire::command::Command::Cls).await;

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut publishers = Vec::new();
    for p in 0..4 {
        let acked = acked.clone();
        let addr = nsqd.tcp;
        publishers.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await;
            for i in 0.. {
                let body = format!("p{p}-{i:06}");
                let sent = if i % 10 == 0 {
                    let bodies = (0..5)
                        .map(|k| bytes::Bytes::from(format!("{body}-m{k}")))
                        .collect::<Vec<_>>();
                    let names: Vec<String> = (0..5).map(|k| format!("{body}-m{k}")).collect();
                    conn.send(nsq_wire::command::Command::Mpub {
                        topic: "crash".into(),
                        bodies,
                    })
                    .await;
                    names
                } else {
                    conn.send(nsq_wire::command::Command::Pub {
                        topic: "crash".into(),
                        body: body.clone().into(),
                    })
                    .await;
                    vec![body]
                };
                match conn.frame_within(Duration::from_secs(5)).await {
                    Some(nsq_wire::frame::Frame::Response(ok)) if &ok[..] == b"OK" => {
                        acked.lock().extend(sent)
                    }
                    // Killed: the connection closes (or errors) - stop publishing.
                    _ => break,
                }
            }
        }));
    }

    // Let a good number of publishes through, then SIGKILL mid-stream.
    tokio::time::timeout(WAIT, async {
        while acked.lock().len() < 1500 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("publishers made no progress");
    nsqd.kill_9().await;
    for publisher in publishers {
        let _ = tokio::time::timeout(WAIT, publisher).await;
    }
    let acked: BTreeSet<String> = acked.lock().iter().cloned().collect();

    let nsqd = spawn_nsqd(dir.path()).await;
    let got = consume_all(nsqd.tcp, "crash", "c", usize::MAX, Duration::from_secs(2)).await;
    let delivered: BTreeSet<String> = bodies(&got).into_iter().collect();
    let lost: Vec<_> = acked.difference(&delivered).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost, e.g. {lost:?}",
        acked.difference(&delivered).count(),
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ack_keeps_unfinished_deliveries_across_kill_9() {
    use nsq_wire::command::Command;
    use nsq_wire::frame::Frame;

    let dir = tempfile::tempdir().unwrap();
    let nsqd = spawn_nsqd(dir.path()).await;
    let mut consumer = Conn::connect(nsqd.tcp).await;
    consumer.sub("held", "c").await;
    let mut publisher = Conn::connect(nsqd.tcp).await;
    let bodies: Vec<String> = (0..300).map(|i| format!("h-{i:03}")).collect();
    for chunk in bodies.chunks(50) {
        let chunk = chunk
            .iter()
            .map(|b| bytes::Bytes::from(b.clone()))
            .collect();
        publisher.mpub("held", chunk).await.unwrap();
    }

    // Take all 300: FIN the first 100, REQ 50 with a 3 s delay, REQ 50 at once (received
    // again below), and leave the last 100 in flight.
    consumer.send(Command::Rdy(300)).await;
    let mut delivered = Vec::new();
    while delivered.len() < 300 {
        match consumer.frame().await {
            Frame::Message(msg) => delivered.push(msg),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    for (i, msg) in delivered.iter().enumerate() {
        let command = match i {
            0..100 => Command::Fin(msg.id),
            100..150 => Command::Req {
                id: msg.id,
                timeout_ms: 3_000,
            },
            150..200 => Command::Req {
                id: msg.id,
                timeout_ms: 0,
            },
            _ => continue,
        };
        consumer.send(command).await;
    }
    let requeued_at = std::time::Instant::now();
    let mut redelivered = 0;
    while redelivered < 50 {
        match consumer.frame().await {
            Frame::Message(_) => redelivered += 1,
            other => panic!("unexpected frame {other:?}"),
        }
    }
    // Several periodic syncs (--sync-timeout=200ms) persist the channel's read position.
    tokio::time::sleep(Duration::from_millis(800)).await;
    nsqd.kill_9().await;

    let nsqd = spawn_nsqd(dir.path()).await;
    let mut consumer = Conn::connect(nsqd.tcp).await;
    consumer.sub("held", "c").await;
    let received = consumer
        .consume_timed(300, usize::MAX, Duration::from_secs(4))
        .await;
    let got: BTreeSet<String> = received.iter().map(|(body, _)| body.clone()).collect();
    let (finished, unfinished) = delivered.split_at(100);
    let delayed = body_set(&unfinished[..50]);
    let early: Vec<_> = received
        .iter()
        .filter(|(body, at)| delayed.contains(body) && *at < requeued_at + Duration::from_secs(3))
        .collect();
    assert!(
        early.is_empty(),
        "REQ delay not kept across the crash: {early:?}"
    );
    let lost: Vec<_> = body_set(unfinished)
        .into_iter()
        .filter(|b| !got.contains(b))
        .collect();
    assert!(
        lost.is_empty(),
        "{} unfinished messages lost: {lost:?}",
        lost.len()
    );
    let finished_again = body_set(finished).intersection(&got).count();
    assert_eq!(
        finished_again, 0,
        "the persisted read position moves past messages FINed before the oldest unfinished one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ack_keeps_deferred_messages_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let nsqd = spawn_nsqd(dir.path()).await;
    let mut setup = Conn::connect(nsqd.tcp).await;
    setup.sub("later", "c").await;
    let mut publisher = Conn::connect(nsqd.tcp).await;
    let published_at = std::time::Instant::now();
    for i in 0..20 {
        publisher.dpub("later", 3_000, format!("d-{i:02}")).await;
    }
    nsqd.kill_9().await;

    let nsqd = spawn_nsqd(dir.path()).await;
    let got = consume_all(nsqd.tcp, "later", "c", 20, Duration::from_secs(8)).await;
    let expected: BTreeSet<String> = (0..20).map(|i| format!("d-{i:02}")).collect();
    assert_eq!(
        body_set(&got),
        expected,
        "every acknowledged DPUB delivered"
    );
    assert!(
        published_at.elapsed() >= Duration::from_secs(3),
        "delivered before the 3 s defer was over"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_memory_queues_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut nsqd = spawn_nsqd_with(dir.path(), &[]).await;
    let mut setup = Conn::connect(nsqd.tcp).await;
    setup.sub("term", "c").await;
    setup.send(nsq_wire::command::Command::Cls).await;
    let mut conn = Conn::connect(nsqd.tcp).await;
    for i in 0..500 {
        conn.publish("term", format!("m-{i:05}")).await.unwrap();
    }
    let pid = nsqd.child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(WAIT, nsqd.child.wait())
        .await
        .expect("nsqd did not exit on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    drop(nsqd);
    assert!(dir.path().join("term:c.diskqueue.meta.dat").exists());

    let nsqd = spawn_nsqd_with(dir.path(), &[]).await;
    let got = consume_all(nsqd.tcp, "term", "c", 500, Duration::from_secs(2)).await;
    let expected: BTreeSet<String> = (0..500).map(|i| format!("m-{i:05}")).collect();
    assert_eq!(body_set(&got), expected);
}
