//! [`Inject`]: constructors whose dependencies are their arguments (`Arc<A>, Arc<B>, ...`),
//! like Wire's provider functions. Declared dependencies let [`ProviderSet::check`]
//! validate the whole graph before any constructor runs.
//!
//! [`ProviderSet::check`]: super::ProviderSet::check

use super::Resolver;
use crate::BoxError;
use futures::future::BoxFuture;
use std::any::{type_name, TypeId};
use std::future::Future;
use std::sync::Arc;

/// A dependency: its type id and name.
pub type Dependency = (TypeId, &'static str);

/// An async function of its dependencies (`Arc<A>, Arc<B>, ...`, up to 8) returning
/// `Result<T, BoxError>`.
pub trait Inject<Args>: Send + Sync + 'static {
    /// The provided type.
    type Output: Send + Sync + 'static;

    /// The argument types, in order.
    fn dependencies() -> Vec<Dependency>;

    /// Resolves the arguments and calls the function.
    fn call(&self, resolver: Resolver) -> BoxFuture<'static, Result<Self::Output, BoxError>>;
}

macro_rules! impl_inject {
    ($($arg:ident),*) => {
        impl<F, Fut, T, $($arg,)*> Inject<($($arg,)*)> for F
        where
            F: Fn($(Arc<$arg>),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
            T: Send + Sync + 'static,
            $($arg: Send + Sync + 'static,)*
        {
            type Output = T;

            fn dependencies() -> Vec<Dependency> {
                vec![$((TypeId::of::<$arg>(), type_name::<$arg>())),*]
            }

            #[allow(non_snake_case, unused_variables)]
            fn call(&self, resolver: Resolver) -> BoxFuture<'static, Result<T, BoxError>> {
                let function = self.clone();
                Box::pin(async move {
                    $(let $arg = resolver.get::<$arg>().await?;)*
                    function($($arg),*).await
                })
            }
        }
    };
}

impl_inject!();
impl_inject!(A1);
impl_inject!(A1, A2);
impl_inject!(A1, A2, A3);
impl_inject!(A1, A2, A3, A4);
impl_inject!(A1, A2, A3, A4, A5);
impl_inject!(A1, A2, A3, A4, A5, A6);
impl_inject!(A1, A2, A3, A4, A5, A6, A7);
impl_inject!(A1, A2, A3, A4, A5, A6, A7, A8);
