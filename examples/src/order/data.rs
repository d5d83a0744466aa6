//! The data layer: orders in memory, and their events published through the broker
//! (`NsqBroker` in production, any [`Broker`] in tests) with the trace context riding along.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use framework::provider::ProviderSet;
use framework::{BoxError, Broker, BrokerExt, Resolver};
use parking_lot::RwLock;
use transport_nsq::NsqBroker;

use super::biz::{Order, OrderRepo, OrderUsecase};
use crate::events::{OrderCreated, OrderPaid};

/// Orders in memory; every change is announced on NSQ.
pub struct OrderStore {
    orders: RwLock<HashMap<String, Order>>,
    events: Arc<dyn Broker>,
}

impl OrderStore {
    /// A store publishing through `events`.
    pub fn new(events: Arc<dyn Broker>) -> Self {
        OrderStore {
            orders: RwLock::new(HashMap::new()),
            events,
        }
    }
}

#[async_trait]
impl OrderRepo for OrderStore {
    async fn create(&self, order: &Order) -> Result<(), BoxError> {
        self.orders.write().insert(order.id.clone(), order.clone());
        let event = OrderCreated {
            order_id: order.id.clone(),
            customer: order.customer.clone(),
            amount_cents: order.amount_cents,
            created_unix_ms: order.created_unix_ms,
        };
        if let Err(err) = self.events.publish_event(&event).await {
            // Not announced means not created: keep store and events consistent.
            self.orders.write().remove(&order.id);
            return Err(Box::new(err));
        }
        Ok(())
    }

    async fn mark_paid(&self, id: &str) -> Result<Option<Order>, BoxError> {
        let paid = {
            let mut orders = self.orders.write();
            let Some(order) = orders.get_mut(id) else {
                return Ok(None);
            };
            order.paid = true;
            order.clone()
        };
        let event = OrderPaid {
            order_id: paid.id.clone(),
            amount_cents: paid.amount_cents,
        };
        self.events.publish_event(&event).await?;
        Ok(Some(paid))
    }

    fn get(&self, id: &str) -> Option<Order> {
        self.orders.read().get(id).cloned()
    }
}

/// The data and biz providers (like Wire's `ProviderSet`): a connected `NsqBroker` (from
/// the provided `NsqConfig`), the store on top of it, and the use case on the store.
pub fn providers() -> ProviderSet {
    NsqBroker::providers()
        .provide(|r: Resolver| async move {
            let broker: Arc<dyn Broker> = r.get::<NsqBroker>().await?;
            Ok(OrderStore::new(broker))
        })
        .provide(|r: Resolver| async move {
            let repo: Arc<dyn OrderRepo> = r.get::<OrderStore>().await?;
            Ok::<_, BoxError>(OrderUsecase::new(repo))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use framework::broker::{handler_fn, Delivery, MemoryBroker};
    use framework::SubscribeOptions;

    #[tokio::test]
    async fn creating_an_order_publishes_order_created() {
        let broker = MemoryBroker::new();
        broker.connect().await.unwrap();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = seen.clone();
        broker
            .subscribe(
                "order.created",
                SubscribeOptions::new("test"),
                handler_fn(move |d: Delivery| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().push(d.message.decode_json::<OrderCreated>()?);
                        Ok(())
                    }
                }),
            )
            .await
            .unwrap();
        let usecase = OrderUsecase::new(Arc::new(OrderStore::new(Arc::new(broker.clone()))));
        let order = usecase.create("ada", 1250).await.unwrap();
        broker.wait_idle().await;
        assert_eq!(seen.lock()[0].order_id, order.id);
        assert_eq!(usecase.get(&order.id).unwrap().amount_cents, 1250);
        assert!(usecase.create("", 5).await.is_err());
        assert!(usecase.pay(&order.id).await.unwrap().paid);
    }
}
