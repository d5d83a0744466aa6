//! Helpers shared by the integration tests (`mod support;` in a test file).
//!
//! Every test file is its own crate and uses only part of this module.
#![allow(dead_code)]

pub mod broker;
pub mod grpc;
