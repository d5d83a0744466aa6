//! Unit tests of the channel: wake-ups, timeouts, ephemeral hand-off.
use super::*;
use crate::nsqd::client::ClientState;
use bytes::Bytes;

fn limits() -> ChannelLimits {
    ChannelLimits {
        mem_queue_size: 100,
        max_msg_timeout: Duration::from_secs(60),
        max_channel_consumers: 0,
    }
}

/// A memory-only channel of topic `t` with its own timer task.
fn new_channel(name: &str, limits: ChannelLimits) -> Arc<Channel> {
    Channel::new(
        "t",
        name,
        limits,
        None,
        CancellationToken::new(),
        E2eLatency::default(),
    )
}

fn consumer(channel: &Channel, id: u64, rdy: i64) -> Arc<ClientShared> {
    let client = Arc::new(ClientShared::new(
        id,
        "127.0.0.1:1".parse().unwrap(),
        CancellationToken::new(),
    ));
    client.set_state(ClientState::Subscribed);
    client.ready_count.store(rdy, Ordering::Release);
    channel.add_consumer(client.clone()).unwrap();
    client
}

fn msg(n: u64) -> Message {
    Message {
        timestamp: 0,
        attempts: 0,
        id: MessageId::from_u64(n),
        body: Bytes::from_static(b"x"),
    }
}

async fn woken(client: &ClientShared) -> bool {
    tokio::time::timeout(Duration::from_millis(100), client.wake.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn one_message_wakes_one_ready_consumer_and_kick_passes_it_on() {
    let channel = new_channel("c", limits());
    let a = consumer(&channel, 1, 1);
    let b = consumer(&channel, 2, 1);
    let mut out = Vec::new();
    channel.take(&a, 1, 0, Duration::from_secs(1), &mut out);
    channel.take(&b, 1, 0, Duration::from_secs(1), &mut out);
    assert!(out.is_empty());

    channel.put([Entry::now(msg(1))]).unwrap();
    assert!(woken(&a).await);
    assert!(!woken(&b).await);

    // A lowers its RDY before taking the message: B must get the wake-up instead.
    a.ready_count.store(0, Ordering::Release);
    channel.kick();
    assert!(woken(&b).await);
    channel.take(&b, 1, 0, Duration::from_secs(1), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].attempts, 1);
    assert_eq!(b.in_flight.load(Ordering::Acquire), 1);
    channel.delete();
}

#[tokio::test]
async fn ephemeral_without_memory_accepts_only_for_waiting_consumers() {
    let zero = ChannelLimits {
        mem_queue_size: 0,
        ..limits()
    };
    let channel = new_channel("c#ephemeral", zero);
    channel.put([Entry::now(msg(1))]).unwrap();
    assert_eq!(channel.stats(false).depth, 0, "nobody waits: dropped");

    let a = consumer(&channel, 1, 5);
    let mut out = Vec::new();
    channel.take(&a, 5, 0, Duration::from_secs(1), &mut out);
    assert!(out.is_empty());
    channel
        .put([Entry::now(msg(2)), Entry::now(msg(3))])
        .unwrap();
    assert_eq!(
        channel.stats(false).depth,
        1,
        "one waiting consumer takes one message"
    );
    channel.take(&a, 5, 0, Duration::from_secs(1), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, MessageId::from_u64(2));
    channel.delete();
}

#[tokio::test]
async fn timeout_requeues_and_frees_the_owner() {
    let channel = new_channel("c", limits());
    let a = consumer(&channel, 1, 1);
    channel.put([Entry::now(msg(1))]).unwrap();
    let mut out = Vec::new();
    channel.take(&a, 1, 0, Duration::from_millis(50), &mut out);
    assert_eq!(out.len(), 1);
    assert!(woken(&a).await || woken(&a).await);
    tokio::time::timeout(Duration::from_secs(2), async {
        while a.in_flight.load(Ordering::Acquire) != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let stats = channel.stats(false);
    assert_eq!(stats.timeout_count, 1);
    assert_eq!(stats.depth, 1);
    channel.delete();
}
