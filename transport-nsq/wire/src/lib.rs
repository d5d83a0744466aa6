//! nsq-wire
pub mod lookup;
pub mod names;
