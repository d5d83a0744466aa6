//! [`AppBuilder`]: identity, providers, servers, hooks, signals and the stop deadline.

use super::signal::Signal;
use super::{App, AppError, AppInfo, HookStage, Hooks, StopHandle};
use crate::provider::{Container, ProviderSet};
use crate::server::Server;
use crate::BoxError;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

type ServerFactory = Box<dyn FnOnce(&Container) -> Result<Arc<dyn Server>, BoxError> + Send>;

/// Builds an [`App`]; see [`App::builder`].
pub struct AppBuilder {
    id: Option<String>,
    name: String,
    version: String,
    metadata: BTreeMap<String, String>,
    providers: ProviderSet,
    servers: Vec<ServerFactory>,
    hooks: Hooks,
    signals: Vec<Signal>,
    stop_timeout: Duration,
    stop: StopHandle,
}

impl Default for AppBuilder {
    fn default() -> Self {
        AppBuilder {
            id: None,
            name: String::new(),
            version: String::new(),
            metadata: BTreeMap::new(),
            providers: ProviderSet::new(),
            servers: Vec::new(),
            hooks: Hooks::default(),
            signals: Signal::DEFAULT.to_vec(),
            stop_timeout: Duration::from_secs(10),
            stop: StopHandle::new(),
        }
    }
}

impl AppBuilder {
    /// Instance id (default: random).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Service name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Service version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds providers; everything is resolved in [`build`](AppBuilder::build).
    pub fn providers(mut self, set: ProviderSet) -> Self {
        self.providers = self.providers.include(set);
        self
    }

    /// Adds a server.
    pub fn server<S: Server>(self, server: S) -> Self {
        self.shared_server(Arc::new(server))
    }

    /// Adds a server the caller keeps a handle to.
    pub fn shared_server(mut self, server: Arc<dyn Server>) -> Self {
        self.servers.push(Box::new(move |_| Ok(server)));
        self
    }

    /// Adds a server built from provided values once providers are resolved.
    pub fn server_with<S, F>(mut self, factory: F) -> Self
    where
        S: Server,
        F: FnOnce(&Container) -> Result<S, BoxError> + Send + 'static,
    {
        self.servers.push(Box::new(move |container| {
            Ok(Arc::new(factory(container)?) as Arc<dyn Server>)
        }));
        self
    }

    /// Runs before servers start; an error aborts `run`.
    pub fn before_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(AppInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.hooks.add(HookStage::BeforeStart, boxed(hook));
        self
    }

    /// Runs after every server started; an error stops the App.
    pub fn after_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(AppInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.hooks.add(HookStage::AfterStart, boxed(hook));
        self
    }

    /// Runs when stopping, before servers stop (within the stop deadline).
    pub fn before_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(AppInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.hooks.add(HookStage::BeforeStop, boxed(hook));
        self
    }

    /// Runs after servers stopped, before provider cleanups.
    pub fn after_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(AppInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.hooks.add(HookStage::AfterStop, boxed(hook));
        self
    }

    /// The signals that stop the App (default SIGINT, SIGTERM, SIGQUIT); empty disables
    /// signal handling.
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.signals = signals.into_iter().collect();
        self
    }

    /// How long stopping may take (hooks before stop plus servers); default 10 s.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// The handle that will stop the built App (usable in hooks registered on this builder).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Resolves providers (an [`AppInfo`] is provided too) and builds the servers.
    pub async fn build(self) -> Result<App, AppError> {
        let id = self.id.unwrap_or_else(crate::broker::new_message_id);
        let info = AppInfo::new(id, self.name, self.version, self.metadata);
        let container = self
            .providers
            .value(info.clone())
            .build()
            .await
            .map_err(AppError::Provide)?;
        let mut servers = Vec::with_capacity(self.servers.len());
        for factory in self.servers {
            match factory(&container) {
                Ok(server) => servers.push(server),
                Err(source) => {
                    container.cleanup().await;
                    return Err(AppError::ServerBuild(source));
                }
            }
        }
        Ok(App {
            info,
            servers,
            container,
            hooks: self.hooks,
            signals: self.signals,
            stop_timeout: self.stop_timeout,
            stop: self.stop,
        })
    }
}

fn boxed<F, Fut>(hook: F) -> super::Hook
where
    F: Fn(AppInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Box::new(move |info| -> BoxFuture<'static, Result<(), BoxError>> { Box::pin(hook(info)) })
}
