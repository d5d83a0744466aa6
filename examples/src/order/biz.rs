//! Orders as the business sees them: what an order is, what makes it valid, and the use
//! case the API calls. Storage is behind [`OrderRepo`], implemented in the data layer.

use std::sync::Arc;

use async_trait::async_trait;
use framework::BoxError;

/// An order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Unique id, e.g. `o-1a2b3c4d`.
    pub id: String,
    /// Who ordered.
    pub customer: String,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Whether it was paid.
    pub paid: bool,
    /// Creation time (Unix ms).
    pub created_unix_ms: i64,
}

/// What can go wrong in the use case.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The request breaks a rule.
    #[error("invalid order: {0}")]
    Invalid(String),
    /// No such order.
    #[error("order {0} not found")]
    NotFound(String),
    /// Storing or publishing failed.
    #[error("order storage: {0}")]
    Storage(#[source] BoxError),
}

/// Where orders live (implemented by [`super::data::OrderStore`]).
#[async_trait]
pub trait OrderRepo: Send + Sync {
    /// Stores a new order and announces it.
    async fn create(&self, order: &Order) -> Result<(), BoxError>;
    /// Marks an order paid and announces it; `None` if unknown.
    async fn mark_paid(&self, id: &str) -> Result<Option<Order>, BoxError>;
    /// The order with `id`.
    fn get(&self, id: &str) -> Option<Order>;
}

/// The order use case.
pub struct OrderUsecase {
    repo: Arc<dyn OrderRepo>,
}

impl OrderUsecase {
    /// A use case over `repo`.
    pub fn new(repo: Arc<dyn OrderRepo>) -> Self {
        OrderUsecase { repo }
    }

    /// Creates an order for `customer` of `amount_cents`.
    pub async fn create(&self, customer: &str, amount_cents: u64) -> Result<Order, OrderError> {
        let customer = customer.trim();
        if customer.is_empty() {
            return Err(OrderError::Invalid("customer is required".into()));
        }
        if amount_cents == 0 {
            return Err(OrderError::Invalid("amount_cents must be positive".into()));
        }
        let order = Order {
            id: format!("o-{:08x}", rand::random::<u32>()),
            customer: customer.to_string(),
            amount_cents,
            paid: false,
            created_unix_ms: now_unix_ms(),
        };
        self.repo
            .create(&order)
            .await
            .map_err(OrderError::Storage)?;
        tracing::info!(order = %order.id, customer = %order.customer, amount_cents, "order created");
        Ok(order)
    }

    /// The order with `id`.
    pub fn get(&self, id: &str) -> Result<Order, OrderError> {
        self.repo
            .get(id)
            .ok_or_else(|| OrderError::NotFound(id.to_string()))
    }

    /// Pays the order with `id`.
    pub async fn pay(&self, id: &str) -> Result<Order, OrderError> {
        self.repo
            .mark_paid(id)
            .await
            .map_err(OrderError::Storage)?
            .ok_or_else(|| OrderError::NotFound(id.to_string()))
    }
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
