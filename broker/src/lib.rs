//! A wire-compatible NSQ broker, usable embedded (in-process) or through the `nsqd`,
//! `nsqlookupd`, `nsqadmin` and `nsq` binaries.
//!
//! The layout mirrors NSQ's own: [`nsqd`] is the message broker, [`lookupd`] the discovery
//! service, [`diskqueue`] the go-diskqueue compatible persistence, [`admin`] the web UI,
//! [`http_api`] the HTTP conventions the three daemons share.

pub mod admin;
pub mod cli_support;
pub mod diskqueue;
pub mod http_api;
pub mod lookupd;
pub mod metrics;
pub mod nsqd;
