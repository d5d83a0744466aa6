//! Unit tests of the disk queue: format, rolling, recovery, corruption, group commit, and
//! reading the data directory written by Go nsqd 1.3.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn opts() -> DiskQueueOptions {
    DiskQueueOptions {
        min_msg_size: 1,
        max_msg_size: 1024,
        // Long timeouts: tests decide when syncs happen.
        sync_timeout: Duration::from_secs(3600),
        ..DiskQueueOptions::default()
    }
}

pub(super) fn small_files(max_bytes_per_file: u64) -> DiskQueueOptions {
    DiskQueueOptions {
        max_bytes_per_file,
        ..opts()
    }
}

pub(super) fn body(i: usize) -> Vec<u8> {
    format!("message-{i:05}").into_bytes()
}

pub(super) fn drain(queue: &DiskQueue) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| queue.pop().map(|b| b.to_vec())).collect()
}

pub(super) fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn meta_text(dir: &Path, name: &str) -> String {
    fs::read_to_string(meta_path_of(dir, name)).unwrap()
}

fn meta_path_of(dir: &Path, name: &str) -> PathBuf {
    meta::meta_path(dir, name)
}

#[tokio::test]
async fn round_trip_in_order_with_depth() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("t", dir.path(), opts()).unwrap();
    for i in 0..1000 {
        queue.put(&body(i)).unwrap();
    }
    assert_eq!(queue.depth(), 1000);
    assert_eq!(queue.peek().as_deref(), Some(&body(0)[..]));
    assert_eq!(queue.peek().as_deref(), Some(&body(0)[..]));
    assert!(queue.advance());
    let rest = drain(&queue);
    assert_eq!(rest, (1..1000).map(body).collect::<Vec<_>>());
    assert_eq!(queue.depth(), 0);
    assert!(queue.peek().is_none());
    assert!(!queue.advance());
    queue.close().await.unwrap();
    // 1000 records of 4 + 13 bytes in one file, all read.
    assert_eq!(meta_text(dir.path(), "t"), "0\n0,17000\n0,17000\n");
}

#[tokio::test]
async fn metadata_written_exactly_like_go() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("orders:billing", dir.path(), opts()).unwrap();
    for i in 0..5 {
        queue.put(&body(i)).unwrap();
    }
    queue.pop().unwrap();
    queue.sync().await.unwrap();
    assert_eq!(
        meta_text(dir.path(), "orders:billing"),
        "4\n0,17\n0,85\n",
        "depth / readFileNum,readPos / writeFileNum,writePos"
    );
    queue.close().await.unwrap();
    assert_eq!(
        files(dir.path()),
        [
            "orders:billing.diskqueue.000000.dat",
            "orders:billing.diskqueue.meta.dat"
        ]
    );
    let data = fs::read(dir.path().join("orders:billing.diskqueue.000000.dat")).unwrap();
    assert_eq!(&data[..17], b"\0\0\0\x0dmessage-00000");
}

#[tokio::test]
async fn rolls_files_and_deletes_them_once_read() {
    // Checklist 71: 76-byte records, 200-byte files -> two records per file.
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("d", dir.path(), small_files(200)).unwrap();
    let payload = vec![b'x'; 72];
    for _ in 0..10 {
        queue.put(&payload).unwrap();
    }
    queue.sync().await.unwrap();
    let names = files(dir.path());
    for n in 0..5 {
        assert!(
            names.contains(&format!("d.diskqueue.{n:06}.dat")),
            "{names:?}"
        );
    }
    assert_eq!(
        fs::metadata(dir.path().join("d.diskqueue.000000.dat"))
            .unwrap()
            .len(),
        152
    );
    assert_eq!(drain(&queue).len(), 10);
    queue.sync().await.unwrap();
    assert_eq!(meta_text(dir.path(), "d"), "0\n4,152\n4,152\n");
    assert_eq!(
        files(dir.path()),
        ["d.diskqueue.000004.dat", "d.diskqueue.meta.dat"]
    );
    queue.close().await.unwrap();
}

#[tokio::test]
async fn oversized_record_gets_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("big", dir.path(), small_files(50)).unwrap();
    queue.put(b"small").unwrap();
    queue.put(&[7u8; 100]).unwrap();
    queue.put(b"after").unwrap();
    assert_eq!(queue.meta().write, Position::new(2, 9));
    let got = drain(&queue);
    assert_eq!(got, [b"small".to_vec(), vec![7u8; 100], b"after".to_vec()]);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn restart_mid_file_resumes_at_read_position() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("r", dir.path(), small_files(100)).unwrap();
    for i in 0..20 {
        queue.put(&body(i)).unwrap();
    }
    for _ in 0..7 {
        queue.pop().unwrap();
    }
    queue.close().await.unwrap();
    assert!(queue.put(b"late").is_err(), "closed queue refuses writes");
    drop(queue);

    let queue = DiskQueue::open("r", dir.path(), small_files(100)).unwrap();
    assert_eq!(queue.depth(), 13);
    queue.put(&body(20)).unwrap();
    assert_eq!(drain(&queue), (7..21).map(body).collect::<Vec<_>>());
    queue.close().await.unwrap();
}

#[tokio::test]
async fn drop_without_close_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let queue = DiskQueue::open("u", dir.path(), small_files(300)).unwrap();
        for i in 0..50 {
            queue.put(&body(i)).unwrap();
        }
        queue.sync().await.unwrap();
        for i in 50..100 {
            queue.put(&body(i)).unwrap();
        }
        // No close: metadata still says 50 records.
    }
    let queue = DiskQueue::open("u", dir.path(), small_files(300)).unwrap();
    assert_eq!(queue.depth(), 100);
    assert_eq!(drain(&queue), (0..100).map(body).collect::<Vec<_>>());
    queue.close().await.unwrap();
}

#[tokio::test]
async fn committed_records_survive_a_crash_without_metadata() {
    for max_bytes_per_file in [1 << 20, 200] {
        let dir = tempfile::tempdir().unwrap();
        let queue = DiskQueue::open("c", dir.path(), small_files(max_bytes_per_file)).unwrap();
        for i in 0..30 {
            queue.put_durable(&body(i)).await.unwrap();
        }
        // A crash: no flush, no close; metadata as stale as it gets (none at all).
        std::mem::forget(queue);
        let _ = fs::remove_file(meta_path_of(dir.path(), "c"));

        let queue = DiskQueue::open("c", dir.path(), small_files(max_bytes_per_file)).unwrap();
        assert_eq!(queue.depth(), 30);
        queue.put(&body(30)).unwrap();
        assert_eq!(drain(&queue), (0..31).map(body).collect::<Vec<_>>());
        queue.close().await.unwrap();
    }
}

#[tokio::test]
async fn torn_tail_after_crash_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("torn", dir.path(), opts()).unwrap();
    for i in 0..5 {
        queue.put(&body(i)).unwrap();
    }
    queue.close().await.unwrap();
    // Simulate a crash in the middle of an append after the last metadata sync.
    let path = dir.path().join("torn.diskqueue.000000.dat");
    let mut data = fs::read(&path).unwrap();
    data.extend_from_slice(&[0, 0, 0, 13]);
    data.extend_from_slice(&body(5));
    data.extend_from_slice(&[0, 0, 0, 13, b'p']);
    fs::write(&path, data).unwrap();

    let queue = DiskQueue::open("torn", dir.path(), opts()).unwrap();
    assert_eq!(queue.depth(), 6);
    queue.put(&body(6)).unwrap();
    assert_eq!(queue.meta().write.file, 1, "writing moved to a new file");
    assert_eq!(drain(&queue), (0..7).map(body).collect::<Vec<_>>());
    assert!(files(dir.path()).contains(&"torn.diskqueue.000000.dat.bad".to_string()));
    queue.close().await.unwrap();
}

#[tokio::test]
async fn corrupt_segment_is_renamed_bad_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("bad", dir.path(), small_files(100)).unwrap();
    // 17-byte records, 5 per file: files 0..=3 full, file 4 holds the rest.
    for i in 0..25 {
        queue.put(&body(i)).unwrap();
    }
    queue.close().await.unwrap();
    drop(queue);
    let corrupt = dir.path().join("bad.diskqueue.000001.dat");
    let mut data = fs::read(&corrupt).unwrap();
    data[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
    fs::write(&corrupt, data).unwrap();

    let queue = DiskQueue::open("bad", dir.path(), small_files(100)).unwrap();
    let got = drain(&queue);
    let mut expected: Vec<_> = (0..6).map(body).collect();
    expected.extend((10..25).map(body));
    assert_eq!(
        got, expected,
        "first record of the bad file, then the next files"
    );
    assert!(files(dir.path()).contains(&"bad.diskqueue.000001.dat.bad".to_string()));
    assert_eq!(queue.depth(), 0);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn truncated_segment_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("trunc", dir.path(), small_files(100)).unwrap();
    for i in 0..15 {
        queue.put(&body(i)).unwrap();
    }
    queue.close().await.unwrap();
    drop(queue);
    let file = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("trunc.diskqueue.000000.dat"))
        .unwrap();
    file.set_len(40).unwrap();

    let queue = DiskQueue::open("trunc", dir.path(), small_files(100)).unwrap();
    let mut expected: Vec<_> = (0..2).map(body).collect();
    expected.extend((5..15).map(body));
    assert_eq!(drain(&queue), expected);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn size_limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskQueueOptions {
        min_msg_size: 4,
        max_msg_size: 8,
        ..opts()
    };
    let queue = DiskQueue::open("s", dir.path(), options).unwrap();
    assert!(matches!(
        queue.put(b"abc"),
        Err(DiskQueueError::InvalidMessageSize {
            size: 3,
            min: 4,
            max: 8
        })
    ));
    assert!(queue.put(b"123456789").is_err());
    queue.put(b"1234").unwrap();
    queue.put(b"12345678").unwrap();
    assert_eq!(queue.depth(), 2);
    queue.close().await.unwrap();
    drop(queue);

    // A record on disk outside the limits marks the file corrupt.
    let narrower = DiskQueueOptions {
        max_msg_size: 6,
        ..options
    };
    let queue = DiskQueue::open("s", dir.path(), narrower).unwrap();
    assert_eq!(drain(&queue), [b"1234".to_vec()]);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn empty_deletes_files_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("e", dir.path(), small_files(100)).unwrap();
    for i in 0..12 {
        queue.put(&body(i)).unwrap();
    }
    queue.sync().await.unwrap();
    queue.empty().unwrap();
    assert_eq!(queue.depth(), 0);
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    queue.put(&body(99)).unwrap();
    assert_eq!(queue.meta().write, Position::new(3, 17));
    assert_eq!(drain(&queue), [body(99)]);
    queue.delete().unwrap();
    assert!(files(dir.path()).is_empty());
    assert!(queue.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_puts_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("g", dir.path(), small_files(4096)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                queue.put_durable(&body(t * 1000 + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(queue.depth(), 400);
    let mut got = drain(&queue);
    got.sort();
    let mut expected: Vec<_> = (0..8)
        .flat_map(|t| (0..50).map(move |i| body(t * 1000 + i)))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn reader_waits_for_writer() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("w", dir.path(), small_files(1000)).unwrap();
    let reader = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 500 {
                got.push(queue.next().await.unwrap().to_vec());
            }
            got
        })
    };
    for i in 0..500 {
        queue.put(&body(i)).unwrap();
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (0..500).map(body).collect::<Vec<_>>());
    queue.close().await.unwrap();
    assert_eq!(queue.next().await, None);
}

#[tokio::test]
async fn periodic_sync_writes_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskQueueOptions {
        sync_timeout: Duration::from_millis(20),
        ..opts()
    };
    let queue = DiskQueue::open("p", dir.path(), options).unwrap();
    queue.put(b"hello").unwrap();
    let meta = meta_path_of(dir.path(), "p");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !meta.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(fs::read_to_string(&meta).unwrap(), "1\n0,0\n0,9\n");
    queue.close().await.unwrap();
}

#[tokio::test]
async fn sync_every_triggers_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskQueueOptions {
        sync_every: 10,
        ..opts()
    };
    let queue = DiskQueue::open("n", dir.path(), options).unwrap();
    for i in 0..10 {
        queue.put(&body(i)).unwrap();
    }
    let meta = meta_path_of(dir.path(), "n");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !meta.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    queue.close().await.unwrap();
}

#[tokio::test]
async fn disk_errors_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let queue = DiskQueue::open("x", &data, opts()).unwrap();
    queue.put(b"before").unwrap();
    queue.sync().await.unwrap();
    // The directory disappears (like a yanked disk): new files cannot be created.
    fs::remove_dir_all(&data).unwrap();
    let err = queue.empty();
    assert!(err.is_ok(), "files already gone: {err:?}");
    let err = queue.put_durable(b"after").await.unwrap_err();
    assert!(err.to_string().contains("x.diskqueue"), "{err}");
    assert!(matches!(err, DiskQueueError::Io { .. }));
    // While the disk keeps failing, further writes are refused at once.
    assert!(queue.put(b"refused").is_err());
    // Once the disk is back the queue works again and nothing is corrupted.
    fs::create_dir(&data).unwrap();
    queue.put_durable(b"again").await.unwrap();
    assert_eq!(drain(&queue), [b"after".to_vec(), b"again".to_vec()]);
    queue.close().await.unwrap();
}

#[test]
fn works_without_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskQueueOptions {
        sync_every: 3,
        ..opts()
    };
    let queue = DiskQueue::open("nr", dir.path(), options).unwrap();
    for i in 0..3 {
        queue.put(&body(i)).unwrap();
    }
    // sync_every reached with no runtime: synced inline.
    assert_eq!(meta_text(dir.path(), "nr"), "3\n0,0\n0,51\n");
    assert_eq!(drain(&queue).len(), 3);
}

// ---- the data directory written by Go nsqd v1.3.0 (see the fixture's MANIFEST.md) ---------

fn go_fixture() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go-nsqd-1.3-data/data");
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// nsqd's options: 26-byte message header + `--max-msg-size`.
fn nsqd_opts() -> DiskQueueOptions {
    DiskQueueOptions {
        sync_timeout: Duration::from_secs(3600),
        ..DiskQueueOptions::default()
    }
}

/// Splits a record into (timestamp, attempts, id, body) per the nsqd message layout.
fn decode_message(record: &[u8]) -> (i64, u16, String, String) {
    assert!(record.len() >= 26);
    let timestamp = i64::from_be_bytes(record[..8].try_into().unwrap());
    let attempts = u16::from_be_bytes(record[8..10].try_into().unwrap());
    let id = String::from_utf8(record[10..26].to_vec()).unwrap();
    let body = String::from_utf8(record[26..].to_vec()).unwrap();
    (timestamp, attempts, id, body)
}

#[tokio::test]
async fn reads_go_fixture_billing_from_its_read_position() {
    let dir = go_fixture();
    let queue = DiskQueue::open("orders:billing", dir.path(), nsqd_opts()).unwrap();
    assert_eq!(queue.depth(), 2000);
    let records = drain(&queue);
    let bodies: Vec<_> = records.iter().map(|r| decode_message(r).3).collect();
    let expected: Vec<_> = (1000..3000).map(|i| format!("order-{i:05}")).collect();
    assert_eq!(bodies, expected);
    for record in &records {
        let (timestamp, attempts, id, _) = decode_message(record);
        assert_eq!(attempts, 0);
        assert!(timestamp > 1_600_000_000_000_000_000);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    assert_eq!(queue.depth(), 0);
    queue.close().await.unwrap();
    assert_eq!(
        meta_text(dir.path(), "orders:billing"),
        "0\n0,118900\n0,118900\n"
    );
}

#[tokio::test]
async fn reads_go_fixture_audit_and_archive_in_full() {
    let dir = go_fixture();
    let audit = DiskQueue::open("orders:audit", dir.path(), nsqd_opts()).unwrap();
    assert_eq!(audit.depth(), 3000);
    let bodies: Vec<_> = drain(&audit).iter().map(|r| decode_message(r).3).collect();
    let expected: Vec<_> = (100..3000)
        .chain(0..100)
        .map(|i| format!("order-{i:05}"))
        .collect();
    assert_eq!(bodies, expected);

    let archive = DiskQueue::open("events:archive", dir.path(), nsqd_opts()).unwrap();
    assert_eq!(archive.depth(), 500);
    assert_eq!(drain(&archive).len(), 500);

    let topic = DiskQueue::open("orders", dir.path(), nsqd_opts()).unwrap();
    assert_eq!(topic.depth(), 0);
    assert!(topic.pop().is_none());
    for q in [audit, archive, topic] {
        q.close().await.unwrap();
    }
    assert!(!files(dir.path()).iter().any(|f| f.ends_with(".bad")));
}

#[tokio::test]
async fn go_fixture_accepts_appends_after_go_data() {
    let dir = go_fixture();
    let queue = DiskQueue::open("events:archive", dir.path(), nsqd_opts()).unwrap();
    let mut record = vec![0u8; 26];
    record.extend_from_slice(b"ours");
    queue.put(&record).unwrap();
    queue.close().await.unwrap();
    drop(queue);
    assert_eq!(
        meta_text(dir.path(), "events:archive"),
        "501\n0,0\n0,20534\n"
    );
    let queue = DiskQueue::open("events:archive", dir.path(), nsqd_opts()).unwrap();
    let records = drain(&queue);
    assert_eq!(records.len(), 501);
    assert_eq!(records[500], record);
    queue.close().await.unwrap();
}

#[test]
fn futures_are_send_for_spawning() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("send", dir.path(), opts()).unwrap();
    assert_send(&queue.next());
    assert_send(&queue.readable());
    assert_send(&queue.put_durable(b"x"));
    assert_send(&queue.commit());
    assert_send(&queue.sync());
    assert_send(&queue.close());
}

#[tokio::test]
async fn buffered_records_reach_the_os_soon_without_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("soon", dir.path(), opts()).unwrap();
    queue.put(&body(1)).unwrap();
    let file = dir.path().join("soon.diskqueue.000000.dat");
    tokio::time::timeout(Duration::from_secs(10), async {
        while fs::metadata(&file).map(|m| m.len()).unwrap_or(0) < 17 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        !meta_path_of(dir.path(), "soon").exists(),
        "no sync was due"
    );
    queue.close().await.unwrap();
}

#[tokio::test]
async fn write_through_writes_each_record_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = DiskQueueOptions {
        write_through: true,
        ..opts()
    };
    let queue = DiskQueue::open("wt", dir.path(), options).unwrap();
    let file = dir.path().join("wt.diskqueue.000000.dat");
    for i in 1..=3 {
        queue.put(&body(i)).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().len(), 17 * i as u64);
    }
    queue.close_blocking().unwrap();
    assert_eq!(meta_text(dir.path(), "wt"), "3\n0,0\n0,51\n");
}

#[tokio::test]
async fn put_with_encodes_in_place_and_checks_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let queue = DiskQueue::open("pw", dir.path(), small_files(40)).unwrap();
    for i in 0..5 {
        queue
            .put_with(|buf| buf.extend_from_slice(&body(i)))
            .unwrap();
    }
    assert!(matches!(
        queue.put_with(|_| {}),
        Err(DiskQueueError::InvalidMessageSize { size: 0, .. })
    ));
    // 17-byte records, 40-byte files: two per file.
    assert_eq!(queue.meta().write, Position::new(2, 17));
    assert_eq!(drain(&queue), (0..5).map(body).collect::<Vec<_>>());
    queue.close().await.unwrap();
}
