//! Interop: pynsq's Writer and Reader (real third-party client, python) against our nsqd.
//! Skips with a notice when `NSQ_INTEROP_PYTHON` is unset; fails when it is set but broken.

mod interop;

use interop::scenarios::{self, Client};

#[tokio::test]
async fn pynsq_writer_pub_mpub_dpub_reach_pynsq_reader_byte_exact() {
    let Some(pynsq) = Client::pynsq() else { return };
    scenarios::publish_single_multi_deferred(&pynsq, "py").await;
}

#[tokio::test]
async fn pynsq_reader_requeue_redelivers_with_attempts_incremented() {
    let Some(pynsq) = Client::pynsq() else { return };
    scenarios::requeue_redelivers(&pynsq, "pyreq").await;
}

#[tokio::test]
async fn pynsq_reader_touch_keeps_message_past_its_timeout() {
    let Some(pynsq) = Client::pynsq() else { return };
    scenarios::touch_keeps_message(&pynsq, "pytouch").await;
}
