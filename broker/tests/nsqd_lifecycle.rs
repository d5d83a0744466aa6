//! Pause/unpause, empty, delete, ephemeral cleanup, lifecycle events, engine API, bad input
//! isolation and shutdown.

mod common;

use std::time::Duration;

use broker::nsqd::stats::StatsFilter;
use broker::nsqd::{EngineError, NsqdEvent};
use bytes::Bytes;
use common::*;
use nsq_wire::command::Command;
use nsq_wire::identify::IdentifyRequest;

#[tokio::test]
async fn channel_pause_stops_delivery_until_unpause() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 10).await;
    c.send(&Command::Nop).await;
    eventually(|| ctx.channel("t", "c").is_ok()).await;
    ctx.channel("t", "c").unwrap().pause();
    publish(nsqd.tcp_addr(), "t", &["a", "b"]).await;
    c.expect_silence(300).await;
    let channel = first_channel(&nsqd);
    assert!(channel.paused);
    assert_eq!(channel.depth, 2);
    ctx.channel("t", "c").unwrap().unpause();
    c.next_message().await;
    c.next_message().await;
}

#[tokio::test]
async fn topic_pause_holds_messages_in_the_topic() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 10).await;
    ctx.topic("t").unwrap().pause();
    publish(nsqd.tcp_addr(), "t", &["a"]).await;
    c.expect_silence(300).await;
    let topic = first_topic(&nsqd);
    assert!(topic.paused);
    assert_eq!(topic.depth, 1);
    ctx.topic("t").unwrap().unpause();
    assert_eq!(&c.next_message().await.body[..], b"a");
}

#[tokio::test]
async fn channel_empty_drops_queued_and_in_flight() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    publish(nsqd.tcp_addr(), "t", &["1", "2", "3", "4"]).await;
    let m = c.next_message().await;
    ctx.channel("t", "c").unwrap().empty().unwrap();
    let channel = first_channel(&nsqd);
    assert_eq!(channel.depth, 0);
    assert_eq!(channel.in_flight_count, 0);
    assert_eq!(channel.clients.as_ref().unwrap()[0].in_flight_count, 0);
    c.send(&Command::Fin(m.id)).await;
    c.expect_error(&format!(
        "E_FIN_FAILED FIN {} failed ID not in flight",
        m.id
    ))
    .await;
    publish(nsqd.tcp_addr(), "t", &["5"]).await;
    assert_eq!(&c.next_message().await.body[..], b"5");
}

#[tokio::test]
async fn topic_empty_drops_only_the_topic_backlog() {
    let nsqd = start().await;
    publish(nsqd.tcp_addr(), "t", &["1", "2"]).await;
    nsqd.context().topic("t").unwrap().empty().unwrap();
    assert_eq!(first_topic(&nsqd).depth, 0);
}

#[tokio::test]
async fn channel_delete_closes_its_consumers() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let mut events = ctx.events();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    ctx.delete_channel("t", "c").unwrap();
    c.expect_closed().await;
    assert!(matches!(
        ctx.channel("t", "c"),
        Err(EngineError::ChannelNotFound)
    ));
    assert!(matches!(
        ctx.delete_channel("t", "c"),
        Err(EngineError::ChannelNotFound)
    ));
    assert!(matches!(
        ctx.delete_channel("nope", "c"),
        Err(EngineError::TopicNotFound)
    ));
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push(ev);
    }
    assert!(seen.contains(&NsqdEvent::TopicCreated { topic: "t".into() }));
    assert!(seen.contains(&NsqdEvent::ChannelCreated {
        topic: "t".into(),
        channel: "c".into()
    }));
    assert!(seen.contains(&NsqdEvent::ChannelDeleted {
        topic: "t".into(),
        channel: "c".into()
    }));
}

#[tokio::test]
async fn topic_delete_closes_consumers_and_recreates_empty() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 0).await;
    publish(nsqd.tcp_addr(), "t", &["old"]).await;
    ctx.delete_topic("t").unwrap();
    c.expect_closed().await;
    assert!(ctx.topic("t").is_none());
    assert!(matches!(
        ctx.delete_topic("t"),
        Err(EngineError::TopicNotFound)
    ));
    let mut p = Client::connect(nsqd.tcp_addr()).await;
    p.publish("t", "new").await;
    let topic = first_topic(&nsqd);
    assert_eq!(topic.message_count, 1);
    assert!(topic.channels.is_empty());
}

#[tokio::test]
async fn ephemeral_channel_and_topic_vanish_with_last_consumer() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let c = Client::consumer(nsqd.tcp_addr(), "e#ephemeral", "c#ephemeral", 0).await;
    let d = Client::consumer(nsqd.tcp_addr(), "t", "d#ephemeral", 0).await;
    eventually(|| ctx.channel("t", "d#ephemeral").is_ok()).await;
    drop(c);
    drop(d);
    eventually(|| ctx.topic("e#ephemeral").is_none()).await;
    eventually(|| ctx.channel("t", "d#ephemeral").is_err()).await;
    // The durable topic stays.
    assert!(ctx.topic("t").is_some());
}

#[tokio::test]
async fn engine_publish_api_and_channel_creation() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    assert!(matches!(
        ctx.create_channel("missing", "c"),
        Err(EngineError::TopicNotFound)
    ));
    ctx.publish("t", Bytes::from_static(b"one")).unwrap();
    assert!(matches!(
        ctx.create_channel("t", "bad!"),
        Err(EngineError::InvalidChannel)
    ));
    assert!(matches!(
        ctx.publish("bad!", Bytes::from_static(b"x")),
        Err(EngineError::InvalidTopic)
    ));
    ctx.create_channel("t", "c").unwrap();
    ctx.publish_multi(
        "t",
        vec![Bytes::from_static(b"two"), Bytes::from_static(b"three")],
    )
    .unwrap();
    ctx.publish_deferred("t", Bytes::from_static(b"four"), Duration::from_millis(200))
        .unwrap();
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 10).await;
    let bodies = c.next_bodies(4).await;
    assert_eq!(
        bodies,
        ["one", "two", "three", "four"].map(|s| Bytes::from_static(s.as_bytes()))
    );
}

#[tokio::test]
async fn client_stats_reflect_identify() {
    let nsqd = start().await;
    let (mut c, _) = Client::identified(
        nsqd.tcp_addr(),
        IdentifyRequest {
            client_id: Some("worker-1".into()),
            hostname: Some("box".into()),
            user_agent: Some("test/1.0".into()),
            sample_rate: Some(10),
            ..Default::default()
        },
    )
    .await;
    c.sub("t", "c").await;
    c.send(&Command::Rdy(7)).await;
    c.send(&Command::Nop).await;
    eventually(|| {
        nsqd.context().stats(&all_stats())[0].channels[0]
            .clients
            .as_ref()
            .is_some_and(|c| c[0].ready_count == 7)
    })
    .await;
    let channel = first_channel(&nsqd);
    let client = &channel.clients.as_ref().unwrap()[0];
    assert_eq!(client.client_id, "worker-1");
    assert_eq!(client.hostname, "box");
    assert_eq!(client.user_agent, "test/1.0");
    assert_eq!(client.version, "V2");
    assert_eq!(client.state, 3);
    assert_eq!(client.sample_rate, 10);
    let json = serde_json::to_value(client).unwrap();
    assert!(json.get("authed").is_none());
    assert!(json.get("pub_counts").is_none());
    let no_clients = nsqd.context().stats(&StatsFilter::default());
    assert!(no_clients[0].channels[0].clients.is_none());
    assert_eq!(no_clients[0].channels[0].client_count, 1);
}

#[tokio::test]
async fn bad_input_never_disturbs_other_clients() {
    let nsqd = start().await;
    let addr = nsqd.tcp_addr();
    let mut consumer = Client::consumer(addr, "t", "c", 100).await;
    let garbage: &[&[u8]] = &[
        b"\x00\x01\x02\x03\xff\xfe\xfd\n",
        b"GARBAGE\x00\xff\n",
        b"PUB t\n\xff\xff\xff\xff",
        b"PUB t\n\x7f\xff\xff\xff",
        b"MPUB t\n\x7f\xff\xff\xff",
        b"MPUB t\n\x00\x00\x00\x08\xff\xff\xff\xff",
        b"IDENTIFY\n\x00\x00\x00\x03{x}",
        b"IDENTIFY\n\x00\x00\x00\x02[]",
        b"SUB \xff\xfe c\n",
        b"RDY 99999999999999999999999\n",
        b"FIN \n",
    ];
    for (i, bytes) in garbage.iter().enumerate() {
        let mut bad = Client::connect(addr).await;
        bad.send_raw(bytes).await;
        // Every one of these gets an error frame and is closed.
        match bad.next_non_heartbeat().await {
            Some(nsq_wire::frame::Frame::Error(_)) => bad.expect_closed().await,
            other => panic!("case {i}: expected an error frame, got {other:?}"),
        }
        publish(addr, "t", &["ok"]).await;
        let m = consumer.next_message().await;
        consumer.send(&Command::Fin(m.id)).await;
    }
    // Truncated frames followed by EOF.
    for bytes in [
        &b"PUB t\n\x00\x00\x00\x10abc"[..],
        b"MPUB t\n\x00\x00\x00\x20\x00\x00\x00\x02",
        b"SUB t",
    ] {
        let mut bad = Client::connect(addr).await;
        bad.send_raw(bytes).await;
        bad.shutdown_write().await;
        let _ = bad.read_frame().await;
        publish(addr, "t", &["ok"]).await;
        consumer.next_message().await;
    }
}

#[tokio::test]
async fn invalid_utf8_names_are_quoted_like_go() {
    let nsqd = start().await;
    let mut c = Client::connect(nsqd.tcp_addr()).await;
    c.send_raw(b"SUB \xff\xfe c\n").await;
    c.expect_fatal("E_BAD_TOPIC SUB topic name \"\\xff\\xfe\" is not valid")
        .await;
}

#[tokio::test]
async fn shutdown_closes_clients_and_is_idempotent() {
    let nsqd = start().await;
    let mut c = Client::consumer(nsqd.tcp_addr(), "t", "c", 1).await;
    let mut p = Client::connect(nsqd.tcp_addr()).await;
    p.publish("t", "x").await;
    c.next_message().await;
    nsqd.shutdown().await;
    c.expect_closed().await;
    p.expect_closed().await;
    nsqd.shutdown().await;
    assert!(tokio::net::TcpStream::connect(nsqd.tcp_addr())
        .await
        .is_err());
}

#[tokio::test]
async fn topic_pause_and_unpause_emit_events() {
    let nsqd = start().await;
    let ctx = nsqd.context();
    let topic = ctx.get_or_create_topic("t").unwrap();
    let mut events = ctx.events();
    topic.pause();
    topic.unpause();
    let first = tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, NsqdEvent::TopicPaused { topic: "t".into() });
    assert_eq!(second, NsqdEvent::TopicUnpaused { topic: "t".into() });
}
