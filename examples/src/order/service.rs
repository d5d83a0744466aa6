//! The gRPC API: `shop.v1.OrderService` on the order use case.

use std::sync::Arc;

use proto::shop::v1::order_service_server::OrderService;
use proto::shop::v1::{
    CreateOrderReply, CreateOrderRequest, GetOrderRequest, Order as OrderMessage, OrderStatus,
    PayOrderRequest,
};
use tonic::{Request, Response, Status};

use super::biz::{Order, OrderError, OrderUsecase};

/// `OrderService` implementation.
pub struct OrderApi {
    orders: Arc<OrderUsecase>,
}

impl OrderApi {
    /// The API over `orders`.
    pub fn new(orders: Arc<OrderUsecase>) -> Self {
        OrderApi { orders }
    }
}

fn to_message(order: Order) -> OrderMessage {
    let status = if order.paid {
        OrderStatus::Paid
    } else {
        OrderStatus::Created
    };
    OrderMessage {
        id: order.id,
        customer: order.customer,
        amount_cents: order.amount_cents,
        status: status as i32,
        created_unix_ms: order.created_unix_ms,
    }
}

fn to_status(err: OrderError) -> Status {
    match err {
        OrderError::Invalid(reason) => Status::invalid_argument(reason),
        OrderError::NotFound(id) => Status::not_found(format!("order {id} not found")),
        OrderError::Storage(source) => Status::unavailable(source.to_string()),
    }
}

#[tonic::async_trait]
impl OrderService for OrderApi {
    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<CreateOrderReply>, Status> {
        let request = request.into_inner();
        let order = self
            .orders
            .create(&request.customer, request.amount_cents)
            .await
            .map_err(to_status)?;
        Ok(Response::new(CreateOrderReply {
            order: Some(to_message(order)),
            trace_id: crate::trace::current_trace_id().unwrap_or_default(),
        }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<OrderMessage>, Status> {
        let order = self
            .orders
            .get(&request.into_inner().id)
            .map_err(to_status)?;
        Ok(Response::new(to_message(order)))
    }

    async fn pay_order(
        &self,
        request: Request<PayOrderRequest>,
    ) -> Result<Response<OrderMessage>, Status> {
        let order = self
            .orders
            .pay(&request.into_inner().id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_message(order)))
    }
}
