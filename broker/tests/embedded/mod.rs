//! Loopback options and bounded starters for an embedded nsqd and nsqlookupd (ports chosen by
//! the OS), shared by the support modules of `broker/tests` and `broker/tools/tests`.
#![allow(dead_code)]

use std::time::Duration;

use broker::admin::{Admin, AdminOptions};
use broker::lookupd::{Lookupd, LookupdOptions};
use broker::nsqd::{Nsqd, NsqdOptions};

/// Upper bound for starting or stopping an embedded server.
const START_WAIT: Duration = Duration::from_secs(20);

/// nsqd options with TCP and HTTP on `127.0.0.1:0`, everything else default.
pub fn nsqd_opts() -> NsqdOptions {
    NsqdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..NsqdOptions::default()
    }
}

/// [`nsqd_opts`] announcing `127.0.0.1` to the given lookupds.
pub fn nsqd_opts_for(lookupds: &[&Lookupd]) -> NsqdOptions {
    NsqdOptions {
        broadcast_address: "127.0.0.1".into(),
        lookupd_tcp_address: lookupds.iter().map(|l| l.tcp_addr().to_string()).collect(),
        ..nsqd_opts()
    }
}

/// lookupd options with TCP and HTTP on `127.0.0.1:0`, broadcasting `127.0.0.1`.
pub fn lookupd_opts() -> LookupdOptions {
    LookupdOptions {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..LookupdOptions::default()
    }
}

/// nsqadmin options with HTTP on `127.0.0.1:0` (no upstream yet).
pub fn admin_opts() -> AdminOptions {
    AdminOptions {
        http_address: "127.0.0.1:0".parse().unwrap(),
        ..AdminOptions::default()
    }
}

/// Starts nsqadmin, failing the test if that takes longer than [`START_WAIT`].
pub async fn launch_admin(opts: AdminOptions) -> Admin {
    tokio::time::timeout(START_WAIT, Admin::start(opts))
        .await
        .expect("nsqadmin start timed out")
        .expect("nsqadmin start")
}

/// A lookupd on loopback and an nsqd registered with it.
pub async fn launch_lookupd_and_nsqd() -> (Lookupd, Nsqd) {
    let lookupd = launch_loopback_lookupd().await;
    let nsqd = launch_nsqd(nsqd_opts_for(&[&lookupd])).await;
    (lookupd, nsqd)
}

/// Starts an nsqd, failing the test if that takes longer than [`START_WAIT`].
pub async fn launch_nsqd(opts: NsqdOptions) -> Nsqd {
    tokio::time::timeout(START_WAIT, Nsqd::start(opts))
        .await
        .expect("nsqd start timed out")
        .expect("nsqd start")
}

/// Starts a lookupd, failing the test if that takes longer than [`START_WAIT`].
pub async fn launch_lookupd(opts: LookupdOptions) -> Lookupd {
    tokio::time::timeout(START_WAIT, Lookupd::start(opts))
        .await
        .expect("lookupd start timed out")
        .expect("lookupd start")
}

/// A lookupd on loopback port 0.
pub async fn launch_loopback_lookupd() -> Lookupd {
    launch_lookupd(lookupd_opts()).await
}

/// A lookupd again on the addresses of one that was shut down.
pub async fn relaunch_lookupd(old: (std::net::SocketAddr, std::net::SocketAddr)) -> Lookupd {
    let (tcp_address, http_address) = old;
    launch_lookupd(LookupdOptions {
        tcp_address,
        http_address,
        ..lookupd_opts()
    })
    .await
}

/// Shuts an nsqd down, failing the test if that takes longer than [`START_WAIT`].
pub async fn shutdown_nsqd(nsqd: Nsqd) {
    tokio::time::timeout(START_WAIT, nsqd.shutdown())
        .await
        .expect("nsqd shutdown timed out");
}
