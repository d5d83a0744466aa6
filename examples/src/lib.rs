//! Example services, laid out like Kratos services: each has a `data` layer (storage and the
//! NSQ publisher, built by providers), a `biz` layer (use cases and domain rules), a
//! `service` layer (the gRPC API from `proto/`) and a `server` layer (gRPC server, NSQ
//! subscribers, the [`App`](framework::App)).
//!
//! - [`order`]: `OrderService` over gRPC; `CreateOrder` stores the order and publishes
//!   [`events::OrderCreated`] through `NsqBroker` from the data layer.
//! - [`notifier`]: annotated subscribers on `order.created` (channels `email` and
//!   `analytics`) that record what they received, exposed by `NotifierService` over gRPC.
//! - `src/bin/quickstart.rs`: both services, an embedded nsqd + nsqlookupd and a client in
//!   one process.

pub mod conf;
pub mod events;
pub mod notifier;
pub mod order;
pub mod trace;
