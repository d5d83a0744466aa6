//! The gRPC API: `shop.v1.NotifierService` lists what the subscribers received.

use std::sync::Arc;

use proto::shop::v1::notifier_service_server::NotifierService;
use proto::shop::v1::{ListReceivedReply, ListReceivedRequest, Received};
use tonic::{Request, Response, Status};

use super::biz::NotifierUsecase;

/// `NotifierService` implementation.
pub struct NotifierApi {
    notifier: Arc<NotifierUsecase>,
}

impl NotifierApi {
    /// The API over `notifier`.
    pub fn new(notifier: Arc<NotifierUsecase>) -> Self {
        NotifierApi { notifier }
    }
}

#[tonic::async_trait]
impl NotifierService for NotifierApi {
    async fn list_received(
        &self,
        request: Request<ListReceivedRequest>,
    ) -> Result<Response<ListReceivedReply>, Status> {
        let channel = request.into_inner().channel;
        let received = self
            .notifier
            .received(&channel)
            .into_iter()
            .map(|r| Received {
                channel: r.channel,
                order_id: r.order_id,
                trace_id: r.trace_id,
                attempts: r.attempts,
            })
            .collect();
        Ok(Response::new(ListReceivedReply { received }))
    }
}
