//! `nsqd.dat`: the list of non-ephemeral topics and channels and their paused flags, in Go
//! nsqd's JSON shape, so topics, channels and pause state survive a restart and a data
//! directory can move between Go nsqd and ours.
//!
//! ```
//! use broker::nsqd::metadata::{self, ChannelMetadata, Metadata, TopicMetadata};
//! let dir = tempfile::tempdir().unwrap();
//! let meta = Metadata::new(vec![TopicMetadata {
//!     name: "orders".into(),
//!     paused: false,
//!     channels: vec![ChannelMetadata { name: "audit".into(), paused: true }],
//! }]);
//! metadata::save(dir.path(), &meta).unwrap();
//! assert_eq!(metadata::load(dir.path()).unwrap(), Some(meta));
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// File name inside `--data-path`.
pub const FILE_NAME: &str = "nsqd.dat";

/// The version we write: the NSQ release whose behaviour and formats we implement.
pub const VERSION: &str = super::VERSION;

/// The whole file: `{"topics":[...],"version":"1.3.0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// Non-ephemeral topics (`null` in the file when there are none).
    #[serde(default, with = "null_as_empty")]
    pub topics: Vec<TopicMetadata>,
    /// The writer's version; ignored on read.
    #[serde(default)]
    pub version: String,
}

/// One topic: `{"name":"t","paused":false,"channels":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TopicMetadata {
    /// Topic name.
    #[serde(default)]
    pub name: String,
    /// Whether the topic is paused.
    #[serde(default)]
    pub paused: bool,
    /// Non-ephemeral channels (`null` in the file when there are none).
    #[serde(default, with = "null_as_empty")]
    pub channels: Vec<ChannelMetadata>,
}

/// One channel: `{"name":"c","paused":true}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelMetadata {
    /// Channel name.
    #[serde(default)]
    pub name: String,
    /// Whether the channel is paused.
    #[serde(default)]
    pub paused: bool,
}

/// Why `nsqd.dat` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Reading or writing the file failed.
    #[error("failed to {op} {}: {source}", path.display())]
    Io {
        /// "read" or "write".
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `--data-path` is locked by another process or cannot be locked.
    #[error("failed to lock data-path {}: {source}", path.display())]
    Lock {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid metadata JSON (nsqd refuses to start, like Go).
    #[error("failed to parse metadata in {} - {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl Metadata {
    /// Metadata for `topics`, stamped with our [`VERSION`].
    pub fn new(topics: Vec<TopicMetadata>) -> Self {
        Self {
            topics,
            version: VERSION.to_owned(),
        }
    }

    /// Compact JSON with Go's key order and `null` for empty lists.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `<data_path>/nsqd.dat`
pub fn path(data_path: &Path) -> PathBuf {
    data_path.join(FILE_NAME)
}

/// Reads `nsqd.dat`: `Ok(None)` when there is none (a fresh start), an error when it cannot
/// be read or parsed.
pub fn load(data_path: &Path) -> Result<Option<Metadata>, MetadataError> {
    let path = path(data_path);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(MetadataError::Io {
                op: "read",
                path,
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| MetadataError::Parse { path, source })
}

/// Writes `nsqd.dat` atomically (`nsqd.dat.<random>.tmp`, fsync, rename, fsync directory).
pub fn save(data_path: &Path, metadata: &Metadata) -> Result<(), MetadataError> {
    let path = path(data_path);
    crate::diskqueue::write_file_atomic(&path, &metadata.to_json()).map_err(|source| {
        MetadataError::Io {
            op: "write",
            path,
            source,
        }
    })
}

/// An exclusive lock on `--data-path` (flock on the directory, as Go nsqd's `dirlock` does,
/// so our nsqd and Go nsqd also exclude each other). Held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _dir: fs::File,
}

impl DataDirLock {
    /// Locks `data_path`, failing at once if another process holds it.
    pub fn acquire(data_path: &Path) -> Result<Self, MetadataError> {
        let dir = if data_path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            data_path
        };
        let lock_error = |source| MetadataError::Lock {
            path: dir.to_path_buf(),
            source,
        };
        let file = fs::File::open(dir).map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _dir: file }),
            Err(fs::TryLockError::WouldBlock) => Err(lock_error(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another nsqd is using this data path",
            ))),
            Err(fs::TryLockError::Error(e)) => Err(lock_error(e)),
        }
    }
}

mod null_as_empty {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(
        items: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if items.is_empty() {
            serializer.serialize_none()
        } else {
            serializer.collect_seq(items)
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of `shared/fixtures/go-nsqd-1.3-data` (written by Go nsqd v1.3.0).
    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go-nsqd-1.3-data/data")
    }

    #[test]
    fn loads_go_fixture_and_writes_identical_bytes() {
        let dir = fixture_dir();
        let original = fs::read(path(&dir)).expect("fixture nsqd.dat");
        let meta = load(&dir).unwrap().expect("present");
        assert_eq!(meta.version, "1.3.0");
        let names: Vec<_> = meta.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders", "events"]);
        let orders = &meta.topics[0];
        assert!(!orders.paused);
        assert_eq!(
            orders.channels,
            [
                ChannelMetadata {
                    name: "billing".into(),
                    paused: false
                },
                ChannelMetadata {
                    name: "audit".into(),
                    paused: true
                }
            ]
        );
        assert_eq!(meta.topics[1].channels[0].name, "archive");
        assert_eq!(meta.to_json(), original);
    }

    #[test]
    fn empty_lists_are_null_like_go() {
        let meta = Metadata::new(vec![TopicMetadata {
            name: "t".into(),
            paused: true,
            channels: vec![],
        }]);
        assert_eq!(
            String::from_utf8(meta.to_json()).unwrap(),
            r#"{"topics":[{"name":"t","paused":true,"channels":null}],"version":"1.3.0"}"#
        );
        assert_eq!(
            String::from_utf8(Metadata::new(vec![]).to_json()).unwrap(),
            r#"{"topics":null,"version":"1.3.0"}"#
        );
        let parsed: Metadata =
            serde_json::from_str(r#"{"topics":null,"version":"1.2.1"}"#).unwrap();
        assert!(parsed.topics.is_empty());
    }

    #[test]
    fn save_then_load_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let meta = Metadata::new(vec![TopicMetadata {
            name: "p".into(),
            paused: false,
            channels: vec![
                ChannelMetadata {
                    name: "a".into(),
                    paused: true,
                },
                ChannelMetadata {
                    name: "b".into(),
                    paused: false,
                },
            ],
        }]);
        save(dir.path(), &meta).unwrap();
        save(dir.path(), &meta).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(meta));
        // Only nsqd.dat, no temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn data_dir_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another nsqd"), "{err}");
        drop(lock);
        DataDirLock::acquire(dir.path()).unwrap();
        assert!(DataDirLock::acquire(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn unparseable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), b"{not json").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, MetadataError::Parse { .. }));
        assert!(err.to_string().contains("nsqd.dat"));
    }
}
