//! Runs the quickstart binary as a newcomer would and checks what it prints: every order
//! created reached both notifier channels, with the same trace id on both sides.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

/// Order id -> trace id, from the `created order <id> for ... trace <trace>` lines.
fn created(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("created order "))
        .map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let trace = words.last().copied().unwrap_or_default();
            (words[0].to_string(), trace.to_string())
        })
        .collect()
}

/// (channel, order id, trace id) from the `<channel> received order <id> trace <trace>` lines.
fn received(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|line| line.contains(" received order "))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            // <channel> received order <id> trace <trace> (attempt n)
            (
                words[0].to_string(),
                words[3].to_string(),
                words[5].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn quickstart_creates_orders_and_both_channels_receive_them_with_the_same_trace() {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .args(["--orders", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("quickstart starts");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("quickstart finishes within a minute")
        .expect("quickstart output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "quickstart failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(stdout.contains("embedded nsqd: tcp 127.0.0.1:"), "{stdout}");
    assert!(
        stdout.contains("order-service: grpc://127.0.0.1:"),
        "{stdout}"
    );

    let created = created(&stdout);
    assert_eq!(created.len(), 4, "{stdout}");
    let received = received(&stdout);
    for channel in ["email", "analytics"] {
        let mut ids: Vec<&str> = received
            .iter()
            .filter(|r| r.0 == channel)
            .map(|r| r.1.as_str())
            .collect();
        ids.sort();
        let expected: Vec<&str> = created.keys().map(String::as_str).collect();
        assert_eq!(ids, expected, "channel {channel}\n{stdout}");
    }
    for (channel, id, trace) in &received {
        assert_eq!(trace.len(), 32, "trace id on {channel} for {id}: {stdout}");
        assert_eq!(Some(trace), created.get(id), "{channel} {id}\n{stdout}");
    }
    assert!(
        stdout.contains("summary: orders 4, email 4, analytics 4, trace ids matched 8/8"),
        "{stdout}"
    );
}
