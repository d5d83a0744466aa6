//! `nsq stat`, `to-file`, `to-nsq`, `to-http` and `completions` end to end against embedded
//! nsqds, run as the real `nsq` binary.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::{nsq, start_nsqd};

use broker::nsqd::Nsqd;
use serde_json::Value;
use tokio::process::Child;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

async fn post(url: String, body: &'static str) {
    let response = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn stats(nsqd: &Nsqd, topic: &str) -> Value {
    reqwest::get(format!(
        "http://{}/stats?format=json&topic={topic}",
        nsqd.http_addr()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

/// Polls until `check` holds (bounded).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// SIGTERM, then the exit status and stderr.
async fn terminate(child: Child) -> (bool, String) {
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let out = timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Publishes `bodies` over nsqd's HTTP API after creating `topic`/`channel`.
async fn seed(nsqd: &Nsqd, topic: &str, channel: &str, bodies: &[&'static str]) {
    let base = format!("http://{}", nsqd.http_addr());
    post(format!("{base}/topic/create?topic={topic}"), "").await;
    post(
        format!("{base}/channel/create?topic={topic}&channel={channel}"),
        "",
    )
    .await;
    for body in bodies {
        post(format!("{base}/pub?topic={topic}"), body).await;
    }
}

#[tokio::test]
async fn stat_prints_a_line_per_interval() {
    let nsqd = start_nsqd().await;
    seed(&nsqd, "orders", "billing", &["a", "b", "c"]).await;
    let out = timeout(
        WAIT,
        nsq()
            .args([
                "stat",
                "-topic=orders",
                "-channel=billing",
                "-status-every=100ms",
                "-count=2",
            ])
            .arg(format!("--nsqd-http-address={}", nsqd.http_addr()))
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("------rate------+"));
    assert!(lines[1].contains("ingress") && lines[1].contains("clients"));
    for line in &lines[2..] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // ingress egress | total mem disk inflt def | req t-o msgs clients
        assert_eq!(fields[3], "3", "depth: {line}");
        assert_eq!(fields[4], "3", "memory depth: {line}");
        assert_eq!(fields[11], "3", "messages: {line}");
        assert_eq!(fields[12], "0", "clients: {line}");
    }

    let missing = nsq()
        .args([
            "stat",
            "--topic=orders",
            "--channel=nope",
            "--count=1",
            "--status-every=50ms",
        ])
        .arg(format!("--nsqd-http-address={}", nsqd.http_addr()))
        .output()
        .await
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("failed to find channel(nope)"));
    nsqd.shutdown().await;
}

fn read_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = if path.extension().is_some_and(|e| e == "gz") {
            use std::io::Read;
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        } else {
            String::from_utf8(bytes).unwrap()
        };
        lines.extend(text.lines().map(str::to_owned));
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn to_file_writes_gzipped_rotated_files() {
    let nsqd = start_nsqd().await;
    seed(
        &nsqd,
        "events",
        "nsq_to_file",
        &["one", "two", "three", "four"],
    )
    .await;
    let out_dir = tempfile::tempdir().unwrap();
    let work_dir = tempfile::tempdir().unwrap();
    let child = nsq()
        .args([
            "to-file",
            "-topic=events",
            "-gzip",
            "-rotate-size=8",
            "-host-identifier=box",
        ])
        .arg(format!("-nsqd-tcp-address={}", nsqd.tcp_addr()))
        .arg(format!("-output-dir={}", out_dir.path().display()))
        .arg(format!("-work-dir={}", work_dir.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every message is finished once written: the channel drains.
    eventually("to-file to finish all messages", || async {
        let s = stats(&nsqd, "events").await;
        let c = &s["topics"][0]["channels"][0];
        c["depth"] == 0 && c["in_flight_count"] == 0 && c["message_count"] == 4
    })
    .await;
    let (ok, stderr) = terminate(child).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_dir(work_dir.path()).unwrap().count(),
        0,
        "closed files move out"
    );
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.len() >= 2, "rotated by size: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("events.box") && n.ends_with(".log.gz")),
        "{names:?}"
    );
    assert_eq!(read_lines(out_dir.path()), ["four", "one", "three", "two"]);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn to_nsq_copies_a_channel_to_another_nsqd() {
    let source = start_nsqd().await;
    let destination = start_nsqd().await;
    seed(&source, "orders", "mirror", &["m1", "m2", "m3"]).await;
    let child = nsq()
        .args([
            "to-nsq",
            "--topic=orders",
            "--channel=mirror",
            "--destination-topic=orders-copy",
        ])
        .arg(format!("--nsqd-tcp-address={}", source.tcp_addr()))
        .arg(format!(
            "--destination-nsqd-tcp-address={}",
            destination.tcp_addr()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the copy to arrive", || async {
        stats(&destination, "orders-copy").await["topics"][0]["message_count"] == 3
    })
    .await;
    eventually("the source channel to drain", || async {
        let c = stats(&source, "orders").await["topics"][0]["channels"][0].clone();
        c["depth"] == 0 && c["in_flight_count"] == 0
    })
    .await;
    let (ok, stderr) = terminate(child).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("copied 3 messages"), "{stderr}");
    // The copies are the same bodies.
    let tail = timeout(
        WAIT,
        nsq()
            .args(["tail", "--topic=orders-copy", "-n", "3"])
            .arg(format!("--nsqd-tcp-address={}", destination.tcp_addr()))
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut bodies: Vec<String> = String::from_utf8(tail.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["m1", "m2", "m3"]);
    source.shutdown().await;
    destination.shutdown().await;
}

#[tokio::test]
async fn to_http_posts_each_message_and_requeues_failures() {
    use std::sync::{Arc, Mutex};
    let nsqd = start_nsqd().await;
    seed(&nsqd, "hooks", "nsq_to_http", &["h1", "h2"]).await;
    // An endpoint that fails the first request and records the rest.
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(Mutex::new(0u32));
    let app = {
        let received = Arc::clone(&received);
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let received = Arc::clone(&received);
                let calls = Arc::clone(&calls);
                async move {
                    let mut calls = calls.lock().unwrap();
                    *calls += 1;
                    if *calls == 1 {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    received.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let child = nsq()
        .args([
            "to-http",
            "--topic=hooks",
            "--consumer-opt=max_backoff_duration=100ms",
            "--consumer-opt=default_requeue_delay=100ms",
        ])
        .arg(format!("--nsqd-tcp-address={}", nsqd.tcp_addr()))
        .arg(format!("--post=http://{addr}/hook"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("both messages delivered", || async {
        received.lock().unwrap().len() == 2
    })
    .await;
    let (ok, stderr) = terminate(child).await;
    assert!(ok, "{stderr}");
    let mut bodies = received.lock().unwrap().clone();
    bodies.sort();
    assert_eq!(bodies, ["h1", "h2"]);
    let c = &stats(&nsqd, "hooks").await["topics"][0]["channels"][0];
    assert_eq!(c["requeue_count"], 1, "the failed delivery was requeued");
    nsqd.shutdown().await;
}

#[tokio::test]
async fn completions_help_and_suggestions() {
    let bash = nsq().args(["completions", "bash"]).output().await.unwrap();
    assert!(bash.status.success());
    let script = String::from_utf8(bash.stdout).unwrap();
    assert!(
        script.contains("to-file") && script.contains("complete"),
        "{script}"
    );

    let typo = nsq().arg("stats").output().await.unwrap();
    assert!(!typo.status.success());
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("similar") && stderr.contains("stat"),
        "{stderr}"
    );

    let help = nsq().args(["to-file", "--help"]).output().await.unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains("Examples:") && text.contains("--rotate-size"),
        "{text}"
    );
}
