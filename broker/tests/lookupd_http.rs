//! nsqlookupd's HTTP API over real HTTP (conformance checklist section J).

mod lookupd_support;

use std::time::Duration;

use lookupd_support::*;

const NSQ_V1: Option<&str> = Some("nsq; version=1.0");

#[tokio::test]
async fn ping_info_and_unknown_routes() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();

    let ping = get(http, "/ping").await;
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    assert_eq!(ping.nsq_content_type, None);
    assert_eq!(
        ping.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );

    let info = get(http, "/info").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body, r#"{"version":"1.3.0"}"#);
    assert_eq!(info.nsq_content_type.as_deref(), NSQ_V1);
    assert_eq!(
        info.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );

    let missing = get(http, "/nope").await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, r#"{"message":"NOT_FOUND"}"#)
    );
    assert_eq!(missing.nsq_content_type.as_deref(), NSQ_V1);

    let wrong_method = get(http, "/topic/create?topic=t").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body, r#"{"message":"METHOD_NOT_ALLOWED"}"#);
    assert_eq!(wrong_method.nsq_content_type.as_deref(), NSQ_V1);
    assert!(wrong_method.allow.unwrap().contains("POST"));
    assert_eq!(post(http, "/lookup?topic=t").await.status, 405);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn lookup_errors() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let unknown = get(http, "/lookup?topic=unknown").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, r#"{"message":"TOPIC_NOT_FOUND"}"#);
    assert_eq!(unknown.nsq_content_type.as_deref(), NSQ_V1);
    let missing = get(http, "/lookup").await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, r#"{"message":"MISSING_ARG_TOPIC"}"#);
    let bad_query = get(http, "/lookup?topic=%zz").await;
    assert_eq!(bad_query.status, 400);
    assert_eq!(bad_query.body, r#"{"message":"INVALID_REQUEST"}"#);
    let channels = get(http, "/channels").await;
    assert_eq!(
        (channels.status, channels.body.as_str()),
        (400, r#"{"message":"MISSING_ARG_TOPIC"}"#)
    );
    lookupd.shutdown().await;
}

#[tokio::test]
async fn empty_lists_are_lists_not_null() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    assert_eq!(get(http, "/topics").await.body, r#"{"topics":[]}"#);
    assert_eq!(
        get(http, "/channels?topic=x").await.body,
        r#"{"channels":[]}"#
    );
    assert_eq!(get(http, "/nodes").await.body, r#"{"producers":[]}"#);
    assert_eq!(get(http, "/debug").await.body, "{}");
    lookupd.shutdown().await;
}

#[tokio::test]
async fn topic_and_channel_administration() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();

    let created = post(http, "/topic/create?topic=x").await;
    assert_eq!((created.status, created.body.as_str()), (200, ""));
    assert_eq!(created.nsq_content_type.as_deref(), NSQ_V1);
    assert_eq!(created.content_type, None);
    assert_eq!(
        get(http, "/lookup?topic=x").await.body,
        r#"{"channels":[],"producers":[]}"#
    );

    let errors = [
        ("/topic/create", "MISSING_ARG_TOPIC"),
        ("/topic/create?topic=bad!", "INVALID_ARG_TOPIC"),
        ("/topic/create?topic=", "INVALID_ARG_TOPIC"),
        ("/topic/delete", "MISSING_ARG_TOPIC"),
        ("/channel/create?topic=x", "MISSING_ARG_CHANNEL"),
        ("/channel/create?topic=x&channel=b@d", "INVALID_ARG_CHANNEL"),
        ("/channel/create?channel=c", "MISSING_ARG_TOPIC"),
        ("/channel/delete?topic=x&channel=b@d", "INVALID_ARG_CHANNEL"),
        ("/topic/tombstone?topic=x", "MISSING_ARG_NODE"),
        ("/topic/tombstone?node=a:1", "MISSING_ARG_TOPIC"),
        ("/topic/create?topic=a;b", "INVALID_REQUEST"),
    ];
    for (path, message) in errors {
        let reply = post(http, path).await;
        let body = format!(r#"{{"message":"{message}"}}"#);
        assert_eq!((reply.status, reply.body), (400, body), "{path}");
        assert_eq!(reply.nsq_content_type.as_deref(), NSQ_V1);
    }

    let absent = post(http, "/channel/delete?topic=x&channel=none").await;
    assert_eq!(
        (absent.status, absent.body.as_str()),
        (404, r#"{"message":"CHANNEL_NOT_FOUND"}"#)
    );

    assert_eq!(
        post(http, "/channel/create?topic=y&channel=c").await.status,
        200
    );
    assert_eq!(
        post(http, "/channel/create?topic=y&channel=d").await.status,
        200
    );
    assert_eq!(topics_of(http).await, vec!["x", "y"]);
    assert_eq!(
        sorted(&get(http, "/lookup?topic=y").await.json(), "channels"),
        vec!["c", "d"]
    );
    assert_eq!(
        post(http, "/channel/delete?topic=y&channel=c").await.status,
        200
    );
    assert_eq!(channels_of(http, "y").await, vec!["d"]);
    assert_eq!(post(http, "/topic/delete?topic=y").await.status, 200);
    assert_eq!(
        post(http, "/topic/delete?topic=never-existed").await.status,
        200
    );
    assert_eq!(get(http, "/lookup?topic=y").await.status, 404);
    assert_eq!(
        get(http, "/channels?topic=y").await.body,
        r#"{"channels":[]}"#
    );
    assert_eq!(topics_of(http).await, vec!["x"]);
    assert_eq!(
        post(http, "/topic/tombstone?topic=zzz&node=a:1")
            .await
            .status,
        200
    );
    lookupd.shutdown().await;
}

#[tokio::test]
async fn two_producers_and_nodes_document() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let mut a = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    let mut b = RawClient::identified(lookupd.tcp_addr(), 5150, 5151).await;
    a.expect_ok(&["REGISTER t c", "REGISTER u"]).await;
    b.expect_ok(&["REGISTER t"]).await;

    let mut expected = vec![a.local_id(), b.local_id()];
    expected.sort();
    assert_eq!(lookup_producers(http, "t").await, expected);

    let nodes = get(http, "/nodes").await.json();
    let nodes = nodes["producers"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    let node_a = nodes.iter().find(|n| n["tcp_port"] == 4150).unwrap();
    let keys: Vec<&String> = node_a.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 10, "{node_a}");
    assert_eq!(sorted(node_a, "topics"), vec!["t", "u"]);
    assert_eq!(node_a["tombstones"], serde_json::json!([false, false]));
    let node_b = nodes.iter().find(|n| n["tcp_port"] == 5150).unwrap();
    assert_eq!(sorted(node_b, "topics"), vec!["t"]);

    let debug = get(http, "/debug").await.json();
    let entry = &debug["topic:t:"].as_array().unwrap()[0];
    for key in [
        "id",
        "hostname",
        "broadcast_address",
        "tcp_port",
        "http_port",
        "version",
        "topology_zone",
        "topology_region",
        "last_update",
        "tombstoned",
        "tombstoned_at",
    ] {
        assert!(entry.get(key).is_some(), "missing {key} in {entry}");
    }
    assert_eq!(debug["client::"].as_array().unwrap().len(), 2);
    assert_eq!(debug["channel:t:c"].as_array().unwrap().len(), 1);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn tombstone_hides_node_for_its_lifetime() {
    let lookupd = start_lookupd(Duration::from_secs(300), Duration::from_millis(800)).await;
    let http = lookupd.http_addr();
    let mut a = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    let mut b = RawClient::identified(lookupd.tcp_addr(), 5150, 5151).await;
    for client in [&mut a, &mut b] {
        client.expect_ok(&["REGISTER t", "REGISTER other"]).await;
    }
    let (a_id, b_id) = (a.local_id(), b.local_id());

    let reply = post(http, "/topic/tombstone?topic=t&node=127.0.0.1:4151").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(lookup_producers(http, "t").await, vec![b_id.clone()]);
    // Only that topic is affected.
    assert_eq!(lookup_producers(http, "other").await.len(), 2);

    let node_a = node_where(http, "tcp_port", 4150).await;
    let topics = node_a["topics"].as_array().unwrap();
    let t_index = topics.iter().position(|t| t == "t").unwrap();
    assert_eq!(node_a["tombstones"][t_index], true);
    assert_eq!(node_a["tombstones"][1 - t_index], false);

    eventually("tombstone expires", || async {
        lookup_producers(http, "t").await.len() == 2
    })
    .await;
    let mut both = vec![a_id, b_id];
    both.sort();
    assert_eq!(lookup_producers(http, "t").await, both);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn unregister_after_tombstone_then_register_is_visible_again() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let mut a = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    a.expect_ok(&["REGISTER t"]).await;
    post(http, "/topic/tombstone?topic=t&node=127.0.0.1:4151").await;
    assert!(lookup_producers(http, "t").await.is_empty());
    // Re-registering keeps the tombstone; unregister + register is a fresh entry.
    a.expect_ok(&["REGISTER t"]).await;
    assert!(lookup_producers(http, "t").await.is_empty());
    a.expect_ok(&["UNREGISTER t", "REGISTER t"]).await;
    assert_eq!(lookup_producers(http, "t").await.len(), 1);
    lookupd.shutdown().await;
}
