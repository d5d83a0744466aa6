//! nsqlookupd's TCP protocol V1 over real sockets (conformance checklist section I).

mod lookupd_support;

use lookupd_support::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn wrong_magic_gets_bad_protocol_and_close() {
    let lookupd = default_lookupd().await;
    let mut client = RawClient::connect_without_magic(lookupd.tcp_addr()).await;
    client.send(b"  V2").await;
    let size = client.read_reply().await;
    assert_eq!(size, b"E_BAD_PROTOCOL");
    client.expect_closed().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn bad_protocol_bytes_are_exact() {
    use tokio::io::AsyncReadExt;
    let lookupd = default_lookupd().await;
    let mut client = RawClient::connect_without_magic(lookupd.tcp_addr()).await;
    client.send(b"XXXX").await;
    let mut raw = Vec::new();
    client.stream.read_to_end(&mut raw).await.unwrap();
    assert_eq!(raw, b"\x00\x00\x00\x0eE_BAD_PROTOCOL");
    lookupd.shutdown().await;
}

#[tokio::test]
async fn ping_before_identify_is_ok() {
    use tokio::io::AsyncReadExt;
    let lookupd = default_lookupd().await;
    let mut client = RawClient::connect(lookupd.tcp_addr()).await;
    client.send(b"PING\n").await;
    let mut raw = [0u8; 6];
    client.stream.read_exact(&mut raw).await.unwrap();
    assert_eq!(&raw, b"\x00\x00\x00\x02OK");
    // Whitespace around the command is trimmed, as in Go.
    client.expect_ok(&["  PING\r"]).await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn register_before_identify_is_fatal() {
    let lookupd = default_lookupd().await;
    for command in ["REGISTER t", "UNREGISTER t c"] {
        let mut client = RawClient::connect(lookupd.tcp_addr()).await;
        client
            .expect_fatal(command, "E_INVALID client must IDENTIFY")
            .await;
    }
    lookupd.shutdown().await;
}

#[tokio::test]
async fn identify_errors_are_exact_and_fatal() {
    let lookupd = default_lookupd().await;
    let cases = [
        (
            r#"{"broadcast_address":"h","tcp_port":1,"version":"x"}"#,
            "E_BAD_BODY IDENTIFY missing fields",
        ),
        (
            r#"{"broadcast_address":"","tcp_port":1,"http_port":2,"version":"x"}"#,
            "E_BAD_BODY IDENTIFY missing fields",
        ),
        ("null", "E_BAD_BODY IDENTIFY missing fields"),
        ("not json", "E_BAD_BODY IDENTIFY failed to decode JSON body"),
        (
            r#"{"broadcast_address":"h","tcp_port":"1","http_port":2,"version":"x"}"#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
    ];
    for (body, expected) in cases {
        let mut client = RawClient::connect(lookupd.tcp_addr()).await;
        assert_eq!(client.identify_raw(body).await, expected, "body {body}");
        client.expect_closed().await;
    }
    lookupd.shutdown().await;
}

#[tokio::test]
async fn identify_body_size_is_bounded() {
    let lookupd = default_lookupd().await;
    for size in [0i32, -1, 5 * 1024 * 1024 + 1, i32::MAX] {
        let mut client = RawClient::connect(lookupd.tcp_addr()).await;
        let mut bytes = b"IDENTIFY\n".to_vec();
        bytes.extend_from_slice(&size.to_be_bytes());
        client.send(&bytes).await;
        let reply = String::from_utf8(client.read_reply().await).unwrap();
        assert_eq!(
            reply, "E_BAD_BODY IDENTIFY failed to read body size",
            "{size}"
        );
        client.expect_closed().await;
    }
    lookupd.shutdown().await;
}

#[tokio::test]
async fn identify_truncated_body_or_size() {
    let lookupd = default_lookupd().await;

    let mut client = RawClient::connect(lookupd.tcp_addr()).await;
    client.send(b"IDENTIFY\n\x00\x00\x00\x10{\"a\"").await;
    client.stream.shutdown().await.unwrap();
    let reply = String::from_utf8(client.read_reply().await).unwrap();
    assert_eq!(reply, "E_BAD_BODY IDENTIFY failed to read body");

    let mut client = RawClient::connect(lookupd.tcp_addr()).await;
    client.send(b"IDENTIFY\n\x00\x00").await;
    client.stream.shutdown().await.unwrap();
    let reply = String::from_utf8(client.read_reply().await).unwrap();
    assert_eq!(reply, "E_BAD_BODY IDENTIFY failed to read body size");
    lookupd.shutdown().await;
}

#[tokio::test]
async fn identify_reply_describes_lookupd_and_second_identify_fails() {
    let lookupd = default_lookupd().await;
    let mut client = RawClient::connect(lookupd.tcp_addr()).await;
    let reply = client.identify(4150, 4151).await;
    assert_eq!(reply["tcp_port"], lookupd.tcp_addr().port());
    assert_eq!(reply["http_port"], lookupd.http_addr().port());
    assert_eq!(reply["version"], "1.3.0");
    assert_eq!(reply["broadcast_address"], "127.0.0.1");
    assert!(reply["hostname"].as_str().is_some());
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(
        client.identify_raw(&peer_json(1, 2)).await,
        "E_INVALID cannot IDENTIFY again"
    );
    client.expect_closed().await;
    lookupd.shutdown().await;
}

#[tokio::test]
async fn invalid_names_and_params_are_rejected_exactly() {
    let lookupd = default_lookupd().await;
    let cases = [
        (
            "REGISTER bad!",
            "E_BAD_TOPIC REGISTER topic name 'bad!' is not valid",
        ),
        (
            "UNREGISTER t bad!",
            "E_BAD_CHANNEL UNREGISTER channel name 'bad!' is not valid",
        ),
        (
            "REGISTER",
            "E_INVALID REGISTER insufficient number of params",
        ),
        (
            "UNREGISTER",
            "E_INVALID UNREGISTER insufficient number of params",
        ),
        ("FOO bar", "E_INVALID invalid command FOO"),
        ("", "E_INVALID invalid command "),
        ("register t", "E_INVALID invalid command register"),
    ];
    for (command, expected) in cases {
        let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
        client.expect_fatal(command, expected).await;
    }
    // A too-long line is refused instead of buffered without bound.
    let mut client = RawClient::connect(lookupd.tcp_addr()).await;
    client.send(&vec![b'A'; 64 * 1024 + 1]).await;
    let reply = String::from_utf8(client.read_reply().await).unwrap();
    assert!(reply.starts_with("E_INVALID"), "{reply}");
    client.expect_closed().await;
    // The server still serves after all of that.
    let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    client.expect_ok(&["REGISTER t c"]).await;
    assert_eq!(lookup_producers(lookupd.http_addr(), "t").await.len(), 1);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn register_shows_in_lookup_and_close_removes_producer() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    client.expect_ok(&["REGISTER t c"]).await;
    // idempotent
    client.expect_ok(&["REGISTER t c", "PING"]).await;

    let lookup = get(http, "/lookup?topic=t").await;
    assert_eq!(lookup.status, 200);
    let json = lookup.json();
    assert_eq!(sorted(&json, "channels"), vec!["c"]);
    let producers = json["producers"].as_array().unwrap();
    assert_eq!(producers.len(), 1);
    let local = client.local_id();
    assert_eq!(producers[0]["remote_address"], local.as_str());
    assert_eq!(producers[0]["broadcast_address"], "127.0.0.1");
    assert_eq!(producers[0]["hostname"], "test-host");
    assert_eq!(producers[0]["tcp_port"], 4150);
    assert_eq!(producers[0]["http_port"], 4151);
    assert_eq!(producers[0]["version"], "1.3.0");
    assert_eq!(topics_of(http).await, vec!["t"]);
    assert_eq!(node_count(http).await, 1);

    drop(client);
    eventually("producer removed after close", || async {
        let reply = get(http, "/lookup?topic=t").await;
        reply.status == 200 && reply.json()["producers"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(get(http, "/nodes").await.body, r#"{"producers":[]}"#);
    assert_eq!(topics_of(http).await, vec!["t"]);
    assert_eq!(channels_of(http, "t").await, vec!["c"]);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn unregister_rules_for_ephemeral_and_durable_channels() {
    let lookupd = default_lookupd().await;
    let http = lookupd.http_addr();
    let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    client
        .expect_ok(&["REGISTER t c#ephemeral", "REGISTER t d"])
        .await;
    assert_eq!(channels_of(http, "t").await, vec!["c#ephemeral", "d"]);
    client
        .expect_ok(&[
            "UNREGISTER t c#ephemeral",
            "UNREGISTER t d",
            "UNREGISTER t nothing",
        ])
        .await;
    assert_eq!(channels_of(http, "t").await, vec!["d"]);
    let debug = get(http, "/debug").await.json();
    assert!(debug.get("channel:t:d").is_none(), "{debug}");
    assert!(debug.get("topic:t:").is_some(), "{debug}");

    // UNREGISTER of a topic removes the producer from the topic and all its channels;
    // an ephemeral topic key goes away with its last producer.
    client
        .expect_ok(&[
            "REGISTER e#ephemeral c",
            "UNREGISTER t",
            "UNREGISTER e#ephemeral",
        ])
        .await;
    assert_eq!(get(http, "/lookup?topic=e%23ephemeral").await.status, 404);
    let lookup_t = get(http, "/lookup?topic=t").await.json();
    assert!(lookup_t["producers"].as_array().unwrap().is_empty());
    let debug = get(http, "/debug").await.json();
    assert_eq!(
        debug.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["client::"]
    );
    lookupd.shutdown().await;
}

#[tokio::test]
async fn inactive_producer_hidden_until_next_ping() {
    use std::time::Duration;
    let lookupd = start_lookupd(Duration::from_millis(300), Duration::from_secs(45)).await;
    let http = lookupd.http_addr();
    let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    client.expect_ok(&["REGISTER t"]).await;
    assert_eq!(lookup_producers(http, "t").await.len(), 1);
    eventually("producer becomes inactive", || async {
        lookup_producers(http, "t").await.is_empty()
    })
    .await;
    assert_eq!(get(http, "/nodes").await.body, r#"{"producers":[]}"#);
    client.expect_ok(&["PING"]).await;
    assert_eq!(lookup_producers(http, "t").await.len(), 1);
    lookupd.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_idempotent_and_closes_connections() {
    let lookupd = default_lookupd().await;
    let mut client = RawClient::identified(lookupd.tcp_addr(), 4150, 4151).await;
    lookupd.shutdown().await;
    lookupd.shutdown().await;
    client.expect_closed().await;
}
