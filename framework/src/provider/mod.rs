//! Providers: dependency injection in the style of Wire's `ProviderSet`.
//!
//! A [`ProviderSet`] holds constructors, each producing one type from others it asks the
//! [`Resolver`] for. [`ProviderSet::build`] resolves every provided type once, in
//! dependency order, giving a [`Container`] of shared (`Arc`) values. Constructors may be
//! async and may return a [`Cleanup`]; [`Container::cleanup`] runs cleanups in reverse
//! construction order (dependents before their dependencies). A missing provider or a
//! dependency cycle is a [`ProvideError`] naming the whole chain. Constructors registered
//! with [`provide_fn`](ProviderSet::provide_fn) take their dependencies as arguments
//! (`Arc<A>, Arc<B>, ...`), so [`ProviderSet::check`] validates the declared graph before
//! any constructor runs.
//!
//! ```
//! use framework::provider::{ProviderSet, Resolver, Cleanup};
//! use std::sync::Arc;
//!
//! struct Config { dsn: String }
//! struct Db { dsn: String }
//! struct OrderRepo { db: Arc<Db> }
//!
//! fn data_providers() -> ProviderSet {
//!     ProviderSet::new()
//!         .provide_with_cleanup(|r: Resolver| async move {
//!             let config = r.get::<Config>().await?;
//!             let db = Db { dsn: config.dsn.clone() };
//!             Ok((db, Cleanup::new(|| async { /* close the pool */ })))
//!         })
//!         // Dependencies as arguments: checked before anything is built.
//!         .provide_fn(|db: Arc<Db>| async move { Ok(OrderRepo { db }) })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), framework::BoxError> {
//! let container = ProviderSet::new()
//!     .value(Config { dsn: "postgres://localhost/orders".into() })
//!     .include(data_providers())
//!     .build()
//!     .await?;
//! let repo = container.get::<OrderRepo>()?;
//! assert_eq!(repo.db.dsn, "postgres://localhost/orders");
//! container.cleanup().await;
//! # Ok(()) }
//! ```

mod graph;
mod inject;

pub use inject::{Dependency, Inject};

use crate::BoxError;
use futures::future::BoxFuture;
use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OnceCell;

type Shared = Arc<dyn Any + Send + Sync>;
type Construct = Arc<dyn Fn(Resolver) -> BoxFuture<'static, Result<Built, BoxError>> + Send + Sync>;

/// Why providers could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ProvideError {
    /// A type was requested that no provider produces.
    #[error("no provider for {missing}, needed by {chain}")]
    Missing {
        /// The type nobody provides.
        missing: &'static str,
        /// Who asked for it, outermost first (`A -> B`), or `the caller`.
        chain: String,
    },
    /// Providers depend on each other in a loop.
    #[error("dependency cycle: {chain}")]
    Cycle {
        /// The loop, e.g. `A -> B -> A`.
        chain: String,
    },
    /// A constructor returned an error.
    #[error("provider for {type_name} failed (chain {chain}): {source}")]
    Failed {
        /// The type being built.
        type_name: &'static str,
        /// The chain that led to it.
        chain: String,
        /// The constructor's error.
        #[source]
        source: BoxError,
    },
    /// Two providers produce the same type.
    #[error("more than one provider for {0}")]
    Duplicate(&'static str),
}

/// Work to do at shutdown for a provided value (close pools, flush buffers).
pub struct Cleanup(Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>);

impl Cleanup {
    /// A cleanup from an async closure.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Cleanup(Box::new(move || Box::pin(f())))
    }
}

impl std::fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cleanup")
    }
}

struct Built {
    value: Shared,
    cleanup: Option<Cleanup>,
}

/// A [`Construct`] running an async `constructor`; `split` turns what it returns into the
/// value and its cleanup, if any.
fn construct<T, V, F, Fut>(constructor: F, split: fn(V) -> (T, Option<Cleanup>)) -> Construct
where
    T: Send + Sync + 'static,
    F: Fn(Resolver) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, BoxError>> + Send + 'static,
    V: 'static,
{
    Arc::new(move |resolver| {
        let future = constructor(resolver);
        Box::pin(async move {
            let (value, cleanup) = split(future.await?);
            Ok(Built {
                value: Arc::new(value),
                cleanup,
            })
        })
    })
}

struct Provider {
    type_id: TypeId,
    type_name: &'static str,
    /// Declared by [`Inject`] constructors; `None` for closures resolving as they go.
    dependencies: Option<Vec<Dependency>>,
    construct: Construct,
}

/// A set of constructors; combine sets with [`include`](ProviderSet::include).
#[derive(Default)]
pub struct ProviderSet {
    providers: Vec<Provider>,
}

impl ProviderSet {
    /// An empty set.
    pub fn new() -> Self {
        ProviderSet::default()
    }

    /// Registers an async constructor of `T`.
    pub fn provide<T, F, Fut>(self, constructor: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Resolver) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
    {
        self.register::<T>(None, construct(constructor, |value| (value, None)))
    }

    /// Registers an async constructor of `T` that also returns its cleanup.
    pub fn provide_with_cleanup<T, F, Fut>(self, constructor: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Resolver) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(T, Cleanup), BoxError>> + Send + 'static,
    {
        let construct = construct(constructor, |(value, cleanup)| (value, Some(cleanup)));
        self.register::<T>(None, construct)
    }

    /// Registers a ready value (configuration, clients built elsewhere).
    pub fn value<T: Send + Sync + 'static>(self, value: T) -> Self {
        let value: Shared = Arc::new(value);
        self.register::<T>(
            Some(Vec::new()),
            Arc::new(move |_| {
                let value = value.clone();
                Box::pin(async move {
                    Ok(Built {
                        value,
                        cleanup: None,
                    })
                })
            }),
        )
    }

    /// Adds every provider of `other` (Wire's `NewSet(otherSet, ...)`).
    pub fn include(mut self, other: ProviderSet) -> Self {
        self.providers.extend(other.providers);
        self
    }

    /// The names of the provided types, in registration order.
    pub fn provided(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.type_name).collect()
    }

    /// Registers an async function of its dependencies, e.g.
    /// `|db: Arc<Db>, config: Arc<Config>| async move { Ok(Repo::new(db, config)) }`.
    /// Its dependencies are known before it runs, so a missing one is reported by
    /// [`check`](ProviderSet::check) before anything is built.
    pub fn provide_fn<Args, C: Inject<Args>>(self, constructor: C) -> Self {
        let construct = construct(
            move |resolver| constructor.call(resolver),
            |value| (value, None),
        );
        self.register::<C::Output>(Some(C::dependencies()), construct)
    }

    fn register<T: 'static>(
        mut self,
        dependencies: Option<Vec<Dependency>>,
        construct: Construct,
    ) -> Self {
        self.providers.push(Provider {
            type_id: TypeId::of::<T>(),
            type_name: type_name::<T>(),
            dependencies,
            construct,
        });
        self
    }

    /// Checks the declared dependency graph without building anything: duplicates, and
    /// for [`provide_fn`](ProviderSet::provide_fn) constructors, missing providers and
    /// cycles. (`provide` closures are checked as they run, in [`build`](ProviderSet::build).)
    pub fn check(&self) -> Result<(), ProvideError> {
        let mut nodes = HashMap::new();
        let mut order = Vec::new();
        for provider in &self.providers {
            let node = graph::Node {
                name: provider.type_name,
                dependencies: provider.dependencies.clone(),
            };
            if nodes.insert(provider.type_id, node).is_some() {
                return Err(ProvideError::Duplicate(provider.type_name));
            }
            order.push(provider.type_id);
        }
        graph::check(&nodes, &order)
    }

    /// Builds every provided value. On error, cleanups of what was already built run
    /// before the error is returned.
    pub async fn build(self) -> Result<Container, ProvideError> {
        self.check()?;
        let mut providers = HashMap::new();
        let mut order = Vec::new();
        for provider in self.providers {
            if providers.contains_key(&provider.type_id) {
                return Err(ProvideError::Duplicate(provider.type_name));
            }
            order.push((provider.type_id, provider.type_name));
            providers.insert(provider.type_id, (provider, Arc::new(OnceCell::new())));
        }
        let registry = Arc::new(Registry {
            providers,
            cleanups: parking_lot::Mutex::new(Vec::new()),
        });
        let container = Container { registry };
        let root = container.resolver();
        for (type_id, type_name) in order {
            if let Err(err) = root.get_shared(type_id, type_name).await {
                container.cleanup().await;
                return Err(err);
            }
        }
        Ok(container)
    }
}

struct Registry {
    providers: HashMap<TypeId, (Provider, Arc<OnceCell<Shared>>)>,
    cleanups: parking_lot::Mutex<Vec<(&'static str, Cleanup)>>,
}

/// What constructors use to get their dependencies.
#[derive(Clone)]
pub struct Resolver {
    registry: Arc<Registry>,
    chain: Arc<Vec<(TypeId, &'static str)>>,
}

impl Resolver {
    /// The value of type `T`, building it (and its dependencies) if needed.
    pub async fn get<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, ProvideError> {
        let shared = self.get_shared(TypeId::of::<T>(), type_name::<T>()).await?;
        downcast(shared)
    }

    fn chain_names(&self) -> Vec<&'static str> {
        self.chain.iter().map(|(_, name)| *name).collect()
    }

    fn get_shared(
        &self,
        type_id: TypeId,
        type_name: &'static str,
    ) -> BoxFuture<'static, Result<Shared, ProvideError>> {
        let this = self.clone();
        Box::pin(async move {
            let mut names = this.chain_names();
            if this.chain.iter().any(|(id, _)| *id == type_id) {
                names.push(type_name);
                return Err(ProvideError::Cycle {
                    chain: names.join(" -> "),
                });
            }
            let Some((provider, cell)) = this.registry.providers.get(&type_id) else {
                return Err(ProvideError::Missing {
                    missing: type_name,
                    chain: describe_chain(&names),
                });
            };
            let mut chain = (*this.chain).clone();
            chain.push((type_id, type_name));
            names.push(type_name);
            let child = Resolver {
                registry: this.registry.clone(),
                chain: Arc::new(chain),
            };
            let value = cell
                .get_or_try_init(|| async {
                    let built = (provider.construct)(child)
                        .await
                        .map_err(|err| constructor_error(err, type_name, &names))?;
                    if let Some(cleanup) = built.cleanup {
                        this.registry.cleanups.lock().push((type_name, cleanup));
                    }
                    Ok::<_, ProvideError>(built.value)
                })
                .await?;
            Ok(value.clone())
        })
    }
}

fn describe_chain(names: &[&'static str]) -> String {
    if names.is_empty() {
        "the caller".to_string()
    } else {
        names.join(" -> ")
    }
}

/// A dependency's own resolution error passes through unchanged (it already names the
/// full chain); any other constructor error is wrapped.
fn constructor_error(
    err: BoxError,
    type_name: &'static str,
    names: &[&'static str],
) -> ProvideError {
    match err.downcast::<ProvideError>() {
        Ok(inner) => *inner,
        Err(source) => ProvideError::Failed {
            type_name,
            chain: describe_chain(names),
            source,
        },
    }
}

fn downcast<T: Send + Sync + 'static>(shared: Shared) -> Result<Arc<T>, ProvideError> {
    shared.downcast::<T>().map_err(|_| ProvideError::Failed {
        type_name: type_name::<T>(),
        chain: describe_chain(&[]),
        source: "provided value has another type".into(),
    })
}

/// The built values of a [`ProviderSet`].
#[derive(Clone)]
pub struct Container {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self
            .registry
            .providers
            .values()
            .map(|(p, _)| p.type_name)
            .collect();
        f.debug_struct("Container")
            .field("provides", &names)
            .finish()
    }
}

impl Container {
    /// An empty container.
    pub fn empty() -> Self {
        Container {
            registry: Arc::new(Registry {
                providers: HashMap::new(),
                cleanups: parking_lot::Mutex::new(Vec::new()),
            }),
        }
    }

    /// The value of type `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, ProvideError> {
        let missing = || ProvideError::Missing {
            missing: type_name::<T>(),
            chain: describe_chain(&[]),
        };
        let (_, cell) = self
            .registry
            .providers
            .get(&TypeId::of::<T>())
            .ok_or_else(missing)?;
        downcast(cell.get().cloned().ok_or_else(missing)?)
    }

    /// A resolver for code that resolves asynchronously.
    pub fn resolver(&self) -> Resolver {
        Resolver {
            registry: self.registry.clone(),
            chain: Arc::new(Vec::new()),
        }
    }

    /// Runs the cleanups, last built first; each runs at most once.
    pub async fn cleanup(&self) {
        let cleanups = std::mem::take(&mut *self.registry.cleanups.lock());
        for (type_name, cleanup) in cleanups.into_iter().rev() {
            tracing::debug!(provider = type_name, "running cleanup");
            (cleanup.0)().await;
        }
    }
}

#[cfg(test)]
mod tests;
