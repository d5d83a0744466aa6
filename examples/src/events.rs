//! The events the services exchange over NSQ. The topic is part of the type, so publishers
//! write `broker.publish_event(&event)` and subscribers take the type as a parameter.

use framework::Event;
use serde::{Deserialize, Serialize};

/// Published on `order.created` when an order is stored.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[event(topic = "order.created")]
pub struct OrderCreated {
    /// The order id.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// The amount in cents.
    pub amount_cents: u64,
    /// When the order was created (Unix ms).
    pub created_unix_ms: i64,
}

/// Published on `order.paid` when an order is paid.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[event(topic = "order.paid")]
pub struct OrderPaid {
    /// The order id.
    pub order_id: String,
    /// The amount in cents.
    pub amount_cents: u64,
}
