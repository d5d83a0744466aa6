//! Fuzz targets for the parsers that read untrusted bytes (see `docs/security.md`).
pub mod harness;
