//! Configuration: layered sources (files in TOML, YAML or JSON, then environment variables
//! with a prefix; later layers override earlier ones), `${VAR:default}` placeholders in
//! files, typed [`scan`](Config::scan) into serde structs, and [watching](Config::watch).
//!
//! Environment variables map to keys by prefix and a `__` separator for nesting:
//! with prefix `ORDER`, `ORDER_SERVER__GRPC__ADDRESS` sets `server.grpc.address`; keys
//! named in [`ConfigBuilder::env_list_keys`] take comma-separated lists.
//!
//! ```
//! use framework::config::Config;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Bootstrap { server: Server }
//! #[derive(Deserialize)]
//! struct Server { address: String, workers: u32 }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config.toml");
//! std::fs::write(&path, "[server]\naddress = \"${BIND:127.0.0.1:9000}\"\nworkers = 4\n")?;
//!
//! let conf: Bootstrap = Config::load(&path).env_prefix("DOCTEST_ORDER").scan()?;
//! assert_eq!(conf.server.address, "127.0.0.1:9000");
//! assert_eq!(conf.server.workers, 4);
//! # Ok(()) }
//! ```

pub mod duration;
mod placeholder;
mod watch;

pub use placeholder::{expand, PlaceholderError, Vars};
pub use watch::WatchHandle;

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's extension is not `.toml`, `.yaml`, `.yml` or `.json`.
    #[error("{0}: unknown config format (use .toml, .yaml, .yml or .json)")]
    UnknownFormat(PathBuf),
    /// A placeholder could not be expanded.
    #[error("{path}: {source}")]
    Placeholder {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: PlaceholderError,
    },
    /// Parsing, merging or deserializing failed.
    #[error(transparent)]
    Load(#[from] config::ConfigError),
}

#[derive(Clone, Debug)]
struct FileSource {
    path: PathBuf,
    required: bool,
}

/// The recipe of a configuration, kept so it can be reloaded.
#[derive(Clone, Debug, Default)]
struct Sources {
    files: Vec<FileSource>,
    env_prefix: Option<String>,
    env_separator: Option<String>,
    env_list_keys: Vec<String>,
    defaults: Vec<(String, String)>,
    vars: Vars,
}

impl Sources {
    fn load(&self) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        for (key, value) in &self.defaults {
            builder = builder.set_default(key.as_str(), value.as_str())?;
        }
        for file in &self.files {
            let Some(text) = read_optional(file)? else {
                continue;
            };
            let text = expand(&text, &self.vars).map_err(|source| ConfigError::Placeholder {
                path: file.path.clone(),
                source,
            })?;
            builder = builder.add_source(config::File::from_str(&text, format_of(&file.path)?));
        }
        if let Some(prefix) = &self.env_prefix {
            let separator = self.env_separator.as_deref().unwrap_or("__");
            let mut environment = config::Environment::with_prefix(prefix)
                .prefix_separator("_")
                .separator(separator)
                .try_parsing(true);
            if !self.env_list_keys.is_empty() {
                environment = environment.list_separator(",");
                for key in &self.env_list_keys {
                    environment = environment.with_list_parse_key(key);
                }
            }
            if let Vars::Map(map) = &self.vars {
                environment = environment.source(Some(map.clone().into_iter().collect()));
            }
            builder = builder.add_source(environment);
        }
        Ok(Config {
            inner: builder.build()?,
            sources: Arc::new(self.clone()),
        })
    }

    /// The current contents of every file, to detect changes.
    fn snapshot(&self) -> Vec<Option<Vec<u8>>> {
        self.files
            .iter()
            .map(|f| std::fs::read(&f.path).ok())
            .collect()
    }
}

fn read_optional(file: &FileSource) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(&file.path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if !file.required && err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: file.path.clone(),
            source,
        }),
    }
}

fn format_of(path: &Path) -> Result<config::FileFormat, ConfigError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "toml" => Ok(config::FileFormat::Toml),
        "yaml" | "yml" => Ok(config::FileFormat::Yaml),
        "json" => Ok(config::FileFormat::Json),
        _ => Err(ConfigError::UnknownFormat(path.to_path_buf())),
    }
}

/// Builds a [`Config`] from layers, first to last.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    sources: Sources,
}

impl ConfigBuilder {
    /// Adds a file that must exist.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.sources.files.push(FileSource {
            path: path.as_ref().to_path_buf(),
            required: true,
        });
        self
    }

    /// Adds a file that is skipped when missing (e.g. `config.local.toml`).
    pub fn optional_file(mut self, path: impl AsRef<Path>) -> Self {
        self.sources.files.push(FileSource {
            path: path.as_ref().to_path_buf(),
            required: false,
        });
        self
    }

    /// Adds environment variables starting with `PREFIX_` as the last layer.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sources.env_prefix = Some(prefix.into());
        self
    }

    /// The nesting separator in variable names (default `__`).
    pub fn env_separator(mut self, separator: impl Into<String>) -> Self {
        self.sources.env_separator = Some(separator.into());
        self
    }

    /// Keys (dotted, e.g. `nsq.lookupd_addresses`) whose environment values are
    /// comma-separated lists: `ORDER_NSQ__LOOKUPD_ADDRESSES=a:4161,b:4161`.
    pub fn env_list_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.sources
            .env_list_keys
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// A default for `key` (dotted path), below every layer.
    pub fn default_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.sources.defaults.push((key.into(), value.into()));
        self
    }

    /// Reads placeholders and environment variables from `vars` instead of the process
    /// environment.
    pub fn vars(mut self, vars: Vars) -> Self {
        self.sources.vars = vars;
        self
    }

    /// Loads every layer.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.sources.load()
    }

    /// Loads every layer and deserializes the whole tree into `T`.
    pub fn scan<T: DeserializeOwned>(self) -> Result<T, ConfigError> {
        self.build()?.scan()
    }
}

/// Loaded configuration.
#[derive(Clone, Debug)]
pub struct Config {
    inner: config::Config,
    sources: Arc<Sources>,
}

impl Config {
    /// An empty builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder starting with the required file at `path`.
    pub fn load(path: impl AsRef<Path>) -> ConfigBuilder {
        Config::builder().file(path)
    }

    /// The whole tree as `T`.
    pub fn scan<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Ok(self.inner.clone().try_deserialize()?)
    }

    /// The value at a dotted `key` (e.g. `server.grpc.address`) as `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        Ok(self.inner.get(key)?)
    }

    /// Reloads every layer from scratch.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        self.sources.load()
    }

    /// Polls the files every `interval`; when one changes, reloads and calls `on_change`
    /// with the new configuration (a reload that fails is logged and skipped). Must be
    /// called inside a tokio runtime; the watch stops when the handle is dropped.
    pub fn watch<F>(&self, interval: Duration, on_change: F) -> WatchHandle
    where
        F: Fn(Config) + Send + 'static,
    {
        watch::spawn(self.clone(), interval, on_change)
    }
}
