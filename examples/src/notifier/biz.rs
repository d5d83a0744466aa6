//! The notifier's use case: an order was created; send the receipt (email channel) and
//! count it (analytics channel). Here "sending" is recording, so the example stays
//! self-contained.

use std::sync::Arc;

use framework::Context;

use super::data::{Received, ReceivedStore};
use crate::events::OrderCreated;

/// Why handling an event failed (the message is then retried by NSQ).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The event is not usable.
    #[error("order event {0:?} has no customer")]
    NoCustomer(String),
}

/// The notifier use case.
pub struct NotifierUsecase {
    store: Arc<ReceivedStore>,
}

impl NotifierUsecase {
    /// A use case recording into `store`.
    pub fn new(store: Arc<ReceivedStore>) -> Self {
        NotifierUsecase { store }
    }

    /// Handles `event` on `channel`; the trace id comes from the message headers.
    pub fn on_order_created(
        &self,
        channel: &str,
        event: &OrderCreated,
        ctx: &Context,
        attempts: u16,
    ) -> Result<(), NotifyError> {
        if event.customer.is_empty() {
            return Err(NotifyError::NoCustomer(event.order_id.clone()));
        }
        let trace_id = ctx
            .headers()
            .get("traceparent")
            .and_then(crate::trace::trace_id_of)
            .unwrap_or_default();
        tracing::info!(channel, order = %event.order_id, %trace_id, "order event handled");
        self.store.add(Received {
            channel: channel.to_string(),
            order_id: event.order_id.clone(),
            trace_id,
            attempts: u32::from(attempts),
        });
        Ok(())
    }

    /// What `channel` received (every channel when empty).
    pub fn received(&self, channel: &str) -> Vec<Received> {
        self.store.list(channel)
    }
}
