//! Shared harness for interop tests that drive third-party NSQ clients (pynsq, nsqjs) as child
//! processes against our brokers.
//!
//! The clients are installed by `scripts/interop-setup.sh`; `scripts/test.sh` exports
//! `NSQ_INTEROP_PYTHON` (a python with pynsq + tornado) and `NSQ_INTEROP_NODE_MODULES` (a
//! `node_modules` dir holding nsqjs). When a variable is unset the tests skip with a printed
//! notice; when it is set but the tool is broken they fail, so CI cannot silently skip.
//!
//! The scripts live in the workspace's `interop/` directory, take addresses as arguments and
//! print exactly one JSON line on stdout, which [`ScriptRun::json`] parses.
//!
//! Other crates can reuse this module with
//! `#[path = "../../broker/tests/interop/mod.rs"] mod interop;` (adjust the relative path).
#![allow(dead_code)]

pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// Environment variable naming the python interpreter that has pynsq installed.
pub const PYTHON_VAR: &str = "NSQ_INTEROP_PYTHON";
/// Environment variable naming the `node_modules` directory that holds nsqjs.
pub const NODE_MODULES_VAR: &str = "NSQ_INTEROP_NODE_MODULES";
/// Upper bound for one script run; scripts have their own shorter internal timeouts.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);

/// The python interpreter with pynsq, or `None` (after printing a notice) when
/// `NSQ_INTEROP_PYTHON` is unset. Panics when it is set but cannot import `nsq` and `tornado`.
pub fn python() -> Option<PathBuf> {
    let Some(python) = std::env::var_os(PYTHON_VAR) else {
        eprintln!(
            "NOTICE: {PYTHON_VAR} is unset; skipping pynsq interop test (run scripts/test.sh)"
        );
        return None;
    };
    let python = PathBuf::from(python);
    let check = std::process::Command::new(&python)
        .args(["-c", "import nsq, tornado"])
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON_VAR}={} cannot be run: {e}", python.display()));
    assert!(
        check.status.success(),
        "{PYTHON_VAR}={} cannot import pynsq/tornado: {}",
        python.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    Some(python)
}

/// The `node_modules` directory holding nsqjs, or `None` (after printing a notice) when
/// `NSQ_INTEROP_NODE_MODULES` is unset. Panics when it is set but `node` cannot load nsqjs.
pub fn node_modules() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(NODE_MODULES_VAR) else {
        eprintln!(
            "NOTICE: {NODE_MODULES_VAR} is unset; skipping nsqjs interop test (run scripts/test.sh)"
        );
        return None;
    };
    let dir = PathBuf::from(dir);
    let nsqjs = dir.join("nsqjs");
    let check = std::process::Command::new("node")
        .arg("-e")
        .arg("require(process.argv[1])")
        .arg(&nsqjs)
        .output()
        .unwrap_or_else(|e| panic!("{NODE_MODULES_VAR} is set but `node` cannot be run: {e}"));
    assert!(
        check.status.success(),
        "{NODE_MODULES_VAR}={} cannot load nsqjs: {}",
        dir.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    Some(dir)
}

/// The workspace's `interop/` directory (found by walking up from the crate's manifest dir,
/// so any crate of the workspace can use this module).
pub fn interop_dir() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let candidate = dir.join("interop");
        if candidate.join("package.json").is_file() {
            return candidate;
        }
        assert!(
            dir.pop(),
            "no interop/ directory above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

/// Path of a script in `interop/`, asserting that it exists.
pub fn script(name: &str) -> PathBuf {
    let path = interop_dir().join(name);
    assert!(
        path.is_file(),
        "interop script {} is missing",
        path.display()
    );
    path
}

/// What a finished script run produced.
#[derive(Debug)]
pub struct ScriptRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ScriptRun {
    /// The JSON object the script printed as its last stdout line; panics with the whole
    /// output when there is none.
    pub fn json(&self) -> serde_json::Value {
        let line = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        line.and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "script printed no JSON result\nstatus: {}\n{self}",
                    self.status
                )
            })
    }

    /// The JSON result, asserting that the script exited 0 and reported `"ok": true`.
    pub fn ok_json(&self) -> serde_json::Value {
        let json = self.json();
        assert!(
            self.status.success() && json["ok"] == serde_json::Value::Bool(true),
            "script failed (status {}): {json}\n{self}",
            self.status
        );
        json
    }
}

impl std::fmt::Display for ScriptRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Starts a pynsq script with the given interpreter. Await [`Running::finish`] for the result.
pub fn spawn_python(python: &Path, script_name: &str, args: &[String]) -> Running {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script(script_name)).args(args);
    Running::spawn(cmd, script_name)
}

/// Starts an nsqjs script with `node`, resolving modules from `node_modules`.
pub fn spawn_node(node_modules: &Path, script_name: &str, args: &[String]) -> Running {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script(script_name))
        .args(args)
        .env("NODE_PATH", node_modules);
    Running::spawn(cmd, script_name)
}

/// Runs a pynsq script to completion (bounded by [`SCRIPT_TIMEOUT`]).
pub async fn run_python(python: &Path, script_name: &str, args: &[String]) -> ScriptRun {
    spawn_python(python, script_name, args).finish().await
}

/// Runs an nsqjs script to completion (bounded by [`SCRIPT_TIMEOUT`]).
pub async fn run_node(node_modules: &Path, script_name: &str, args: &[String]) -> ScriptRun {
    spawn_node(node_modules, script_name, args).finish().await
}

/// A script running as a child process; killed when dropped.
pub struct Running {
    name: String,
    child: tokio::process::Child,
}

impl Running {
    fn spawn(mut cmd: tokio::process::Command, name: &str) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Running {
            name: name.to_string(),
            child,
        }
    }

    /// Waits for the script to exit; kills it and panics after [`SCRIPT_TIMEOUT`].
    pub async fn finish(self) -> ScriptRun {
        let name = self.name;
        match tokio::time::timeout(SCRIPT_TIMEOUT, self.child.wait_with_output()).await {
            Ok(Ok(out)) => ScriptRun {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Ok(Err(e)) => panic!("waiting for {name} failed: {e}"),
            // The future owned the child; dropping it killed the process (kill_on_drop).
            Err(_) => panic!("{name} did not finish within {SCRIPT_TIMEOUT:?}; killed"),
        }
    }
}

/// Lower-case hex of `bytes`, the encoding the scripts use for message bodies.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Message bodies the interop tests publish: text, UTF-8, binary with NUL and newline bytes.
pub fn sample_bodies(tag: &str) -> Vec<Vec<u8>> {
    vec![
        format!("{tag}-hello").into_bytes(),
        format!("{tag}-ünïcödé ✓").into_bytes(),
        [tag.as_bytes(), &[0u8, 1, 2, b'\n', 0xff, 0xfe, b'\r', 0]].concat(),
    ]
}

/// The hex bodies of a script's `finished` list, sorted (delivery order is not asserted).
pub fn finished_sorted(json: &serde_json::Value) -> Vec<String> {
    let mut bodies: Vec<String> = json["finished"]
        .as_array()
        .unwrap_or_else(|| panic!("no `finished` list in {json}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    bodies.sort();
    bodies
}

/// Sorted hex of the given bodies, to compare with [`finished_sorted`].
pub fn hex_sorted(bodies: &[Vec<u8>]) -> Vec<String> {
    let mut hexes: Vec<String> = bodies.iter().map(|b| hex(b)).collect();
    hexes.sort();
    hexes
}

/// The `deliveries` list a reader script reported.
pub fn deliveries(json: &serde_json::Value) -> Vec<serde_json::Value> {
    json["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("no `deliveries` list in {json}"))
        .clone()
}

/// Asserts that every body was delivered exactly once, with attempts 1 (no redelivery).
pub fn assert_delivered_once(json: &serde_json::Value, bodies: &[Vec<u8>]) {
    let delivered: Vec<&serde_json::Value> = json["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut seen: Vec<String> = delivered
        .iter()
        .map(|d| d["body_hex"].as_str().unwrap_or_default().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, hex_sorted(bodies), "each body exactly once: {json}");
    for d in delivered {
        assert_eq!(d["attempts"], 1, "no redelivery expected: {json}");
    }
}

/// Asserts that every body came first with attempts 1, then again (after the script's REQ)
/// with the same message id and attempts 2, and was finished.
pub fn assert_requeued_once(json: &serde_json::Value, bodies: &[Vec<u8>]) {
    assert_eq!(
        finished_sorted(json),
        hex_sorted(bodies),
        "finished bodies: {json}"
    );
    let all = deliveries(json);
    for body in bodies {
        let body = hex(body);
        let of_body: Vec<&serde_json::Value> = all
            .iter()
            .filter(|d| d["body_hex"] == body.as_str())
            .collect();
        let attempts: Vec<i64> = of_body
            .iter()
            .filter_map(|d| d["attempts"].as_i64())
            .collect();
        assert_eq!(
            attempts,
            vec![1, 2],
            "body {body} delivered then redelivered: {json}"
        );
        assert_eq!(
            of_body[0]["id"], of_body[1]["id"],
            "same message id after REQ: {json}"
        );
    }
}

/// Asserts that the delivery of `body` happened at least `delay_ms` after the message's
/// timestamp (a deferred message must not be delivered early).
pub fn assert_not_early(json: &serde_json::Value, body: &[u8], delay_ms: i64) {
    let body = hex(body);
    let delivery = deliveries(json)
        .into_iter()
        .find(|d| d["body_hex"] == body.as_str())
        .unwrap_or_else(|| panic!("body {body} not delivered: {json}"));
    let published = delivery["timestamp_ms"].as_i64().unwrap_or_default();
    let received = delivery["received_ms"].as_i64().unwrap_or_default();
    // 5 ms slack: both sides truncate to whole milliseconds.
    assert!(
        received - published >= delay_ms - 5,
        "deferred message delivered after {} ms, deferred by {delay_ms} ms: {json}",
        received - published
    );
}

/// Starts an embedded nsqd on loopback port 0 with default options.
pub async fn start_nsqd() -> broker::nsqd::Nsqd {
    let opts = broker::nsqd::NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..broker::nsqd::NsqdOptions::default()
    };
    tokio::time::timeout(Duration::from_secs(10), broker::nsqd::Nsqd::start(opts))
        .await
        .expect("nsqd start timed out")
        .expect("nsqd start")
}

/// Hex args for a writer script.
pub fn hex_args(bodies: &[Vec<u8>]) -> Vec<String> {
    bodies.iter().map(|b| hex(b)).collect()
}
