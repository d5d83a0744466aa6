//! The quickstart: an embedded nsqd + nsqlookupd, the order service and the notifier in one
//! process, and a client that creates a few orders over gRPC and shows what each notifier
//! channel received, with the trace id that followed each order through NSQ.
//!
//! ```text
//! cargo run --release -p examples --bin quickstart                  # runs, prints, exits 0
//! cargo run --release -p examples --bin quickstart -- --keep-running  # stays up
//! ```

use std::time::Duration;

use clap::Parser;
use framework::AppInfo;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use proto::shop::v1::notifier_service_client::NotifierServiceClient;
use proto::shop::v1::order_service_client::OrderServiceClient;
use proto::shop::v1::{CreateOrderRequest, ListReceivedRequest, Received};
use tracing::Instrument;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use transport_nsq::NsqConfig;

use broker::lookupd::{Lookupd, LookupdOptions};
use broker::nsqd::{Nsqd, NsqdOptions};
use examples::conf::Bootstrap;

/// Runs both example services on an embedded NSQ and shows events flowing.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Stay up after the demo (Ctrl-C stops) and print the addresses to try things by hand.
    #[arg(long)]
    keep_running: bool,
    /// How many orders the client creates.
    #[arg(long, default_value_t = 3)]
    orders: usize,
}

const CUSTOMERS: [&str; 5] = ["ada", "grace", "linus", "barbara", "ken"];
const WAIT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let provider = init_telemetry()?;
    let outcome = run(&args).await;
    drop(provider);
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(err) => Err(err),
    }
}

/// Logs (warnings unless `RUST_LOG` says otherwise) go to stderr so stdout shows only the
/// demo; every span still gets OpenTelemetry ids, so trace context crosses gRPC and NSQ.
fn init_telemetry() -> anyhow::Result<SdkTracerProvider> {
    let logs = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let provider = SdkTracerProvider::builder().build();
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("quickstart"))
        .with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(logs),
        )
        .with(spans)
        .try_init()?;
    Ok(provider)
}

/// The embedded broker: nsqlookupd, and nsqd registered with it.
struct EmbeddedNsq {
    lookupd: Lookupd,
    nsqd: Nsqd,
    _data: tempfile::TempDir,
}

impl EmbeddedNsq {
    async fn start() -> anyhow::Result<Self> {
        let loopback = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let lookupd = Lookupd::start(LookupdOptions {
            tcp_address: loopback(0),
            http_address: loopback(0),
            broadcast_address: "127.0.0.1".into(),
            ..LookupdOptions::default()
        })
        .await?;
        let data = tempfile::tempdir()?;
        let nsqd = Nsqd::start(NsqdOptions {
            tcp_address: loopback(0),
            http_address: loopback(0),
            broadcast_address: "127.0.0.1".into(),
            lookupd_tcp_address: vec![lookupd.tcp_addr().to_string()],
            data_path: data.path().to_path_buf(),
            ..NsqdOptions::default()
        })
        .await?;
        Ok(EmbeddedNsq {
            lookupd,
            nsqd,
            _data: data,
        })
    }

    async fn shutdown(self) {
        self.nsqd.shutdown().await;
        self.lookupd.shutdown().await;
    }
}

fn grpc_on_any_port() -> framework::grpc::GrpcConfig {
    framework::grpc::GrpcConfig {
        address: "127.0.0.1:0".parse().expect("valid literal address"),
        ..framework::grpc::GrpcConfig::default()
    }
}

/// Waits until the App's gRPC server is listening and returns its address.
async fn grpc_address(info: &AppInfo) -> anyhow::Result<String> {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let grpc = info
                .endpoints()
                .into_iter()
                .find_map(|e| e.as_str().strip_prefix("grpc://").map(str::to_string));
            if let Some(address) = grpc {
                return address;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.map_err(|_| anyhow::anyhow!("{} did not start within {WAIT:?}", info.name()))
}

async fn run(args: &Args) -> anyhow::Result<bool> {
    let nsq = EmbeddedNsq::start().await?;
    println!(
        "embedded nsqd: tcp {} http {} | nsqlookupd: tcp {} http {}",
        nsq.nsqd.tcp_addr(),
        nsq.nsqd.http_addr(),
        nsq.lookupd.tcp_addr(),
        nsq.lookupd.http_addr()
    );

    // The notifier discovers nsqd through lookupd; the order service publishes to nsqd.
    let notifier_conf = Bootstrap {
        grpc: grpc_on_any_port(),
        nsq: NsqConfig {
            lookupd_http_addresses: vec![nsq.lookupd.http_addr().to_string()],
            nsqd_http_addresses: vec![nsq.nsqd.http_addr().to_string()],
            ..NsqConfig::default()
        }
        .client_option("lookupd_poll_interval", "250ms")
        .client_option("close_timeout", "2s"),
        ..Bootstrap::default()
    };
    let order_conf = Bootstrap {
        grpc: grpc_on_any_port(),
        nsq: NsqConfig {
            nsqd_tcp_addresses: vec![nsq.nsqd.tcp_addr().to_string()],
            ..NsqConfig::default()
        },
        ..Bootstrap::default()
    };
    let notifier = examples::notifier::server::app(&notifier_conf).await?;
    let orders = examples::order::server::app(&order_conf).await?;
    let (notifier_info, orders_info) = (notifier.info().clone(), orders.info().clone());
    let (notifier_stop, orders_stop) = (notifier.stop_handle(), orders.stop_handle());
    let notifier_run = tokio::spawn(notifier.run());
    let orders_run = tokio::spawn(orders.run());
    let notifier_addr = grpc_address(&notifier_info).await?;
    let orders_addr = grpc_address(&orders_info).await?;
    println!("order-service: grpc://{orders_addr} | notifier: grpc://{notifier_addr}");

    let ok = demo(args.orders, &orders_addr, &notifier_addr).await?;

    if args.keep_running {
        println!();
        println!("running; press Ctrl-C to stop. Try:");
        println!("  grpcurl -plaintext -d '{{\"customer\":\"you\",\"amount_cents\":500}}' {orders_addr} shop.v1.OrderService/CreateOrder");
        println!(
            "  grpcurl -plaintext -d '{{}}' {notifier_addr} shop.v1.NotifierService/ListReceived"
        );
        println!(
            "  curl -s 'http://{}/stats?format=json'",
            nsq.nsqd.http_addr()
        );
        println!("  curl -s 'http://{}/nodes'", nsq.lookupd.http_addr());
        tokio::signal::ctrl_c().await?;
    }
    notifier_stop.stop();
    orders_stop.stop();
    orders_run.await??;
    notifier_run.await??;
    nsq.shutdown().await;
    Ok(ok)
}

/// Creates orders, waits until both channels received them, prints and checks.
async fn demo(count: usize, orders_addr: &str, notifier_addr: &str) -> anyhow::Result<bool> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{orders_addr}"))?
        .connect()
        .await?;
    let mut orders = OrderServiceClient::with_interceptor(
        channel,
        framework::telemetry::TracePropagationInterceptor,
    );
    let mut created = Vec::new();
    for i in 0..count {
        let customer = CUSTOMERS[i % CUSTOMERS.len()];
        let amount_cents = 1000 + 250 * i as u64;
        let span = tracing::info_span!("quickstart.create_order", customer);
        let reply = orders
            .create_order(CreateOrderRequest {
                customer: customer.into(),
                amount_cents,
            })
            .instrument(span)
            .await?
            .into_inner();
        let order = reply
            .order
            .ok_or_else(|| anyhow::anyhow!("CreateOrder returned no order"))?;
        println!(
            "created order {} for {customer} ({amount_cents} cents) trace {}",
            order.id, reply.trace_id
        );
        created.push((order.id, reply.trace_id));
    }

    let mut notifier = NotifierServiceClient::connect(format!("http://{notifier_addr}")).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let received: Vec<Received> = loop {
        let received = notifier
            .list_received(ListReceivedRequest::default())
            .await?
            .into_inner()
            .received;
        let per_channel = |c: &str| received.iter().filter(|r| r.channel == c).count();
        if per_channel("email") >= count && per_channel("analytics") >= count {
            break received;
        }
        if tokio::time::Instant::now() >= deadline {
            println!("timed out waiting for the notifier; it received {received:?}");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for r in &received {
        println!(
            "{:<9} received order {} trace {} (attempt {})",
            r.channel, r.order_id, r.trace_id, r.attempts
        );
    }
    let matched = received
        .iter()
        .filter(|r| {
            created
                .iter()
                .any(|(id, trace)| *id == r.order_id && *trace == r.trace_id && !trace.is_empty())
        })
        .count();
    let email = received.iter().filter(|r| r.channel == "email").count();
    let analytics = received.iter().filter(|r| r.channel == "analytics").count();
    println!(
        "summary: orders {count}, email {email}, analytics {analytics}, trace ids matched {matched}/{}",
        received.len()
    );
    Ok(email == count && analytics == count && matched == received.len())
}
