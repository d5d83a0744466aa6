//! `--config FILE`: Go nsqd's TOML config file. Keys are the flag names with `_` for `-`
//! (`mem_queue_size`), except Go's explicit config names (`nsqlookupd_tcp_addresses`,
//! `auth_http_addresses`, `e2e_processing_latency_percentiles`, `id`). Each value becomes a
//! `--flag=value` argument appended to the command line for flags the command line did not
//! set, so the file goes through exactly the same parsing and validation as flags.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

use super::{CliError, NsqdArgs};

/// What a config file adds to the command line.
pub(super) struct ConfigLayer {
    pub args: Vec<OsString>,
    pub notes: Vec<String>,
}

/// Go's explicit `cfg:` names that differ from the flag name.
const CONFIG_ALIASES: &[(&str, &str)] = &[
    ("nsqlookupd_tcp_addresses", "lookupd_tcp_address"),
    ("auth_http_addresses", "auth_http_address"),
    (
        "e2e_processing_latency_percentiles",
        "e2e_processing_latency_percentile",
    ),
    ("id", "node_id"),
];

/// Keys that are flags but not options; Go ignores them in a config file.
const NOT_CONFIGURABLE: &[&str] = &["config", "version"];

/// Reads and translates the config file at `path`; `first` is the command line parsed alone.
pub(super) fn load(path: &Path, first: &ArgMatches) -> Result<ConfigLayer, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|source| CliError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })?;
    translate(&table, first)
}

fn translate(table: &toml::Table, first: &ArgMatches) -> Result<ConfigLayer, CliError> {
    let command = NsqdArgs::command();
    let mut layer = ConfigLayer {
        args: Vec::new(),
        notes: Vec::new(),
    };
    for (key, value) in table {
        let id = CONFIG_ALIASES
            .iter()
            .find(|(alias, _)| alias == key)
            .map_or(key.as_str(), |(_, id)| id);
        let known = command.get_arguments().any(|a| a.get_id() == id);
        if !known || NOT_CONFIGURABLE.contains(&id) {
            layer
                .notes
                .push(format!("config file: ignoring unknown option {key:?}"));
            continue;
        }
        if first.value_source(id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let flag = id.replace('_', "-");
        for text in value_strings(key, value)? {
            layer.args.push(OsString::from(format!("--{flag}={text}")));
        }
    }
    Ok(layer)
}

/// The flag values a TOML value stands for (arrays give one value per element).
fn value_strings(key: &str, value: &toml::Value) -> Result<Vec<String>, CliError> {
    let scalar = |v: &toml::Value| -> Result<String, CliError> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => Err(CliError::ConfigValue {
                key: key.to_string(),
                value: other.to_string(),
            }),
        }
    };
    match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}
