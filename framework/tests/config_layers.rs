//! Configuration: file layering, env override, placeholders, typed scan, watching.

use framework::config::{Config, ConfigError, Vars};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::timeout;

#[derive(Debug, Deserialize, PartialEq)]
struct Bootstrap {
    server: Server,
    data: Data,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Server {
    address: String,
    workers: u32,
    #[serde(with = "framework::config::duration")]
    timeout: Duration,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Data {
    dsn: String,
    max_in_flight: u32,
    tags: Vec<String>,
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    Vars::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn later_layers_override_earlier_ones_and_env_overrides_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        &dir,
        "base.toml",
        r#"
[server]
address = "${BIND:0.0.0.0:9000}"
workers = 2
timeout = "1s"

[data]
dsn = "postgres://${DB_HOST:localhost}/orders"
max_in_flight = 1
tags = ["a", "b"]
"#,
    );
    let overlay = write(
        &dir,
        "prod.yaml",
        "server:\n  workers: 8\ndata:\n  max_in_flight: 10\n",
    );
    let last = write(&dir, "last.json", r#"{"server": {"timeout": "250ms"}}"#);
    let conf: Bootstrap = Config::builder()
        .file(&base)
        .file(&overlay)
        .optional_file(dir.path().join("absent.toml"))
        .file(&last)
        .env_prefix("ORDER")
        .vars(vars(&[
            ("DB_HOST", "db.internal"),
            ("ORDER_DATA__MAX_IN_FLIGHT", "50"),
            ("OTHER_SERVER__WORKERS", "99"),
        ]))
        .scan()
        .unwrap();
    assert_eq!(
        conf,
        Bootstrap {
            server: Server {
                address: "0.0.0.0:9000".into(),
                workers: 8,
                timeout: Duration::from_millis(250),
            },
            data: Data {
                dsn: "postgres://db.internal/orders".into(),
                max_in_flight: 50,
                tags: vec!["a".into(), "b".into()],
            },
        }
    );
}

#[test]
fn values_can_be_read_by_key_and_defaults_sit_below_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "c.toml", "[nsq]\nlookupd = [\"127.0.0.1:4161\"]\n");
    let config = Config::load(&path)
        .default_value("nsq.max_attempts", "5")
        .default_value("nsq.lookupd", "ignored")
        .vars(vars(&[]))
        .build()
        .unwrap();
    assert_eq!(config.get::<u16>("nsq.max_attempts").unwrap(), 5);
    assert_eq!(
        config.get::<Vec<String>>("nsq.lookupd").unwrap(),
        vec!["127.0.0.1:4161"]
    );
}

#[test]
fn errors_name_the_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Config::load(dir.path().join("nope.toml"))
        .build()
        .unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
    let ini = write(&dir, "c.ini", "a=1");
    assert!(matches!(
        Config::load(&ini).build(),
        Err(ConfigError::UnknownFormat(_))
    ));
    let unset = write(&dir, "u.toml", "a = \"${NOT_SET_ANYWHERE}\"");
    let err = Config::load(&unset).vars(vars(&[])).build().unwrap_err();
    assert!(
        err.to_string().contains("NOT_SET_ANYWHERE is not set"),
        "{err}"
    );
    let bad = write(&dir, "bad.toml", "a = ");
    assert!(matches!(
        Config::load(&bad).build(),
        Err(ConfigError::Load(_))
    ));
}

#[tokio::test]
async fn watching_a_file_calls_back_with_the_new_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "live.yaml", "level: info\n");
    let config = Config::load(&path).vars(vars(&[])).build().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _watch = config.watch(Duration::from_millis(20), move |new: Config| {
        let _ = tx.send(new.get::<String>("level").unwrap());
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A broken edit is skipped, the next good one is delivered.
    std::fs::write(&path, "level: [unclosed\n").unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    std::fs::write(&path, "level: debug\n").unwrap();
    let level = timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(level, "debug");
    assert_eq!(config.get::<String>("level").unwrap(), "info");
}

#[test]
fn env_lists_for_declared_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "c.toml",
        "[nsq]\nlookupd_addresses = [\"x:4161\"]\nname = \"a\"\n",
    );
    let config = Config::load(&path)
        .env_prefix("SVC")
        .env_list_keys(["nsq.lookupd_addresses"])
        .vars(vars(&[
            (
                "SVC_NSQ__LOOKUPD_ADDRESSES",
                "127.0.0.1:4161,127.0.0.2:4161",
            ),
            ("SVC_NSQ__NAME", "b,c"),
        ]))
        .build()
        .unwrap();
    assert_eq!(
        config.get::<Vec<String>>("nsq.lookupd_addresses").unwrap(),
        vec!["127.0.0.1:4161", "127.0.0.2:4161"]
    );
    assert_eq!(config.get::<String>("nsq.name").unwrap(), "b,c");
}
