//! `#[derive(Event)]`: topic and codec from the annotation, publish without a topic string.

mod support;

use framework::broker::{handler_fn, Delivery, MemoryBroker};
use framework::{BrokerExt, Event, SubscribeOptions};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use support::broker::{connected, settle, subscribe};

#[derive(Event, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[event(topic = "order.created")]
struct OrderCreated {
    id: String,
    amount_cents: u64,
}

#[derive(Event, Clone, PartialEq, prost::Message)]
#[event(topic = "payment.settled", codec = "protobuf")]
struct PaymentSettled {
    #[prost(string, tag = "1")]
    order_id: String,
}

#[test]
fn topic_and_codec_come_from_the_annotation() {
    assert_eq!(OrderCreated::TOPIC, "order.created");
    assert_eq!(PaymentSettled::TOPIC, "payment.settled");
    let order = OrderCreated {
        id: "o-1".into(),
        amount_cents: 1250,
    };
    let message = order.to_message().unwrap();
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(OrderCreated::from_message(&message).unwrap(), order);
    let payment = PaymentSettled {
        order_id: "o-1".into(),
    }
    .to_message()
    .unwrap();
    assert_eq!(payment.content_type(), Some("application/x-protobuf"));
    assert_eq!(
        PaymentSettled::from_message(&payment).unwrap().order_id,
        "o-1"
    );
    assert!(OrderCreated::from_message(&payment).is_err());
}

#[tokio::test]
async fn publish_event_reaches_a_subscriber_of_its_topic() {
    let broker = connected().await;
    let received: Arc<Mutex<Vec<OrderCreated>>> = Arc::default();
    let sink = received.clone();
    let handler = handler_fn(move |d: Delivery| {
        let sink = sink.clone();
        async move {
            sink.lock().push(OrderCreated::from_message(&d.message)?);
            Ok(())
        }
    });
    let options = SubscribeOptions::new("email");
    subscribe(&broker, OrderCreated::TOPIC, options, handler).await;
    broker
        .publish_event(&OrderCreated {
            id: "o-9".into(),
            amount_cents: 5,
        })
        .await
        .unwrap();
    settle(&broker).await;
    assert_eq!(
        *received.lock(),
        vec![OrderCreated {
            id: "o-9".into(),
            amount_cents: 5
        }]
    );
}

#[tokio::test]
async fn broker_server_subscribes_typed_event_handlers_by_topic() {
    use framework::broker::BrokerServer;
    use framework::{AppInfo, Context, Server};
    let broker = MemoryBroker::new();
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = received.clone();
    let server = BrokerServer::new(Arc::new(broker.clone())).subscribe_event(
        SubscribeOptions::new("ledger"),
        move |payment: PaymentSettled, ctx: Context| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .push(format!("{} {}", payment.order_id, ctx.operation()));
                Ok(())
            }
        },
    );
    server
        .start(&AppInfo::new("i", "n", "v", Default::default()))
        .await
        .unwrap();
    broker
        .publish_event(&PaymentSettled {
            order_id: "o-2".into(),
        })
        .await
        .unwrap();
    settle(&broker).await;
    server
        .stop(tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(*received.lock(), vec!["o-2 payment.settled/ledger"]);
}
