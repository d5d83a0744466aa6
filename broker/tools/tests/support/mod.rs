//! What every `nsq` tool test needs: an embedded nsqd on loopback port 0 and the real `nsq`
//! binary as a child process that dies with the test.

#![allow(dead_code)]

use broker::nsqd::{Nsqd, NsqdOptions};
use tokio::process::Command;

/// An in-process nsqd on `127.0.0.1`, ports chosen by the OS.
pub async fn start_nsqd() -> Nsqd {
    Nsqd::start(NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The `nsq` binary under test, killed if the test drops it.
pub fn nsq() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nsq"));
    cmd.kill_on_drop(true);
    cmd
}
