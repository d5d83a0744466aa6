//! Interop: pynsq and nsqjs Readers given ONLY our nsqlookupd's HTTP address discover both
//! of our nsqd instances and receive the messages published to each.
//!
//! Skips with a notice when `NSQ_INTEROP_PYTHON` / `NSQ_INTEROP_NODE_MODULES` are unset
//! (plain `cargo test`); fails when they are set but the clients are broken.

mod interop;
mod lookupd_support;

use std::time::Duration;

use broker::lookupd::Lookupd;
use broker::nsqd::{Nsqd, NsqdOptions};
use lookupd_support::{default_lookupd, eventually, get};

async fn start_nsqd(lookupd: &Lookupd) -> Nsqd {
    let opts = NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        lookupd_tcp_address: vec![lookupd.tcp_addr().to_string()],
        lookupd_ping_interval: Duration::from_millis(200),
        ..NsqdOptions::default()
    };
    tokio::time::timeout(Duration::from_secs(10), Nsqd::start(opts))
        .await
        .unwrap()
        .unwrap()
}

/// A lookupd, two nsqd, and one message per nsqd on `topic` (registered in lookupd).
struct Cluster {
    lookupd: Lookupd,
    nsqds: [Nsqd; 2],
    bodies: Vec<Vec<u8>>,
}

impl Cluster {
    async fn start(topic: &str) -> Cluster {
        let lookupd = default_lookupd().await;
        let nsqds = [start_nsqd(&lookupd).await, start_nsqd(&lookupd).await];
        let mut bodies = Vec::new();
        for (i, nsqd) in nsqds.iter().enumerate() {
            let body = format!("{topic}-from-nsqd-{i}").into_bytes();
            nsqd.context().publish(topic, body.clone().into()).unwrap();
            bodies.push(body);
        }
        let http = lookupd.http_addr();
        let path = format!("/lookup?topic={topic}");
        eventually("both nsqd registered", || async {
            let reply = get(http, &path).await;
            reply.status == 200 && reply.json()["producers"].as_array().unwrap().len() == 2
        })
        .await;
        Cluster {
            lookupd,
            nsqds,
            bodies,
        }
    }

    fn reader_args(&self, topic: &str, channel: &str) -> Vec<String> {
        [
            "--lookupd-http",
            &self.lookupd.http_addr().to_string(),
            "--topic",
            topic,
            "--channel",
            channel,
            "--expect",
            "2",
            "--expect-nsqd",
            "2",
            "--poll-interval",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Asserts the reader saw both bodies and connected to both nsqd's TCP addresses.
    fn assert_reached_both(&self, json: &serde_json::Value) {
        assert_eq!(
            interop::finished_sorted(json),
            interop::hex_sorted(&self.bodies),
            "{json}"
        );
        let mut expected: Vec<String> = self
            .nsqds
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.tcp_addr().port()))
            .collect();
        expected.sort();
        let mut reached: Vec<String> = json["nsqd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        reached.sort();
        assert_eq!(reached, expected, "{json}");
    }

    async fn shutdown(self) {
        for nsqd in &self.nsqds {
            nsqd.shutdown().await;
        }
        self.lookupd.shutdown().await;
    }
}

#[tokio::test]
async fn pynsq_reader_discovers_both_nsqd_through_lookupd() {
    let Some(python) = interop::python() else {
        return;
    };
    let cluster = Cluster::start("lookupd_py").await;
    let args = cluster.reader_args("lookupd_py", "py");
    let run = interop::run_python(&python, "pynsq_reader.py", &args).await;
    cluster.assert_reached_both(&run.ok_json());
    cluster.shutdown().await;
}

#[tokio::test]
async fn nsqjs_reader_discovers_both_nsqd_through_lookupd() {
    let Some(node_modules) = interop::node_modules() else {
        return;
    };
    let cluster = Cluster::start("lookupd_js").await;
    let args = cluster.reader_args("lookupd_js", "js");
    let run = interop::run_node(&node_modules, "nsqjs_reader.js", &args).await;
    cluster.assert_reached_both(&run.ok_json());
    cluster.shutdown().await;
}
