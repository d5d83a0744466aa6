//! The transport context: which transport delivered a request (`kind`), what operation it
//! is (`/pkg.Service/Method` for gRPC, `topic/channel` for a subscriber) and its headers.
//!
//! Transports build a [`Context`] per request and run the handler inside
//! [`Context::scope`], so handler code (and middleware) can read it with
//! [`Context::current`] without threading it through every signature.

use crate::app::AppInfo;
use crate::broker::Headers;
use std::fmt;
use std::future::Future;

tokio::task_local! {
    static CURRENT: Context;
}

/// The kind of transport that delivered a request, e.g. `grpc`, `nsq`, `memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind(&'static str);

impl Kind {
    /// gRPC over HTTP/2 (the tonic server).
    pub const GRPC: Kind = Kind("grpc");
    /// Plain HTTP.
    pub const HTTP: Kind = Kind("http");
    /// The in-memory broker.
    pub const MEMORY: Kind = Kind("memory");
    /// NSQ (implemented by `transport-nsq`).
    pub const NSQ: Kind = Kind("nsq");

    /// A kind for a transport this crate does not know.
    pub const fn new(name: &'static str) -> Self {
        Kind(name)
    }

    /// The kind's name as used in span attributes and metric labels.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Whether requests of this kind come from a message broker (consumer spans) rather
    /// than a request/response server (server spans).
    pub fn is_broker(&self) -> bool {
        !matches!(self.0, "grpc" | "http")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What a handler knows about the request it is serving.
///
/// ```
/// use framework::{Context, Kind, Headers};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = Context::new(Kind::MEMORY, "orders/email", Headers::new());
/// ctx.scope(async {
///     let current = Context::current().unwrap();
///     assert_eq!(current.operation(), "orders/email");
/// }).await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    kind: Kind,
    operation: String,
    headers: Headers,
    app: Option<AppInfo>,
}

impl Context {
    /// A context for one request.
    pub fn new(kind: Kind, operation: impl Into<String>, headers: Headers) -> Self {
        Context {
            kind,
            operation: operation.into(),
            headers,
            app: None,
        }
    }

    /// Attaches the running application's identity.
    pub fn with_app(mut self, app: Option<AppInfo>) -> Self {
        self.app = app;
        self
    }

    /// The transport kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The operation: `/pkg.Service/Method` for gRPC, `topic/channel` for subscribers.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The request's headers (gRPC metadata or message headers), keys lower-case.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The application serving the request, when the transport was started by an `App`.
    pub fn app(&self) -> Option<&AppInfo> {
        self.app.as_ref()
    }

    /// The context of the request the current task is serving, if any.
    pub fn current() -> Option<Context> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `fut` with this context as [`Context::current`].
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

/// A request type that carries a transport [`Context`]; the shared middleware reads it.
pub trait Transported {
    /// The request's context, if the transport attached one.
    fn transport_context(&self) -> Option<&Context>;
}

impl<B> Transported for http::Request<B> {
    fn transport_context(&self) -> Option<&Context> {
        self.extensions().get::<Context>()
    }
}

/// A response type whose value may still mean failure (e.g. a gRPC status in headers).
pub trait Outcome {
    /// Whether this response reports a failure.
    fn is_failure(&self) -> bool {
        false
    }
}

impl Outcome for () {}

impl<B> Outcome for http::Response<B> {
    fn is_failure(&self) -> bool {
        let grpc_failed = self
            .headers()
            .get("grpc-status")
            .is_some_and(|status| status.as_bytes() != b"0");
        grpc_failed || self.status().is_server_error()
    }
}
