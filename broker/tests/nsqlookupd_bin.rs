//! The `nsqlookupd` binary: Go's flags, `--config`, serving, and SIGTERM shutdown.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_nsqlookupd");

#[test]
fn help_lists_go_flags() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--tcp-address",
        "--http-address",
        "--broadcast-address",
        "--inactive-producer-timeout",
        "--tombstone-lifetime",
        "--log-level",
        "--config",
        "0.0.0.0:4160",
        "0.0.0.0:4161",
        "5m0s",
        "45s",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn version_and_bad_flags() {
    let output = Command::new(BIN).arg("--version").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .starts_with("nsqlookupd v1.3.0"));
    let output = Command::new(BIN)
        .args(["--tombstone-lifetime", "soon"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let output = Command::new(BIN)
        .args(["--config", "/nonexistent/nsqlookupd.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("config file"));
}

/// Kills the child on drop so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the "listening" log line and returns the (TCP, HTTP) addresses.
fn addresses_from_log(child: &mut Child) -> (SocketAddr, SocketAddr) {
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let field = |name: &str| {
                let rest = line.split(name).nth(1)?;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            };
            if let (Some(tcp), Some(http)) = (field("tcp="), field("http=")) {
                let _ = sender.send((tcp, http));
            }
        }
    });
    receiver.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[tokio::test]
async fn serves_with_config_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nsqlookupd.toml");
    std::fs::write(
        &config,
        "tcp_address = \"127.0.0.1:0\"\nhttp_address = \"127.0.0.1:0\"\n\
         broadcast_address = \"from-config\"\ntombstone_lifetime = \"2s\"\n",
    )
    .unwrap();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let (tcp, http) = addresses_from_log(&mut running.0);

    let ping = async {
        reqwest::get(format!("http://{http}/ping"))
            .await?
            .text()
            .await
    };
    let ping = tokio::time::timeout(Duration::from_secs(5), ping)
        .await
        .unwrap();
    assert_eq!(ping.unwrap(), "OK");
    let reply = identify(tcp).await;
    assert_eq!(reply["broadcast_address"], "from-config");
    assert_eq!(reply["http_port"], http.port());

    let pid = running.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// IDENTIFYs as a fake nsqd and returns lookupd's JSON reply.
async fn identify(tcp: SocketAddr) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = br#"{"broadcast_address":"h","tcp_port":1,"http_port":2,"version":"1.3.0"}"#;
    let mut stream = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let mut request = b"  V1IDENTIFY\n".to_vec();
    request.extend_from_slice(&(body.len() as u32).to_be_bytes());
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let read = async {
        let size = stream.read_u32().await.unwrap();
        let mut data = vec![0; size as usize];
        stream.read_exact(&mut data).await.unwrap();
        data
    };
    let data = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap();
    serde_json::from_slice(&data).unwrap()
}
