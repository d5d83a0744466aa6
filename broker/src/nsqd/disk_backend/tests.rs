//! The disk backend with `--sync-ack`: read holds by message id and the deferred journal
//! across a crash and a clean close.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::*;

fn message(n: u64) -> Message {
    Message {
        timestamp: 1_700_000_000_000_000_000,
        attempts: 0,
        id: MessageId::from_u64(n),
        body: Bytes::from(format!("deferred-{n}")),
    }
}

fn backends(dir: &Path) -> DiskBackends {
    let opts = NsqdOptions {
        data_path: dir.to_owned(),
        sync_ack: true,
        ..NsqdOptions::default()
    };
    DiskBackends::new(&opts, Arc::default())
}

fn journal_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(";deferred"))
        .count()
}

#[test]
fn holds_of_an_id_read_twice_are_released_together() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DiskQueueOptions {
        min_msg_size: 1,
        ..DiskQueueOptions::default()
    };
    let queue = DiskQueue::open("q", dir.path(), opts).unwrap();
    for body in [b"a", b"b", b"c"] {
        queue.put(body).unwrap();
    }
    let (x, y) = (MessageId::from_u64(1), MessageId::from_u64(2));
    let mut holds = Holds::default();
    for id in [x, x, y] {
        let (_, hold) = queue.pop_held().unwrap();
        holds.insert(id, Held::Queue(hold));
    }
    assert_eq!(holds.remove(&x).count(), 2);
    assert_eq!(holds.remove(&x).count(), 0);
    assert_eq!(holds.remove(&y).count(), 1);
    assert!(holds.more.is_empty());
}

#[tokio::test]
async fn deferred_messages_survive_a_crash_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let due = SystemTime::now() + Duration::from_secs(600);
    let backend = backends(dir.path()).open("t:c").unwrap();
    for n in 1..=3 {
        backend.defer(&message(n), due).unwrap();
    }
    backend.commit().await.unwrap();
    backend.release(&MessageId::from_u64(1)); // due: moved to the queue
    backend.flush().unwrap(); // metadata written with the holds
    std::mem::forget(backend); // a crash: no close

    let backend = backends(dir.path()).open("t:c").unwrap();
    let restored = backend.take_deferred();
    let messages: Vec<Message> = restored.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(messages, [message(2), message(3)]);
    for (_, restored_due) in &restored {
        let skew = restored_due
            .duration_since(due)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap();
        assert!(skew < Duration::from_micros(1), "due time kept");
    }
    assert_eq!(backend.depth(), 0, "deferred messages are not in the queue");
    backend.release_all();
    backend.close().unwrap();
    assert_eq!(
        journal_files(dir.path()),
        0,
        "an empty journal is removed at close"
    );
}

#[tokio::test]
async fn without_sync_ack_a_left_journal_is_still_restored() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backends(dir.path()).open("t:c").unwrap();
    backend.defer(&message(7), SystemTime::now()).unwrap();
    backend.flush().unwrap();
    std::mem::forget(backend);

    let opts = NsqdOptions {
        data_path: dir.path().to_owned(),
        ..NsqdOptions::default()
    };
    let backend = DiskBackends::new(&opts, Arc::default())
        .open("t:c")
        .unwrap();
    let restored = backend.take_deferred();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].0, message(7));
    backend.defer(&message(8), SystemTime::now()).unwrap();
    assert!(
        backend.take_deferred().is_empty(),
        "no new journal writes without --sync-ack"
    );
    backend.release(&MessageId::from_u64(7));
    backend.close().unwrap();
    assert_eq!(journal_files(dir.path()), 0);
}

#[test]
fn topics_have_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backends(dir.path()).open("t").unwrap();
    backend.defer(&message(1), SystemTime::now()).unwrap();
    assert!(backend.take_deferred().is_empty());
    assert_eq!(journal_files(dir.path()), 0);
}
