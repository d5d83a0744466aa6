//! File names and the `<name>.diskqueue.meta.dat` metadata file, byte for byte as go-diskqueue
//! writes them, plus the atomic "temp file, fsync, rename" write both this queue and `nsqd.dat`
//! use.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A byte offset inside a numbered data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Data file number (the `%06d` part of the file name).
    pub file: i64,
    /// Byte offset inside that file.
    pub pos: i64,
}

impl Position {
    /// A position at `pos` in data file `file`.
    pub fn new(file: i64, pos: i64) -> Self {
        Self { file, pos }
    }
}

/// The persisted state of one queue: unread record count and the read and write positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueMeta {
    /// Number of unread records.
    pub depth: i64,
    /// Where the next read starts.
    pub read: Position,
    /// Where the next write goes.
    pub write: Position,
}

/// Why a metadata file could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("malformed diskqueue metadata: {0}")]
pub struct MetaParseError(String);

impl QueueMeta {
    /// Go's `"%d\n%d,%d\n%d,%d\n"`.
    pub fn encode(&self) -> String {
        format!(
            "{}\n{},{}\n{},{}\n",
            self.depth, self.read.file, self.read.pos, self.write.file, self.write.pos
        )
    }

    /// Parses the three-line text format (tolerating `\r\n` and surrounding blanks).
    pub fn parse(text: &str) -> Result<Self, MetaParseError> {
        let mut lines = text.lines();
        let depth = parse_number(lines.next(), "depth")?;
        let read = parse_position(lines.next(), "read position")?;
        let write = parse_position(lines.next(), "write position")?;
        if read.file < 0 || read.pos < 0 || write.file < 0 || write.pos < 0 {
            return Err(MetaParseError(format!("negative position in {text:?}")));
        }
        Ok(Self { depth, read, write })
    }
}

impl fmt::Display for QueueMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "depth {} read {},{} write {},{}",
            self.depth, self.read.file, self.read.pos, self.write.file, self.write.pos
        )
    }
}

fn parse_number(line: Option<&str>, what: &str) -> Result<i64, MetaParseError> {
    let line = line.ok_or_else(|| MetaParseError(format!("missing {what}")))?;
    line.trim()
        .parse()
        .map_err(|_| MetaParseError(format!("bad {what}: {line:?}")))
}

fn parse_position(line: Option<&str>, what: &str) -> Result<Position, MetaParseError> {
    let line = line.ok_or_else(|| MetaParseError(format!("missing {what}")))?;
    let (file, pos) = line
        .trim()
        .split_once(',')
        .ok_or_else(|| MetaParseError(format!("bad {what}: {line:?}")))?;
    Ok(Position {
        file: parse_number(Some(file), what)?,
        pos: parse_number(Some(pos), what)?,
    })
}

/// `<dir>/<name>.diskqueue.<NNNNNN>.dat`
pub fn segment_path(dir: &Path, name: &str, file: i64) -> PathBuf {
    dir.join(format!("{name}.diskqueue.{file:06}.dat"))
}

/// `<dir>/<name>.diskqueue.meta.dat`
pub fn meta_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.diskqueue.meta.dat"))
}

/// The file number of `file_name` if it is one of queue `name`'s data files.
pub(crate) fn segment_number(name: &str, file_name: &str) -> Option<i64> {
    let digits = file_name
        .strip_prefix(name)?
        .strip_prefix(".diskqueue.")?
        .strip_suffix(".dat")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Opens (creating with mode 0600, like Go) a file for writing without truncating it.
pub(crate) fn open_for_write(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `contents` to `path` atomically: `<path>.<random>.tmp`, fsync, rename, fsync of the
/// directory (Go skips the last step; it is what makes the rename itself survive power loss).
pub(crate) fn write_file_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = PathBuf::from(format!(
        "{}.{}.tmp",
        path.display(),
        rand::random::<u64>() >> 1
    ));
    let result = (|| {
        let mut file = open_for_write(&tmp)?;
        file.set_len(0)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Leave no half-written temp file behind; the original file is untouched.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes directory entry changes (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go() {
        let meta = QueueMeta {
            depth: 42,
            read: Position::new(3, 1_048_576),
            write: Position::new(5, 20_480),
        };
        assert_eq!(meta.encode(), "42\n3,1048576\n5,20480\n");
        assert_eq!(QueueMeta::parse(&meta.encode()).unwrap(), meta);
    }

    #[test]
    fn parses_go_fixture_files() {
        let meta = QueueMeta::parse("2000\n0,36900\n0,118900\n").unwrap();
        assert_eq!(meta.depth, 2000);
        assert_eq!(meta.read, Position::new(0, 36900));
        assert_eq!(meta.write, Position::new(0, 118900));
    }

    #[test]
    fn rejects_garbage() {
        assert!(QueueMeta::parse("").is_err());
        assert!(QueueMeta::parse("1\n0,0\n").is_err());
        assert!(QueueMeta::parse("x\n0,0\n0,0\n").is_err());
        assert!(QueueMeta::parse("1\n0;0\n0,0\n").is_err());
        assert!(QueueMeta::parse("1\n-1,0\n0,0\n").is_err());
    }

    #[test]
    fn names_like_go() {
        let dir = Path::new("/data");
        assert_eq!(
            segment_path(dir, "orders:billing", 3),
            Path::new("/data/orders:billing.diskqueue.000003.dat")
        );
        assert_eq!(
            meta_path(dir, "orders"),
            Path::new("/data/orders.diskqueue.meta.dat")
        );
        assert_eq!(
            segment_number("orders", "orders.diskqueue.000012.dat"),
            Some(12)
        );
        assert_eq!(segment_number("orders", "orders.diskqueue.meta.dat"), None);
        assert_eq!(
            segment_number("orders", "orders:billing.diskqueue.000001.dat"),
            None
        );
        assert_eq!(
            segment_number("orders", "orders.diskqueue.000001.dat.bad"),
            None
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.meta.dat");
        write_file_atomic(&path, b"one").unwrap();
        write_file_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
