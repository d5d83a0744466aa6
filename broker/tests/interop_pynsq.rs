//! Interop: pynsq's Writer and Reader (real third-party client, python) against our nsqd.
//! Skips with a notice when `NSQ_INTEROP_PYTHON` is unset; fails when it is set but broken.

mod interop;

use interop::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn pynsq_writer_pub_mpub_dpub_reach_pynsq_reader_byte_exact() {
    let Some(python) = python() else { return };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let singles = sample_bodies("pub");
    let multi = sample_bodies("mpub");
    let deferred = vec![b"dpub-later".to_vec()];

    for (mode, bodies, responses) in [("pub", &singles, 3), ("mpub", &multi, 1)] {
        let mut a = args(&["--nsqd", &addr, "--topic", "py", "--mode", mode]);
        a.extend(hex_args(bodies));
        let out = run_python(&python, "pynsq_writer.py", &a).await.ok_json();
        assert_eq!(
            out["responses"],
            serde_json::json!(vec!["OK"; responses]),
            "{mode}"
        );
    }
    let mut a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "py",
        "--mode",
        "dpub",
        "--delay-ms",
        "1500",
    ]);
    a.extend(hex_args(&deferred));
    let out = run_python(&python, "pynsq_writer.py", &a).await.ok_json();
    assert_eq!(out["responses"], serde_json::json!(["OK"]));

    let all: Vec<Vec<u8>> = [singles, multi, deferred.clone()].concat();
    let expect = all.len().to_string();
    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "py",
        "--channel",
        "c",
        "--expect",
        &expect,
    ]);
    let got = run_python(&python, "pynsq_reader.py", &a).await.ok_json();
    assert_eq!(finished_sorted(&got), hex_sorted(&all));
    assert_delivered_once(&got, &all);
    assert_not_early(&got, &deferred[0], 1500);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn pynsq_reader_requeue_redelivers_with_attempts_incremented() {
    let Some(python) = python() else { return };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("req");
    let mut a = args(&["--nsqd", &addr, "--topic", "pyreq", "--mode", "pub"]);
    a.extend(hex_args(&bodies));
    run_python(&python, "pynsq_writer.py", &a).await.ok_json();

    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "pyreq",
        "--channel",
        "c",
        "--expect",
        "3",
        "--requeue-first",
    ]);
    let got = run_python(&python, "pynsq_reader.py", &a).await.ok_json();
    assert_requeued_once(&got, &bodies);
    nsqd.shutdown().await;
}

#[tokio::test]
async fn pynsq_reader_touch_keeps_message_past_its_timeout() {
    let Some(python) = python() else { return };
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("touch");
    let mut a = args(&["--nsqd", &addr, "--topic", "pytouch", "--mode", "pub"]);
    a.extend(hex_args(&bodies));
    run_python(&python, "pynsq_writer.py", &a).await.ok_json();

    // msg_timeout 1 s, each message held 5 x 0.4 s = 2 s with a TOUCH every 0.4 s.
    let a = args(&[
        "--nsqd",
        &addr,
        "--topic",
        "pytouch",
        "--channel",
        "c",
        "--expect",
        "3",
        "--touch",
        "4",
        "--touch-every",
        "0.4",
        "--msg-timeout",
        "1",
    ]);
    let got = run_python(&python, "pynsq_reader.py", &a).await.ok_json();
    assert_eq!(finished_sorted(&got), hex_sorted(&bodies));
    assert_delivered_once(&got, &bodies);
    nsqd.shutdown().await;
}
