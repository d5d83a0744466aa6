//! The interop scenarios every third-party client runs the same way against our nsqd: a
//! [`Client`] is pynsq or nsqjs, with its own script names and writer output (the reader
//! scripts take the same flags).

use std::path::PathBuf;

use super::*;

/// A third-party client with its writer and reader scripts.
pub enum Client {
    /// pynsq, run by this Python interpreter.
    Pynsq(PathBuf),
    /// nsqjs, resolved from this `node_modules`.
    Nsqjs(PathBuf),
}

impl Client {
    /// pynsq, when the interop environment provides it (see [`python`]).
    pub fn pynsq() -> Option<Client> {
        python().map(Client::Pynsq)
    }

    /// nsqjs, when the interop environment provides it (see [`node_modules`]).
    pub fn nsqjs() -> Option<Client> {
        node_modules().map(Client::Nsqjs)
    }

    async fn run(&self, role: &str, args: &[String]) -> serde_json::Value {
        match self {
            Client::Pynsq(python) => run_python(python, &format!("pynsq_{role}.py"), args).await,
            Client::Nsqjs(modules) => run_node(modules, &format!("nsqjs_{role}.js"), args).await,
        }
        .ok_json()
    }

    /// Runs the writer: `--mode pub|mpub|dpub`, then `extra` flags, then the bodies.
    pub async fn write(
        &self,
        addr: &str,
        topic: &str,
        mode: &str,
        extra: &[&str],
        bodies: &[Vec<u8>],
    ) -> serde_json::Value {
        let mut a = args(&["--nsqd", addr, "--topic", topic, "--mode", mode]);
        a.extend(args(extra));
        a.extend(hex_args(bodies));
        self.run("writer", &a).await
    }

    /// Runs the reader on channel `c` until `expect` messages were finished.
    pub async fn read(
        &self,
        addr: &str,
        topic: &str,
        expect: usize,
        extra: &[&str],
    ) -> serde_json::Value {
        let expect = expect.to_string();
        let mut a = args(&[
            "--nsqd",
            addr,
            "--topic",
            topic,
            "--channel",
            "c",
            "--expect",
            &expect,
        ]);
        a.extend(args(extra));
        self.run("reader", &a).await
    }

    /// The writer's report of `publishes` acknowledged publish commands.
    fn assert_acknowledged(&self, out: &serde_json::Value, publishes: usize, mode: &str) {
        match self {
            Client::Pynsq(_) => assert_eq!(
                out["responses"],
                serde_json::json!(vec!["OK"; publishes]),
                "{mode}"
            ),
            Client::Nsqjs(_) => assert_eq!(out["published"], publishes, "{mode}"),
        }
    }
}

/// Reader flags (the same for both clients): msg_timeout 1 s, each message held 5 x 0.4 s = 2 s
/// with a TOUCH every 0.4 s.
const TOUCH_FLAGS: [&str; 6] = [
    "--touch",
    "4",
    "--touch-every-ms",
    "400",
    "--msg-timeout-ms",
    "1000",
];

/// Strings for a script's argument list.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// PUB, MPUB and DPUB from the client's writer reach its reader byte-exact, once each, and the
/// deferred one not before its delay.
pub async fn publish_single_multi_deferred(client: &Client, topic: &str) {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let singles = sample_bodies("pub");
    let multi = sample_bodies("mpub");
    let deferred = vec![b"dpub-later".to_vec()];

    for (mode, bodies, publishes) in [("pub", &singles, 3), ("mpub", &multi, 1)] {
        let out = client.write(&addr, topic, mode, &[], bodies).await;
        client.assert_acknowledged(&out, publishes, mode);
    }
    let out = client
        .write(&addr, topic, "dpub", &["--delay-ms", "1500"], &deferred)
        .await;
    if let Client::Pynsq(_) = client {
        client.assert_acknowledged(&out, 1, "dpub");
    }

    let all: Vec<Vec<u8>> = [singles, multi, deferred.clone()].concat();
    let got = client.read(&addr, topic, all.len(), &[]).await;
    assert_eq!(finished_sorted(&got), hex_sorted(&all));
    assert_delivered_once(&got, &all);
    assert_not_early(&got, &deferred[0], 1500);
    nsqd.shutdown().await;
}

/// A message the reader requeues once comes back with its attempts incremented.
pub async fn requeue_redelivers(client: &Client, topic: &str) {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("req");
    client.write(&addr, topic, "pub", &[], &bodies).await;
    let got = client.read(&addr, topic, 3, &["--requeue-first"]).await;
    assert_requeued_once(&got, &bodies);
    nsqd.shutdown().await;
}

/// TOUCH keeps a message in flight past its msg_timeout: each is finished exactly once.
pub async fn touch_keeps_message(client: &Client, topic: &str) {
    let nsqd = start_nsqd().await;
    let addr = nsqd.tcp_addr().to_string();
    let bodies = sample_bodies("touch");
    client.write(&addr, topic, "pub", &[], &bodies).await;
    let got = client.read(&addr, topic, 3, &TOUCH_FLAGS).await;
    assert_eq!(finished_sorted(&got), hex_sorted(&bodies));
    assert_delivered_once(&got, &bodies);
    nsqd.shutdown().await;
}
