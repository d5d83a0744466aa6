//! nsqd: topics, channels, the TCP protocol V2 and the HTTP API.

pub mod cli;
pub mod events;
pub mod lookup;
mod lookup_peer;
pub mod metadata;
mod options;

pub use options::{
    default_node_id, host_name, NsqdOptions, TlsRequired, DEFAULT_OUTPUT_BUFFER_SIZE, VERSION,
};
