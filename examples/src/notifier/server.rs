//! The server layer: subscribers declared by annotation, registered on an `NsqServer` in
//! one call each; the gRPC server; the App.

use framework::grpc::GrpcServer;
use framework::provider::ProviderSet;
use framework::subscriber::Inject;
use framework::{subscriber, App, AppError, Context, Delivery, Resolver};
use proto::shop::v1::notifier_service_server::NotifierServiceServer;
use transport_nsq::NsqServer;

use super::biz::{NotifierUsecase, NotifyError};
use super::data::ReceivedStore;
use super::service::NotifierApi;
use crate::conf::Bootstrap;
use crate::events::OrderCreated;

/// Sends the receipt for a new order. The topic comes from `OrderCreated`'s `#[event]`.
#[subscriber(channel = "email", max_attempts = 5, dead_letter = "order.created.dlq")]
pub async fn send_receipt(
    ctx: Context,
    order: OrderCreated,
    delivery: Delivery,
    notifier: Inject<NotifierUsecase>,
) -> Result<(), NotifyError> {
    notifier.on_order_created("email", &order, &ctx, delivery.attempts)
}

/// Counts a new order; a second channel of the same topic, so it gets every order too.
#[subscriber(channel = "analytics", concurrency = 4, max_in_flight = 16)]
pub async fn count_order(
    ctx: Context,
    order: OrderCreated,
    delivery: Delivery,
    notifier: Inject<NotifierUsecase>,
) -> Result<(), NotifyError> {
    notifier.on_order_created("analytics", &order, &ctx, delivery.attempts)
}

/// The data and biz providers.
pub fn providers() -> ProviderSet {
    ProviderSet::new()
        .value(ReceivedStore::default())
        .provide(|r: Resolver| async move {
            Ok::<_, framework::BoxError>(NotifierUsecase::new(r.get::<ReceivedStore>().await?))
        })
}

/// Builds the notifier's App from its configuration.
pub async fn app(conf: &Bootstrap) -> Result<App, AppError> {
    let grpc = conf.grpc.clone();
    let nsq = conf.nsq.clone();
    App::builder()
        .name("notifier")
        .version(env!("CARGO_PKG_VERSION"))
        .providers(providers())
        .server_with(move |p| {
            Ok(NsqServer::new(&nsq)
                .container(p)
                .subscribe(send_receipt)
                .subscribe(count_order))
        })
        .server_with(move |p| {
            let api = NotifierApi::new(p.get::<NotifierUsecase>()?);
            Ok(GrpcServer::new(grpc).add_service(NotifierServiceServer::new(api)))
        })
        .build()
        .await
}
