//! A Kratos-style service framework for Rust: an `App` that runs servers with a clean
//! lifecycle and graceful shutdown, plus brokers, providers, configuration, telemetry and
//! middleware. Built out by the framework issue.
