//! A Kratos-style service framework for Rust.
//!
//! The pieces, one module each:
//! - [`app`]: the [`App`] that runs [`Server`]s with hooks, signal handling and a stop deadline;
//! - [`server`]: the [`Server`] trait every transport implements;
//! - [`broker`]: the [`Broker`] trait, [`Message`] (headers + body), subscription options and
//!   an in-memory broker for unit tests;
//! - [`codec`] and [`envelope`]: JSON/protobuf bodies and the header envelope that carries
//!   headers over brokers without headers (see `ENVELOPE.md`);
//! - [`provider`]: dependency injection with provider sets, resolved by type at build time;
//! - [`config`]: layered configuration (files + environment) with placeholders and watching;
//! - [`telemetry`]: tracing + OpenTelemetry set-up and W3C propagation;
//! - [`middleware`]: tower layers shared by every transport (tracing, recovery, metrics,
//!   timeout, selector);
//! - [`transport`]: the transport [`Context`] handlers see;
//! - [`grpc`]: a tonic server wrapped as a [`Server`];
//! - [`health`]: checks of other parts (e.g. NSQ consumers) reported by the gRPC health service;
//! - [`http_server`]: an axum router as a [`Server`], with `/healthz` and `/metrics`;
//! - [`subscriber`]: subscribers declared with `#[subscriber]` and events with
//!   `#[derive(Event)]`.

pub mod app;
pub mod broker;
pub mod codec;
pub mod config;
pub mod envelope;
pub mod grpc;
pub mod health;
pub mod http_server;
pub mod middleware;
pub mod provider;
pub mod server;
pub mod subscriber;
pub mod telemetry;
pub mod transport;

pub use app::{App, AppBuilder, AppError, AppInfo, StopHandle};
pub use broker::{
    Broker, BrokerError, BrokerExt, Delivery, Event, Handler, Headers, Message, PublishOptions,
    SubscribeOptions,
};
pub use codec::{Codec, CodecError, Decode, Encode, Json, Protobuf};
pub use provider::{Container, ProvideError, ProviderSet, Resolver};
pub use server::{Endpoint, Server};
pub use transport::{Context, Kind};

/// `#[subscriber(topic = "...", channel = "...", ...)]` on an async fn; see [`subscriber`](mod@subscriber).
pub use framework_macros::subscriber;

/// `#[derive(Event)]` with `#[event(topic = "...", codec = "json" | "protobuf")]`.
pub use framework_macros::Event;

/// The error type handlers, servers and hooks return: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
