//! NSQ transport: a complete NSQ client (producer, consumer, lookupd discovery) built on the
//! shared `nsq-wire` codec.
//!
//! * [`Config`]: go-nsq's options with go-nsq's names and defaults.
//! * [`backoff`], [`rdy`]: the consumer's flow-control decisions as pure logic.
//! * [`lookupd`]: discovery of nsqd through nsqlookupd's HTTP API.
//! * [`NsqBroker`], [`NsqServer`], [`NsqConfig`]: the framework integration (publish with
//!   the envelope and trace context; annotated subscribers with middleware, retries and
//!   dead-lettering); see `docs/nsq-framework.md`.

pub mod backoff;
mod broker;
mod compress;
pub mod config;
pub mod conn;
mod consumer;
mod duration;
pub mod error;
pub mod lookupd;
mod producer;
pub mod rdy;
pub mod server;
pub mod settings;
mod stream;
mod tls;

pub use backoff::BackoffStrategy;
pub use broker::NsqBroker;
pub use config::{Config, ConfigError};
pub use consumer::{
    Consumer, ConsumerBuilder, ConsumerStats, DrainReport, ExhaustedHook, Handler, HandlerError,
    Message,
};
pub use error::Error;
pub use nsq_wire::message::MessageId;
pub use producer::Producer;
pub use server::{NsqHealthCheck, NsqServer, ServeError, SubscriptionHealth};
pub use settings::{NsqConfig, OptionValue, SubscriberOverride};
