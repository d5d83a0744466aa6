//! The shared tower middleware on broker deliveries: recovery, timeout, metrics, selector.

use framework::broker::{handler_fn, Delivery, HandlerStack};
use framework::middleware::{
    Elapsed, Metrics, MetricsLayer, Panicked, RecoveryLayer, Selector, TimeoutLayer,
};
use framework::{BoxError, Kind, Message};
use std::time::Duration;
use tower::ServiceExt;

fn delivery(topic: &str, body: &'static str) -> Delivery {
    Delivery::new(Kind::NSQ, topic, "c", Message::new(body), 1)
}

fn behaving_handler() -> framework::Handler {
    handler_fn(|d: Delivery| async move {
        match &d.message.body[..] {
            b"panic" => panic!("handler blew up"),
            b"slow" => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(())
            }
            b"fail" => Err::<(), BoxError>("failed".into()),
            _ => Ok(()),
        }
    })
}

#[tokio::test]
async fn recovery_turns_a_panic_into_an_error_and_keeps_serving() {
    let handler = HandlerStack::new()
        .layer(RecoveryLayer::new())
        .apply(behaving_handler());
    let err = handler
        .clone()
        .oneshot(delivery("orders", "panic"))
        .await
        .unwrap_err();
    let panicked = err.downcast_ref::<Panicked>().expect("a Panicked error");
    assert_eq!(panicked.operation, "orders/c");
    assert_eq!(panicked.message, "handler blew up");
    // The same service keeps working.
    handler
        .clone()
        .oneshot(delivery("orders", "ok"))
        .await
        .unwrap();
}

#[tokio::test]
async fn timeout_fails_slow_handlers() {
    let handler = HandlerStack::new()
        .layer(TimeoutLayer::new(Duration::from_millis(20)))
        .apply(behaving_handler());
    let err = handler
        .oneshot(delivery("orders", "slow"))
        .await
        .unwrap_err();
    let elapsed = err.downcast_ref::<Elapsed>().expect("an Elapsed error");
    assert_eq!(elapsed.after, Duration::from_millis(20));
}

#[tokio::test]
async fn metrics_count_requests_errors_and_latency() {
    let metrics = Metrics::new();
    let handler = HandlerStack::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(RecoveryLayer::new())
        .apply(behaving_handler());
    for body in ["ok", "fail", "panic", "ok"] {
        let _ = handler.clone().oneshot(delivery("orders", body)).await;
    }
    assert_eq!(metrics.requests("nsq", "orders/c"), 4);
    assert_eq!(metrics.errors("nsq", "orders/c"), 2);
    assert_eq!(metrics.in_flight("nsq", "orders/c"), 0);
    let text = metrics.encode();
    assert!(
        text.contains("framework_requests_total{kind=\"nsq\",operation=\"orders/c\"} 4"),
        "{text}"
    );
    assert!(
        text.contains(
            "framework_request_duration_seconds_count{kind=\"nsq\",operation=\"orders/c\"} 4"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn selector_applies_a_layer_only_to_matching_operations() {
    let handler = HandlerStack::new()
        .layer(
            Selector::prefix("reports", TimeoutLayer::new(Duration::from_millis(20)))
                .or_prefix("billing."),
        )
        .apply(behaving_handler());
    let selected = handler
        .clone()
        .oneshot(delivery("reports.daily", "slow"))
        .await;
    assert!(selected.unwrap_err().is::<Elapsed>());
    let also_selected = handler
        .clone()
        .oneshot(delivery("billing.run", "slow"))
        .await;
    assert!(also_selected.is_err());
    // Not selected: no timeout, the slow handler completes.
    handler
        .clone()
        .oneshot(delivery("orders", "slow"))
        .await
        .unwrap();
}
