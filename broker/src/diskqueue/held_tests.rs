//! Tests of read holds ([`DiskQueue::pop_held`] / [`DiskQueue::release`]): what a crash
//! re-reads, which data files stay, and how metadata counts held records.

use std::path::Path;

use super::tests::{body, drain, files, small_files};
use super::*;

/// Records of 17 bytes: 5 fit in one 100-byte data file.
const FILE_BYTES: u64 = 100;

/// The data files in `dir` (metadata left out).
fn data_files(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|n| !n.contains("meta"))
        .collect()
}

/// Opens `h` again (after a crash or a close) and reads everything in it.
async fn read_after_restart(dir: &Path) -> Vec<Vec<u8>> {
    let queue = DiskQueue::open("h", dir, small_files(FILE_BYTES)).unwrap();
    let records = drain(&queue);
    queue.close().await.unwrap();
    records
}

/// Opens `h` in `dir` with 20 durable records (17 bytes each: 5 per 100-byte file).
async fn queue_with_20(dir: &Path) -> DiskQueue {
    let queue = DiskQueue::open("h", dir, small_files(FILE_BYTES)).unwrap();
    for i in 0..20 {
        queue.put_durable(&body(i)).await.unwrap();
    }
    queue
}

#[tokio::test]
async fn a_crash_reads_again_from_the_oldest_held_record() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with_20(dir.path()).await;
    let mut holds = Vec::new();
    for i in 0..15 {
        let (data, hold) = queue.pop_held().unwrap();
        assert_eq!(data.as_ref(), &body(i)[..]);
        holds.push(hold);
    }
    for (i, hold) in holds.iter().enumerate() {
        if i != 7 && i != 11 {
            queue.release(*hold);
        }
    }
    assert_eq!(queue.held(), 2);
    assert_eq!(queue.depth(), 5, "depth counts unread records only");
    queue.sync().await.unwrap();
    // Record 7 sits in the second file (5 records per file): the first one is gone.
    assert_eq!(
        data_files(dir.path()),
        [
            "h.diskqueue.000001.dat",
            "h.diskqueue.000002.dat",
            "h.diskqueue.000003.dat"
        ]
    );
    std::mem::forget(queue); // a crash: no close

    let queue = DiskQueue::open("h", dir.path(), small_files(FILE_BYTES)).unwrap();
    assert_eq!(queue.depth(), 13);
    assert_eq!(drain(&queue), (7..20).map(body).collect::<Vec<_>>());
    queue.close().await.unwrap();
}

#[tokio::test]
async fn released_records_are_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with_20(dir.path()).await;
    let holds: Vec<_> = std::iter::from_fn(|| queue.pop_held().map(|(_, hold)| hold)).collect();
    assert_eq!(holds.len(), 20);
    assert_eq!(data_files(dir.path()).len(), 4, "held files are kept");
    for hold in holds.iter().rev() {
        queue.release(*hold);
        queue.release(*hold);
    }
    assert_eq!(queue.held(), 0);
    assert_eq!(data_files(dir.path()), ["h.diskqueue.000003.dat"]);
    queue.sync().await.unwrap();
    std::mem::forget(queue);

    assert!(read_after_restart(dir.path()).await.is_empty());
}

#[tokio::test]
async fn metadata_counts_held_records_as_unread() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with_20(dir.path()).await;
    let (_, first) = queue.pop_held().unwrap();
    drain(&queue);
    let held = queue.meta();
    assert_eq!((held.depth, held.read), (20, Position::new(0, 0)));
    queue.release(first);
    let settled = queue.meta();
    assert_eq!(settled.depth, 0);
    assert_eq!(settled.read, settled.write);
    queue.close().await.unwrap();
}

#[tokio::test]
async fn close_keeps_holds_unless_released() {
    for release_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_with_20(dir.path()).await;
        for _ in 0..3 {
            queue.pop_held().unwrap();
        }
        if release_first {
            queue.release_all();
        }
        queue.close().await.unwrap();
        drop(queue);

        let expected = if release_first { 3..20 } else { 0..20 };
        let records = read_after_restart(dir.path()).await;
        assert_eq!(records, expected.map(body).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn empty_drops_holds() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_with_20(dir.path()).await;
    let (_, hold) = queue.pop_held().unwrap();
    queue.empty().unwrap();
    assert_eq!(queue.held(), 0);
    queue.release(hold);
    queue.put(&body(99)).unwrap();
    queue.sync().await.unwrap();
    std::mem::forget(queue);
    assert_eq!(read_after_restart(dir.path()).await, vec![body(99)]);
}
