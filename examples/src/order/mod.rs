//! The order service: `OrderService` over gRPC; creating an order stores it and publishes
//! `OrderCreated` on NSQ from the data layer.
//!
//! - [`data`]: the order store and the event publisher (providers);
//! - [`biz`]: the order use case and its rules;
//! - [`service`]: the gRPC API (`proto::shop::v1::OrderService`);
//! - [`server`]: the App: providers, gRPC server.

pub mod biz;
pub mod data;
pub mod server;
pub mod service;
