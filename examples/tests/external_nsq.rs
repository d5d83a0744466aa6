//! The services against an external NSQ: the real `nsqd` and `nsqlookupd` binaries of this
//! workspace run as separate processes, the `order-service` and `notifier` binaries run
//! against them (config file + environment), and orders are created over gRPC.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use proto::shop::v1::notifier_service_client::NotifierServiceClient;
use proto::shop::v1::order_service_client::OrderServiceClient;
use proto::shop::v1::{CreateOrderRequest, GetOrderRequest, ListReceivedRequest};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(30);

/// A child process killed when the test ends (also on panic).
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process { name, child }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The directory holding this profile's binaries (`target/<profile>`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The broker's binaries: the ones `cargo test --workspace` built next to this test (the
/// broker's own tests need them), or built now with cargo when missing.
fn broker_binaries() -> (PathBuf, PathBuf) {
    let dir = bin_dir();
    let (nsqd, lookupd) = (dir.join("nsqd"), dir.join("nsqlookupd"));
    if nsqd.is_file() && lookupd.is_file() {
        return (nsqd, lookupd);
    }
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args([
        "build",
        "-q",
        "-p",
        "broker",
        "--bin",
        "nsqd",
        "--bin",
        "nsqlookupd",
    ]);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building nsqd and nsqlookupd failed");
    (nsqd, lookupd)
}

async fn wait_for_port(port: u16, process: &mut Process) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        process.assert_running();
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} is not listening on {port}",
            process.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn services_run_against_nsqd_and_nsqlookupd_processes() {
    let (nsqd_bin, lookupd_bin) = broker_binaries();
    let data = tempfile::tempdir().unwrap();
    let [lookupd_tcp, lookupd_http, nsqd_tcp, nsqd_http, order_grpc, notifier_grpc] =
        [(); 6].map(|_| free_port());

    let mut lookupd = Process::spawn(
        "nsqlookupd",
        Command::new(&lookupd_bin).args([
            format!("--tcp-address=127.0.0.1:{lookupd_tcp}"),
            format!("--http-address=127.0.0.1:{lookupd_http}"),
            "--broadcast-address=127.0.0.1".to_string(),
        ]),
    );
    wait_for_port(lookupd_http, &mut lookupd).await;
    let mut nsqd = Process::spawn(
        "nsqd",
        Command::new(&nsqd_bin).args([
            format!("--tcp-address=127.0.0.1:{nsqd_tcp}"),
            format!("--http-address=127.0.0.1:{nsqd_http}"),
            "--broadcast-address=127.0.0.1".to_string(),
            format!("--lookupd-tcp-address=127.0.0.1:{lookupd_tcp}"),
            format!("--data-path={}", data.path().display()),
        ]),
    );
    wait_for_port(nsqd_tcp, &mut nsqd).await;
    wait_for_port(nsqd_http, &mut nsqd).await;

    // The notifier from a config file (discovery through lookupd), with one env override.
    let notifier_config = data.path().join("notifier.toml");
    std::fs::write(
        &notifier_config,
        format!(
            "[grpc]\naddress = \"127.0.0.1:{notifier_grpc}\"\n\n[nsq]\n\
             lookupd_http_addresses = [\"127.0.0.1:{lookupd_http}\"]\n\n\
             [nsq.client]\nlookupd_poll_interval = \"200ms\"\n"
        ),
    )
    .unwrap();
    let mut notifier = Process::spawn(
        "notifier",
        Command::new(env!("CARGO_BIN_EXE_notifier"))
            .arg("--config")
            .arg(&notifier_config)
            .env(
                "NOTIFIER_NSQ__NSQD_HTTP_ADDRESSES",
                format!("127.0.0.1:{nsqd_http}"),
            ),
    );
    // The order service from its shipped config file, pointed at this NSQ by environment.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/order-service.toml");
    let mut orders = Process::spawn(
        "order-service",
        Command::new(env!("CARGO_BIN_EXE_order-service"))
            .arg("--config")
            .arg(&shipped)
            .env("ORDER_GRPC__ADDRESS", format!("127.0.0.1:{order_grpc}"))
            .env(
                "ORDER_NSQ__NSQD_TCP_ADDRESSES",
                format!("127.0.0.1:{nsqd_tcp}"),
            ),
    );
    wait_for_port(notifier_grpc, &mut notifier).await;
    wait_for_port(order_grpc, &mut orders).await;

    let mut order_client = OrderServiceClient::connect(format!("http://127.0.0.1:{order_grpc}"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (customer, amount_cents) in [("ada", 1200), ("grace", 3400), ("ken", 560)] {
        let reply = order_client
            .create_order(CreateOrderRequest {
                customer: customer.into(),
                amount_cents,
            })
            .await
            .unwrap()
            .into_inner();
        let order = reply.order.unwrap();
        assert_eq!(order.customer, customer);
        assert_eq!(reply.trace_id.len(), 32, "the service reports its trace id");
        ids.push(order.id);
    }
    let fetched = order_client
        .get_order(GetOrderRequest { id: ids[0].clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.amount_cents, 1200);
    let invalid = order_client
        .create_order(CreateOrderRequest {
            customer: String::new(),
            amount_cents: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);

    let mut notifier_client =
        NotifierServiceClient::connect(format!("http://127.0.0.1:{notifier_grpc}"))
            .await
            .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let received = notifier_client
            .list_received(ListReceivedRequest::default())
            .await
            .unwrap()
            .into_inner()
            .received;
        let mut email: Vec<String> = received
            .iter()
            .filter(|r| r.channel == "email")
            .map(|r| r.order_id.clone())
            .collect();
        let mut analytics: Vec<String> = received
            .iter()
            .filter(|r| r.channel == "analytics")
            .map(|r| r.order_id.clone())
            .collect();
        email.sort();
        analytics.sort();
        let mut expected = ids.clone();
        expected.sort();
        if email == expected && analytics == expected {
            assert!(received.iter().all(|r| r.trace_id.len() == 32));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "notifier received {received:?}, expected {expected:?} on both channels"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for process in [&mut orders, &mut notifier, &mut nsqd, &mut lookupd] {
        process.assert_running();
    }
}
