//! nsqadmin's JSON API and pages against a real embedded lookupd and two fake nsqd HTTP
//! APIs: aggregation over nodes, per-node breakdown, actions fanned out to the right nodes,
//! partial failures, base path, admin users, nsqd-only mode.

mod admin_support;
mod lookupd_support;

use std::time::Duration;

use admin_support::{orders_state, FakeNsqd};
use broker::admin::{Admin, AdminOptions};
use broker::lookupd::Lookupd;
use lookupd_support::embedded::{admin_opts, launch_admin};
use lookupd_support::{default_lookupd, RawClient, WAIT};
use serde_json::{json, Value};
use tokio::time::timeout;

struct Cluster {
    lookupd: Lookupd,
    nodes: Vec<FakeNsqd>,
    _registrations: Vec<RawClient>,
}

/// A lookupd with two fake nsqds registered for `orders`/`billing`.
async fn cluster() -> Cluster {
    let lookupd = default_lookupd().await;
    let a = FakeNsqd::start("node-a", orders_state(5, 3, 1)).await;
    let b = FakeNsqd::start("node-b", orders_state(2, 4, 2)).await;
    let mut registrations = Vec::new();
    for (tcp_port, node) in [(4150, &a), (4250, &b)] {
        let mut peer = RawClient::identified(lookupd.tcp_addr(), tcp_port, node.addr.port()).await;
        peer.expect_ok(&["REGISTER orders billing"]).await;
        registrations.push(peer);
    }
    Cluster {
        lookupd,
        nodes: vec![a, b],
        _registrations: registrations,
    }
}

async fn admin_for(lookupd: &Lookupd, tweak: impl FnOnce(&mut AdminOptions)) -> Admin {
    let mut options = AdminOptions {
        lookupd_http_addresses: vec![lookupd.http_addr().to_string()],
        http_client_request_timeout: Duration::from_secs(2),
        ..admin_opts()
    };
    tweak(&mut options);
    launch_admin(options).await
}

/// [`cluster`] and an nsqadmin with default options reading its lookupd.
async fn cluster_with_admin() -> (Cluster, Admin) {
    let cluster = cluster().await;
    let admin = admin_for(&cluster.lookupd, |_| {}).await;
    (cluster, admin)
}

async fn call(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = timeout(WAIT, request.send()).await.unwrap().unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `method` on the admin's `path`, with an optional JSON body.
async fn request(admin: &Admin, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(method, format!("http://{}{path}", admin.http_addr()), body).await
}

async fn get(admin: &Admin, path: &str) -> (u16, Value) {
    request(admin, "GET", path, None).await
}

#[tokio::test]
async fn topic_stats_are_summed_over_nodes_with_breakdown() {
    let (cluster, admin) = cluster_with_admin().await;

    let (status, topics) = get(&admin, "/api/topics").await;
    assert_eq!(status, 200);
    assert_eq!(topics, json!({"topics": ["orders"], "message": ""}));

    let (status, topic) = get(&admin, "/api/topics/orders").await;
    assert_eq!(status, 200, "{topic}");
    assert_eq!(topic["node"], "*");
    assert_eq!(topic["depth"], 7);
    assert_eq!(topic["message_count"], 20);
    let nodes = topic["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    let node_a = nodes
        .iter()
        .find(|n| n["node"] == cluster.nodes[0].node().as_str())
        .unwrap();
    assert_eq!(
        node_a["hostname"], "test-host",
        "lookupd's view of the node"
    );
    assert_eq!(node_a["depth"], 5);
    let channel = &topic["channels"][0];
    assert_eq!(channel["channel_name"], "billing");
    assert_eq!(channel["depth"], 7);
    assert_eq!(channel["in_flight_count"], 2);
    assert_eq!(channel["timeout_count"], 4);
    assert_eq!(channel["clients"].as_array().unwrap().len(), 3);

    let (status, channel) = get(&admin, "/api/topics/orders/billing").await;
    assert_eq!(status, 200);
    assert_eq!(channel["depth"], 7);
    assert_eq!(channel["nodes"].as_array().unwrap().len(), 2);
    let client = &channel["clients"][0];
    assert_eq!(client["user_agent"], "go-nsq/1.1.0");
    assert_eq!(client["snappy"], true);
    assert_eq!(client["ready_count"], 10);
    assert!(client["node"].as_str().unwrap().starts_with("127.0.0.1:"));

    let (status, missing) = get(&admin, "/api/topics/orders/nope").await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some("CHANNEL_NOT_FOUND"))
    );
    admin.shutdown().await;
}

#[tokio::test]
async fn nodes_counter_and_cluster_overview() {
    let (cluster, admin) = cluster_with_admin().await;

    let (_, nodes) = get(&admin, "/api/nodes").await;
    let nodes = nodes["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["hostname"], "test-host");
    assert_eq!(
        nodes[0]["topics"],
        json!([{"topic": "orders", "tombstoned": false}])
    );
    assert_eq!(nodes[0]["remote_addresses"].as_array().unwrap().len(), 1);

    let node = cluster.nodes[1].node();
    let (status, detail) = get(&admin, &format!("/api/nodes/{node}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["node"], node);
    assert_eq!(detail["total_clients"], 2);
    assert_eq!(detail["total_messages"], 10);
    let (status, _) = get(&admin, "/api/nodes/127.0.0.1:1").await;
    assert_eq!(status, 404);

    let (_, counter) = get(&admin, "/api/counter").await;
    let stats = counter["stats"].as_object().unwrap();
    assert_eq!(stats.len(), 2);
    let total: i64 = stats
        .values()
        .map(|s| s["message_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 20);

    let (_, overview) = get(&admin, "/api/cluster").await;
    assert_eq!(overview["topics"][0]["topic_name"], "orders");
    assert_eq!(overview["topics"][0]["channels"][0]["depth"], 7);
    assert_eq!(overview["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(overview["message"], "");
    admin.shutdown().await;
}

#[tokio::test]
async fn channel_and_topic_actions_reach_every_producer() {
    let (cluster, admin) = cluster_with_admin().await;

    let (status, reply) = request(
        &admin,
        "POST",
        "/api/topics/orders/billing",
        Some(json!({"action": "pause"})),
    )
    .await;
    assert_eq!((status, reply), (200, json!({"message": ""})));
    for node in &cluster.nodes {
        assert!(node.channel_paused("orders", "billing"));
    }
    let (_, channel) = get(&admin, "/api/topics/orders/billing").await;
    assert_eq!(channel["paused"], true);

    let (status, _) = request(
        &admin,
        "POST",
        "/api/topics/orders",
        Some(json!({"action": "empty"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(cluster.nodes[0].calls().contains(
        &"POST /topic/empty topic=orders channel="
            .trim_end()
            .to_owned()
    ));

    let (status, reply) = request(
        &admin,
        "POST",
        "/api/topics/orders",
        Some(json!({"action": "explode"})),
    )
    .await;
    assert_eq!((status, &reply["message"]), (400, &json!("INVALID_ACTION")));
    let (status, _) = request(&admin, "POST", "/api/topics/orders", None).await;
    assert_eq!(status, 400);

    let (status, _) = request(&admin, "DELETE", "/api/topics/orders/billing", None).await;
    assert_eq!(status, 200);
    for node in &cluster.nodes {
        assert!(node
            .calls()
            .contains(&"POST /channel/delete topic=orders channel=billing".to_owned()));
    }
    admin.shutdown().await;
}

#[tokio::test]
async fn create_and_tombstone_go_through_lookupd() {
    let (cluster, admin) = cluster_with_admin().await;

    let (status, _) = request(
        &admin,
        "POST",
        "/api/topics",
        Some(json!({"topic": "fresh", "channel": "audit"})),
    )
    .await;
    assert_eq!(status, 200);
    let lookup = lookupd_support::get(cluster.lookupd.http_addr(), "/lookup?topic=fresh").await;
    assert_eq!(lookup.json()["channels"], json!(["audit"]));
    let (_, inactive) = get(&admin, "/api/topics?inactive=true").await;
    assert_eq!(inactive["topics"], json!({"fresh": ["audit"]}));

    let (status, reply) = request(
        &admin,
        "POST",
        "/api/topics",
        Some(json!({"topic": "bad topic"})),
    )
    .await;
    assert_eq!((status, &reply["message"]), (400, &json!("INVALID_TOPIC")));

    let node = cluster.nodes[0].node();
    let (status, _) = request(
        &admin,
        "DELETE",
        &format!("/api/nodes/{node}"),
        Some(json!({"topic": "orders"})),
    )
    .await;
    assert_eq!(status, 200);
    let producers = lookupd_support::lookup_producers(cluster.lookupd.http_addr(), "orders").await;
    assert_eq!(
        producers.len(),
        1,
        "the tombstoned node is hidden: {producers:?}"
    );
    assert!(cluster.nodes[0].calls().contains(
        &"POST /topic/delete topic=orders channel="
            .trim_end()
            .to_owned()
    ));
    assert!(cluster.nodes[1].calls().is_empty());
    admin.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_node_is_a_warning_not_a_failure() {
    let cluster = cluster().await;
    // A third nsqd that registered but whose HTTP port answers nothing.
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut ghost = RawClient::connect(cluster.lookupd.tcp_addr()).await;
    ghost.identify(4350, dead_port).await;
    assert_eq!(ghost.command("REGISTER orders billing").await, "OK");
    let admin = admin_for(&cluster.lookupd, |_| {}).await;

    let (status, topic) = get(&admin, "/api/topics/orders").await;
    assert_eq!(status, 200);
    assert_eq!(topic["depth"], 7, "the answering nodes still count");
    assert!(topic["message"].as_str().unwrap().starts_with("WARNING: "));

    // Every upstream down: 502.
    let lonely = admin_for(&cluster.lookupd, |o| {
        o.lookupd_http_addresses = vec![format!("127.0.0.1:{dead_port}")];
    })
    .await;
    let (status, reply) = get(&lonely, "/api/topics").await;
    assert_eq!(status, 502);
    assert!(reply["message"]
        .as_str()
        .unwrap()
        .starts_with("UPSTREAM_ERROR"));
    lonely.shutdown().await;
    admin.shutdown().await;
}

#[tokio::test]
async fn pages_assets_and_base_path() {
    let cluster = cluster().await;
    let admin = admin_for(&cluster.lookupd, |o| o.base_path = "/nsq/".into()).await;
    assert!(admin.url().ends_with("/nsq/"));
    for page in [
        "/nsq/",
        "/nsq/topics/orders",
        "/nsq/topics/orders/billing",
        "/nsq/nodes",
        "/nsq/counter",
        "/nsq/lookup",
    ] {
        let (status, body) = get(&admin, page).await;
        assert_eq!(status, 200, "{page}");
        let html = body.as_str().unwrap();
        assert!(html.contains("src=\"/nsq/static/app.js\""), "{page}");
        assert!(html.contains("data-base-path=\"/nsq\""));
    }
    let (status, js) = get(&admin, "/nsq/static/app.js").await;
    assert_eq!(status, 200);
    assert!(js.as_str().unwrap().contains("data-action"));
    let (status, _) = get(&admin, "/nsq/static/nope.js").await;
    assert_eq!(status, 404);
    let (status, _) = get(&admin, "/nsq/api/topics").await;
    assert_eq!(status, 200);
    let (status, _) = get(&admin, "/api/topics").await;
    assert_eq!(status, 404, "nothing is served outside the base path");
    admin.shutdown().await;
}

#[tokio::test]
async fn admin_users_guard_actions() {
    let cluster = cluster().await;
    let admin = admin_for(&cluster.lookupd, |o| o.admin_users = vec!["ops".into()]).await;
    let url = format!("http://{}/api/topics/orders/billing", admin.http_addr());
    let client = reqwest::Client::new();
    let denied = client
        .post(&url)
        .body(r#"{"action":"pause"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    assert!(!cluster.nodes[0].channel_paused("orders", "billing"));
    let allowed = client
        .post(&url)
        .header("X-Forwarded-User", "ops")
        .body(r#"{"action":"pause"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert!(cluster.nodes[0].channel_paused("orders", "billing"));
    admin.shutdown().await;
}

#[tokio::test]
async fn nsqd_mode_reads_the_listed_nsqds() {
    let node = FakeNsqd::start("solo", orders_state(1, 2, 0)).await;
    let admin = launch_admin(AdminOptions {
        nsqd_http_addresses: vec![node.addr.to_string()],
        ..admin_opts()
    })
    .await;
    let (_, topics) = get(&admin, "/api/topics").await;
    assert_eq!(topics["topics"], json!(["orders"]));
    let (_, nodes) = get(&admin, "/api/nodes").await;
    assert_eq!(nodes["nodes"][0]["hostname"], "solo");
    let (_, topic) = get(&admin, "/api/topics/orders").await;
    assert_eq!(topic["channels"][0]["depth"], 2);
    let pause = Some(json!({"action": "pause"}));
    let (status, _) = request(&admin, "POST", "/api/topics/orders/billing", pause).await;
    assert_eq!(status, 200);
    assert!(node.channel_paused("orders", "billing"));
    admin.shutdown().await;
}

#[tokio::test]
async fn config_endpoint_reads_and_swaps_lookupds() {
    let (cluster, admin) = cluster_with_admin().await;
    let url = format!(
        "http://{}/config/nsqlookupd_http_addresses",
        admin.http_addr()
    );
    let (status, value) = call("GET", url.clone(), None).await;
    assert_eq!(
        (status, value),
        (200, json!([cluster.lookupd.http_addr().to_string()]))
    );
    let (status, value) = call("PUT", url.clone(), Some(json!(["127.0.0.1:1"]))).await;
    assert_eq!((status, value), (200, json!(["127.0.0.1:1"])));
    let (status, _) = call("PUT", url, Some(json!("nope"))).await;
    assert_eq!(status, 400);
    let (status, _) = get(&admin, "/config/nope").await;
    assert_eq!(status, 400);
    admin.shutdown().await;
}

#[tokio::test]
async fn options_must_name_one_kind_of_upstream() {
    let err = Admin::start(admin_opts()).await.unwrap_err();
    assert!(err.to_string().contains("--lookupd-http-address"));
}

/// A notification endpoint that forwards every POSTed JSON body to the returned receiver.
async fn notification_sink() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: String| async move {
            let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/notify"), rx)
}

/// The next `count` notifications, ordered by action (each is sent from its own task).
async fn notifications(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>,
    count: usize,
) -> Vec<Value> {
    let mut got = Vec::new();
    for _ in 0..count {
        got.push(timeout(WAIT, rx.recv()).await.unwrap().unwrap());
    }
    got.sort_by_key(|n| n["action"].as_str().unwrap_or("").to_owned());
    got
}

#[tokio::test]
async fn admin_actions_are_notified_like_go() {
    let cluster = cluster().await;
    let (endpoint, mut rx) = notification_sink().await;
    let admin = admin_for(&cluster.lookupd, |o| {
        o.notification_http_endpoint = Some(endpoint);
    })
    .await;

    let create = json!({"topic": "fresh", "channel": "ch"});
    let (status, _) = request(&admin, "POST", "/api/topics", Some(create)).await;
    assert_eq!(status, 200);
    let sent = notifications(&mut rx, 2).await;
    assert_eq!(sent[0]["action"], "create_channel");
    assert_eq!(sent[0]["channel"], "ch");
    assert_eq!(sent[1]["action"], "create_topic");
    assert_eq!(sent[1]["channel"], "");
    for n in &sent {
        assert_eq!(n["topic"], "fresh");
        assert_eq!(n["node"], "");
        assert_eq!(n["url"], "/api/topics");
        assert_eq!(n["remote_ip"], "127.0.0.1");
    }

    let pause = json!({"action": "pause"});
    let path = "/api/topics/orders/billing";
    assert_eq!(request(&admin, "POST", path, Some(pause)).await.0, 200);
    let sent = notifications(&mut rx, 1).await;
    assert_eq!(sent[0]["action"], "pause_channel");
    assert_eq!(
        (&sent[0]["topic"], &sent[0]["channel"]),
        (&json!("orders"), &json!("billing"))
    );

    assert_eq!(request(&admin, "DELETE", path, None).await.0, 200);
    let sent = notifications(&mut rx, 1).await;
    assert_eq!(sent[0]["action"], "delete_channel");
    assert_eq!(sent[0]["url"], "/api/topics/orders/billing");
    admin.shutdown().await;
}
