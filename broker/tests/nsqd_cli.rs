//! The `nsqd` binary: Go flag names in `--help`, `--version`, `--config` honoured (command line
//! wins), bad flags rejected, SIGTERM shuts it down cleanly.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NSQD: &str = env!("CARGO_BIN_EXE_nsqd");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(NSQD).args(args).output().expect("run nsqd")
}

#[test]
fn help_lists_go_flag_names() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--version",
        "--log-level",
        "--log-prefix",
        "--node-id",
        "--tcp-address",
        "--http-address",
        "--https-address",
        "--broadcast-address",
        "--broadcast-tcp-port",
        "--broadcast-http-port",
        "--lookupd-tcp-address",
        "--auth-http-address",
        "--auth-http-request-method",
        "--http-client-connect-timeout",
        "--http-client-request-timeout",
        "--data-path",
        "--mem-queue-size",
        "--max-bytes-per-file",
        "--sync-every",
        "--sync-timeout",
        "--queue-scan-selection-count",
        "--queue-scan-worker-pool-max",
        "--msg-timeout",
        "--max-msg-timeout",
        "--max-msg-size",
        "--max-req-timeout",
        "--max-body-size",
        "--max-heartbeat-interval",
        "--max-rdy-count",
        "--max-output-buffer-size",
        "--max-output-buffer-timeout",
        "--min-output-buffer-timeout",
        "--output-buffer-timeout",
        "--max-channel-consumers",
        "--statsd-address",
        "--statsd-interval",
        "--statsd-mem-stats",
        "--statsd-prefix",
        "--statsd-udp-packet-size",
        "--statsd-exclude-ephemeral",
        "--e2e-processing-latency-percentile",
        "--e2e-processing-latency-window-time",
        "--tls-cert",
        "--tls-key",
        "--tls-client-auth-policy",
        "--tls-root-ca-file",
        "--tls-required",
        "--tls-min-version",
        "--deflate",
        "--max-deflate-level",
        "--snappy",
        "--topology-region",
        "--topology-zone",
        "--enable-experiment",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    assert!(help.contains("[default: 10000]"), "defaults shown:\n{help}");
}

#[test]
fn version_prints_nsqd_version() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("nsqd v1.3.0"));
}

#[test]
fn bad_flags_and_config_fail_with_a_message() {
    let out = run(&["--no-such-flag"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
    let out = run(&["--msg-timeout=soon"]);
    assert!(!out.status.success());
    let out = run(&["--config", "/nonexistent/nsqd.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/nsqd.toml"));
    let out = run(&[
        "--node-id=5000",
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node-id"));
}

/// A running `nsqd` child process, killed on drop.
struct Daemon {
    child: Child,
    http: String,
    /// stderr lines up to and including the "HTTP: listening on" line.
    early_lines: Vec<String>,
    stderr_lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nsqd with `args` and waits (bounded) for its "HTTP: listening on" log line.
fn start(args: &[&str]) -> Daemon {
    let mut child = Command::new(NSQD)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nsqd");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut daemon = Daemon {
        child,
        http: String::new(),
        early_lines: Vec::new(),
        stderr_lines: rx,
    };
    while daemon.http.is_empty() {
        let line = daemon
            .stderr_lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!(
                    "nsqd did not report its HTTP address: {:#?}",
                    daemon.early_lines
                )
            });
        if let Some(rest) = line.split("HTTP: listening on ").nth(1) {
            daemon.http = rest.trim().to_string();
        }
        daemon.early_lines.push(line);
    }
    daemon
}

/// Starts nsqd on loopback port 0 with a fresh data directory (kept alive by the returned
/// guard) and the `extra` flags.
fn start_on_loopback(extra: &[&str]) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-path={}", dir.path().to_str().unwrap());
    let mut args = vec!["--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"];
    args.extend_from_slice(extra);
    args.push(&data);
    let daemon = start(&args);
    (dir, daemon)
}

/// A minimal HTTP/1.1 POST over a std TCP stream: (status, body).
fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    request(addr, "POST", path, body)
}

/// A minimal HTTP/1.1 request over a std TCP stream: (status, body).
fn request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response {response:?}"));
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn config_file_is_honoured_and_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nsqd.toml");
    let mut file = std::fs::File::create(&config).unwrap();
    writeln!(
        file,
        "tcp_address = \"127.0.0.1:0\"\nhttp_address = \"127.0.0.1:0\"\nmax_msg_size = 10\n\
         max_body_size = 20\ndata_path = {:?}\nunknown_key = 1",
        dir.path().to_str().unwrap()
    )
    .unwrap();
    drop(file);
    let daemon = start(&["--config", config.to_str().unwrap(), "--max-body-size=30"]);
    let http = daemon.http.as_str();
    // max_msg_size = 10 from the config file
    assert_eq!(post(http, "/pub?topic=t", "0123456789"), (200, "OK".into()));
    assert_eq!(
        post(http, "/pub?topic=t", "0123456789a"),
        (413, r#"{"message":"MSG_TOO_BIG"}"#.into())
    );
    // max_body_size = 30 from the command line beats 20 from the file
    let body25 = "aaaa\nbbbb\ncccc\ndddd\neeee";
    assert_eq!(post(http, "/mpub?topic=t", body25), (200, "OK".into()));
    assert!(
        daemon.early_lines.iter().any(|l| l.contains("unknown_key")),
        "unknown config key is logged: {:#?}",
        daemon.early_lines
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let (_dir, mut daemon) = start_on_loopback(&[]);
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert!(status.success(), "clean exit after SIGTERM: {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "nsqd ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines: Vec<String> = daemon.stderr_lines.try_iter().collect();
    assert!(
        lines.iter().any(|l| l.contains("nsqd stopped")),
        "{lines:#?}"
    );
}

#[test]
fn inactive_feature_flags_are_accepted_with_a_warning() {
    let (_dir, daemon) = start_on_loopback(&["--statsd-address=127.0.0.1:8125"]);
    assert!(
        daemon
            .early_lines
            .iter()
            .any(|l| l.contains("--statsd-address is accepted but has no effect")),
        "{:#?}",
        daemon.early_lines
    );
}

#[test]
fn put_config_log_level_changes_the_running_level() {
    let (_dir, daemon) = start_on_loopback(&[]);
    let http = daemon.http.as_str();
    // (method, path, body, expected 200 reply), in order; at warn, creating a topic logs
    // nothing.
    let steps = [
        ("GET", "/config/log_level", "", "2"),
        ("PUT", "/config/log_level", "warn", "3"),
        ("POST", "/topic/create?topic=quiet", "", ""),
        ("PUT", "/config/log_level", "INFO", "2"),
        ("GET", "/config/log_level", "", "2"),
        ("POST", "/topic/create?topic=loud", "", ""),
    ];
    for (method, path, body, expected) in steps {
        let reply = request(http, method, path, body);
        assert_eq!(reply, (200, expected.to_owned()), "{method} {path}");
    }
    let mut created = Vec::new();
    while created.is_empty() {
        let line = daemon
            .stderr_lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an info line after raising the level");
        if line.contains("TOPIC: created") {
            created.push(line);
        }
    }
    assert!(created[0].contains("loud"), "{created:?}");
    assert_eq!(
        request(http, "PUT", "/config/log_level", "chatty"),
        (400, r#"{"message":"INVALID_VALUE"}"#.into())
    );
}
