//! Attribute macros that declare subscribers and events for the framework; use them through
//! the `framework` crate (`framework::subscriber`, `framework::Event`).
//!
//! - `#[subscriber(topic = "...", channel = "...", concurrency = N, max_in_flight = N,
//!   max_attempts = N, dead_letter = "...", codec = "json" | "protobuf" | "raw",
//!   auto_touch = bool)]` on an `async fn` turns it into a registrable subscriber value of the
//!   same name (see `framework::subscriber`).
//! - `#[derive(Event)]` with `#[event(topic = "...", codec = "json" | "protobuf")]` implements
//!   `framework::Event`, so `broker.publish_event(&event)` needs no topic string.
//!
//! Topic, channel and dead-letter names are checked against NSQ's rules at compile time.

mod event;
mod names;
mod options;
mod subscriber;

use proc_macro::TokenStream;

/// Declares an async function as a subscriber; see the crate docs.
#[proc_macro_attribute]
pub fn subscriber(attr: TokenStream, item: TokenStream) -> TokenStream {
    subscriber::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `framework::Event` for a type; the topic comes from `#[event(topic = "...")]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(item: TokenStream) -> TokenStream {
    event::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
