//! Protobuf types and gRPC services of the example domain (`shop.v1`), generated at build
//! time by prost/tonic from `proto/shop/v1/*.proto` through protox, so building needs no
//! system `protoc`.
//!
//! ```
//! use proto::shop::v1::{CreateOrderRequest, OrderCreated};
//! use prost::Message;
//!
//! let event = OrderCreated { order_id: "o-1".into(), customer: "ada".into(), amount_cents: 1250, created_unix_ms: 0 };
//! let bytes = event.encode_to_vec();
//! assert_eq!(OrderCreated::decode(bytes.as_slice()).unwrap(), event);
//! let _ = CreateOrderRequest::default();
//! ```

/// The `shop` protobuf package.
pub mod shop {
    /// Version 1 of the shop API and events.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("shop.v1");
    }
}

#[cfg(test)]
mod tests {
    use super::shop::v1::{Order, OrderStatus};
    use prost::Message;

    #[test]
    fn order_round_trips_through_protobuf() {
        let order = Order {
            id: "o-42".into(),
            customer: "grace".into(),
            amount_cents: 990,
            status: OrderStatus::Paid as i32,
            created_unix_ms: 1_700_000_000_000,
        };
        let decoded = Order::decode(order.encode_to_vec().as_slice()).expect("valid protobuf");
        assert_eq!(decoded, order);
        assert_eq!(decoded.status(), OrderStatus::Paid);
    }
}
