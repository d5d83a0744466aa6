//! The server layer: the App with the data/biz providers and the gRPC server.

use framework::grpc::GrpcServer;
use framework::{App, AppError};
use proto::shop::v1::order_service_server::OrderServiceServer;

use super::biz::OrderUsecase;
use super::service::OrderApi;
use crate::conf::Bootstrap;

/// Builds the order service's App from its configuration.
pub async fn app(conf: &Bootstrap) -> Result<App, AppError> {
    let grpc = conf.grpc.clone();
    App::builder()
        .name("order-service")
        .version(env!("CARGO_PKG_VERSION"))
        .providers(framework::ProviderSet::new().value(conf.nsq.clone()))
        .providers(super::data::providers())
        .server_with(move |p| {
            let api = OrderApi::new(p.get::<OrderUsecase>()?);
            Ok(GrpcServer::new(grpc).add_service(OrderServiceServer::new(api)))
        })
        .build()
        .await
}
