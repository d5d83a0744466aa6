//! Interop: nsqjs's Writer and Reader (real third-party client, node) against our nsqd, plus
//! pynsq -> nsqjs across clients. Skips with a notice when `NSQ_INTEROP_NODE_MODULES` is unset;
//! fails when it is set but broken.

mod interop;

use interop::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn nsqjs_writer_publish_single_multi_deferred_reach_nsqjs_reader_byte_exact() {
    let Some(modules) = node_modules() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let singles = sample_bodies("pub");
    let multi = sample_bodies("mpub");
    let deferred = vec![b"dpub-later".to_vec()];

    for (mode, bodies, published) in [("pub", &singles, 3), ("mpub", &multi, 1)] {
        let mut a = args(&["--nsqd", &addr, "--topic", "js", "--mode", mode]);
        a.extend(hex_args(bodies));
        let out = run_node(&modules, "nsqjs_writer.js", &a).await.ok_json();
        assert_eq!(out["published"], published, "{mode}");
    }
    let mut a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "js",
        "--mode",
        "dpub",
        "--delay-ms",
        "1500",
    ]);
    a.extend(hex_args(&deferred));
    run_node(&modules, "nsqjs_writer.js", &a).await.ok_json();

    let all: Vec<Vec<u8>> = [singles, multi, deferred.clone()].concat();
    let expect = all.len().to_string();
    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "js",
        "--channel",
        "c",
        "--expect",
        &expect,
    ]);
    let got = run_node(&modules, "nsqjs_reader.js", &a).await.ok_json();
    assert_eq!(finished_sorted(&got), hex_sorted(&all));
    assert_delivered_once(&got, &all);
    assert_not_early(&got, &deferred[0], 1500);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn nsqjs_reader_requeue_redelivers_with_attempts_incremented() {
    let Some(modules) = node_modules() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("req");
    let mut a = args(&["--nsqd", &addr, "--topic", "jsreq", "--mode", "pub"]);
    a.extend(hex_args(&bodies));
    run_node(&modules, "nsqjs_writer.js", &a).await.ok_json();

    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "jsreq",
        "--channel",
        "c",
        "--expect",
        "3",
        "--requeue-first",
    ]);
    let got = run_node(&modules, "nsqjs_reader.js", &a).await.ok_json();
    assert_requeued_once(&got, &bodies);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn nsqjs_reader_touch_keeps_message_past_its_timeout() {
    let Some(modules) = node_modules() else {
        return;
    };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("touch");
    let mut a = args(&["--nsqd", &addr, "--topic", "jstouch", "--mode", "pub"]);
    a.extend(hex_args(&bodies));
    run_node(&modules, "nsqjs_writer.js", &a).await.ok_json();

    // msg_timeout 1 s, each message held 5 x 400 ms = 2 s with a TOUCH every 400 ms.
    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "jstouch",
        "--channel",
        "c",
        "--expect",
        "3",
        "--touch",
        "4",
        "--touch-every-ms",
        "400",
        "--msg-timeout-ms",
        "1000",
    ]);
    let got = run_node(&modules, "nsqjs_reader.js", &a).await.ok_json();
    assert_eq!(finished_sorted(&got), hex_sorted(&bodies));
    assert_delivered_once(&got, &bodies);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn pynsq_writer_to_nsqjs_reader_across_clients() {
    let Some(modules) = node_modules() else {
        return;
    };
    let Some(python) = python() else { return };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("cross");
    let mut a = args(&["--nsqd", &addr, "--topic", "cross", "--mode", "mpub"]);
    a.extend(hex_args(&bodies));
    run_python(&python, "pynsq_writer.py", &a).await.ok_json();

    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "cross",
        "--channel",
        "c",
        "--expect",
        "3",
    ]);
    let got = run_node(&modules, "nsqjs_reader.js", &a).await.ok_json();
    assert_delivered_once(&got, &bodies);
    nsqd.shutdown().await;
}
