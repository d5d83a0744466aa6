//! [`AppInfo`]: the running application's identity, reachable from hooks
//! ([`AppInfo::current`]), providers (`resolver.get::<AppInfo>()`), servers (passed to
//! `start`) and handlers (`Context::current()?.app()`).

use crate::server::Endpoint;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CURRENT: AppInfo;
}

/// Id, name, version, metadata and endpoints of an application. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppInfo {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: String,
    name: String,
    version: String,
    metadata: BTreeMap<String, String>,
    endpoints: RwLock<Vec<Endpoint>>,
}

impl AppInfo {
    /// An identity (the App builder makes one; tests of servers may too).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        version: impl Into<String>,
        metadata: BTreeMap<String, String>,
    ) -> Self {
        AppInfo {
            inner: Arc::new(Inner {
                id: id.into(),
                name: name.into(),
                version: version.into(),
                metadata,
                endpoints: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Instance id (unique per process unless set).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Service name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Service version.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// Free-form metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.inner.metadata
    }

    /// Endpoints of the started servers (empty before start).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.inner.endpoints.read().clone()
    }

    pub(crate) fn set_endpoints(&self, endpoints: Vec<Endpoint>) {
        *self.inner.endpoints.write() = endpoints;
    }

    /// The application whose `run` (or hook) the current task is in.
    pub fn current() -> Option<AppInfo> {
        CURRENT.try_with(Clone::clone).ok()
    }

    pub(crate) async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}
