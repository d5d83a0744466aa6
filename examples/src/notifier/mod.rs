//! The notifier: subscribers on `order.created`, declared with annotations (channels
//! `email` and `analytics`, so each gets every order), that record what they received;
//! `NotifierService` over gRPC lists it.
//!
//! - [`data`]: the record of received events;
//! - [`biz`]: what "sending a receipt" and "counting an order" mean;
//! - [`service`]: the gRPC API (`proto::shop::v1::NotifierService`);
//! - [`server`]: the annotated subscribers, the NSQ and gRPC servers, the App.

pub mod biz;
pub mod data;
pub mod server;
pub mod service;
