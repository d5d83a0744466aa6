//! nsq-wire
