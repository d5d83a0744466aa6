//! What every `nsq` tool test needs: an embedded nsqd on loopback port 0 and the real `nsq`
//! binary as a child process that dies with the test.

#![allow(dead_code)]

use std::time::Duration;

use broker::nsqd::Nsqd;
use tokio::process::Command;

// The broker's own test helpers for starting embedded servers on loopback.
#[path = "../../../tests/embedded/mod.rs"]
mod embedded;
#[allow(unused_imports)]
pub use embedded::*;

/// An in-process nsqd on `127.0.0.1`, ports chosen by the OS.
pub async fn start_nsqd() -> Nsqd {
    launch_nsqd(nsqd_opts()).await
}

/// The `nsq` binary under test, killed if the test drops it.
pub fn nsq() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nsq"));
    cmd.kill_on_drop(true);
    cmd
}

/// Runs `nsq <tool> <args>` to the end (at most `wait`); returns its stdout, failing the test
/// on a non-zero exit.
pub async fn run_ok(tool: &str, args: &[&str], wait: Duration) -> String {
    let out = tokio::time::timeout(wait, nsq().arg(tool).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("nsq {tool} did not finish"))
        .unwrap();
    assert!(
        out.status.success(),
        "nsq {tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
