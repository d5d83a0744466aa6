//! Provider resolution tests.
use super::*;
use parking_lot::Mutex;

struct Config(&'static str);
struct Db(Arc<Config>);
struct Repo(Arc<Db>);
struct Service(Arc<Repo>);

fn three_layers(log: Arc<Mutex<Vec<&'static str>>>) -> ProviderSet {
    let (l1, l2) = (log.clone(), log.clone());
    ProviderSet::new()
        .provide(|r: Resolver| async move { Ok(Service(r.get().await?)) })
        .provide_with_cleanup(move |r: Resolver| {
            let log = l1.clone();
            async move {
                let repo = Repo(r.get().await?);
                Ok((
                    repo,
                    Cleanup::new(move || async move { log.lock().push("repo") }),
                ))
            }
        })
        .provide_with_cleanup(move |r: Resolver| {
            let log = l2.clone();
            async move {
                tokio::task::yield_now().await;
                let db = Db(r.get().await?);
                Ok((
                    db,
                    Cleanup::new(move || async move { log.lock().push("db") }),
                ))
            }
        })
}

#[tokio::test]
async fn resolves_a_three_layer_graph_and_cleans_up_in_reverse() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let container = three_layers(log.clone())
        .value(Config("dsn"))
        .build()
        .await
        .unwrap();
    let service = container.get::<Service>().unwrap();
    assert_eq!((service.0).0 .0 .0, "dsn");
    // One instance per type, shared.
    assert!(Arc::ptr_eq(&service.0, &container.get::<Repo>().unwrap()));
    container.cleanup().await;
    container.cleanup().await;
    assert_eq!(*log.lock(), vec!["repo", "db"]);
}

#[tokio::test]
async fn missing_provider_names_the_chain() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let err = three_layers(log.clone()).build().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ProvideError::Missing { .. }), "{message}");
    assert!(
        message.contains("no provider for framework::provider::tests::Config"),
        "{message}"
    );
    assert!(
        message.contains(
            "Service -> framework::provider::tests::Repo -> framework::provider::tests::Db"
        ),
        "{message}"
    );
    // Nothing was fully built, so nothing to clean up.
    assert!(log.lock().is_empty());
}

struct A;
struct B;

#[tokio::test]
async fn cycle_is_reported() {
    let err = ProviderSet::new()
        .provide(|r: Resolver| async move {
            r.get::<B>().await?;
            Ok(A)
        })
        .provide(|r: Resolver| async move {
            r.get::<A>().await?;
            Ok(B)
        })
        .build()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("dependency cycle: "), "{message}");
    assert_eq!(
        message,
        "dependency cycle: framework::provider::tests::A -> framework::provider::tests::B -> framework::provider::tests::A"
    );
}

#[tokio::test]
async fn failing_constructor_cleans_up_what_was_built() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    struct First;
    struct Second;
    let err = ProviderSet::new()
        .provide_with_cleanup(move |_r: Resolver| {
            let log = l.clone();
            async move {
                Ok((
                    First,
                    Cleanup::new(move || async move { log.lock().push("first") }),
                ))
            }
        })
        .provide(|_r: Resolver| async move { Err::<Second, BoxError>("db down".into()) })
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("db down"), "{err}");
    assert_eq!(*log.lock(), vec!["first"]);
}

#[tokio::test]
async fn duplicate_provider_is_an_error() {
    let err = ProviderSet::new()
        .value(1u32)
        .value(2u32)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ProvideError::Duplicate("u32")));
}

struct Clock(u64);
struct Cache {
    clock: Arc<Clock>,
    db: Arc<Db>,
}

#[tokio::test]
async fn provide_fn_injects_arguments_by_type() {
    let container = ProviderSet::new()
        .provide_fn(|clock: Arc<Clock>, db: Arc<Db>| async move { Ok(Cache { clock, db }) })
        .provide_fn(|config: Arc<Config>| async move { Ok(Db(config)) })
        .provide_fn(|| async { Ok(Clock(7)) })
        .value(Config("dsn"))
        .build()
        .await
        .unwrap();
    let cache = container.get::<Cache>().unwrap();
    assert_eq!(cache.clock.0, 7);
    assert_eq!(cache.db.0 .0, "dsn");
}

#[tokio::test]
async fn declared_graph_is_checked_before_anything_is_built() {
    let built = Arc::new(Mutex::new(Vec::<&str>::new()));
    let log = built.clone();
    let set = ProviderSet::new()
        .provide_fn(move |db: Arc<Db>| {
            let log = log.clone();
            async move {
                log.lock().push("repo");
                Ok(Repo(db))
            }
        })
        .provide_fn(|config: Arc<Config>| async move { Ok(Db(config)) });
    let err = set.check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "no provider for framework::provider::tests::Config, needed by \
         framework::provider::tests::Repo -> framework::provider::tests::Db"
    );
    assert!(set.build().await.is_err());
    assert!(
        built.lock().is_empty(),
        "a constructor ran despite the missing provider"
    );
}

#[test]
fn declared_cycles_are_found_without_building() {
    let err = ProviderSet::new()
        .provide_fn(|_b: Arc<B>| async { Ok(A) })
        .provide_fn(|_a: Arc<A>| async { Ok(B) })
        .check()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dependency cycle: framework::provider::tests::A -> framework::provider::tests::B -> framework::provider::tests::A"
    );
}
