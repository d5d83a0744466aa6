//! Attribute macros (`#[subscriber]`, `#[derive(Event)]`) for the framework.
