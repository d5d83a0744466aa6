//! Reading records out of one data file: `[4-byte big-endian length][payload]`, back to back.
//! Also the record scan recovery uses to count records written after the last metadata sync.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;

/// Valid payload sizes, inclusive (go-diskqueue's `minMsgSize`/`maxMsgSize`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeLimits {
    pub min: u32,
    pub max: u32,
}

impl SizeLimits {
    pub fn allows(&self, size: i64) -> bool {
        size >= i64::from(self.min) && size <= i64::from(self.max)
    }
}

/// Why a record could not be read; every variant makes the file count as corrupt.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("invalid message read size ({0})")]
    InvalidSize(i64),
}

/// A buffered reader over one data file that knows its own offset.
pub(crate) struct SegmentReader {
    /// The file number being read.
    pub file_num: i64,
    /// Final size when the file is complete (no longer written); `None` while it is the
    /// current write file.
    pub end: Option<i64>,
    reader: BufReader<File>,
    offset: i64,
}

impl SegmentReader {
    /// Opens `path` (file number `file_num`) for reading at `offset`.
    pub fn open(path: &Path, file_num: i64, offset: i64, complete: bool) -> io::Result<Self> {
        let file = File::open(path)?;
        let end = if complete {
            Some(file_len(&file.metadata()?))
        } else {
            None
        };
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        if offset > 0 {
            reader.seek(SeekFrom::Start(offset as u64))?;
        }
        Ok(Self {
            file_num,
            end,
            reader,
            offset,
        })
    }

    /// Reads the record at `offset`, returning its payload.
    pub fn read_at(&mut self, offset: i64, limits: SizeLimits) -> Result<Bytes, ReadError> {
        if offset != self.offset {
            self.reader.seek(SeekFrom::Start(offset as u64))?;
            self.offset = offset;
        }
        let payload = read_record(&mut self.reader, limits)?;
        self.offset += 4 + payload.len() as i64;
        Ok(payload)
    }
}

fn file_len(meta: &std::fs::Metadata) -> i64 {
    i64::try_from(meta.len()).unwrap_or(i64::MAX)
}

/// Reads one length-prefixed record.
fn read_record(reader: &mut impl Read, limits: SizeLimits) -> Result<Bytes, ReadError> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let size = i64::from(i32::from_be_bytes(len));
    if !limits.allows(size) {
        // No reasonable guarantee on where the next record begins: the file is corrupt.
        return Err(ReadError::InvalidSize(size));
    }
    let mut payload = vec![0u8; size as usize];
    reader.read_exact(&mut payload)?;
    Ok(Bytes::from(payload))
}

/// The result of scanning a region of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Complete, well-formed records found.
    pub records: i64,
    /// Offset just past the last complete record.
    pub valid_end: i64,
    /// Size of the file.
    pub len: i64,
}

/// Counts the complete records in `path` from `from` to the end of the file, stopping at the
/// first torn or malformed one.
pub(crate) fn scan_records(path: &Path, from: i64, limits: SizeLimits) -> io::Result<Scan> {
    let file = File::open(path)?;
    let len = file_len(&file.metadata()?);
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    reader.seek(SeekFrom::Start(from.max(0) as u64))?;
    let mut scan = Scan {
        records: 0,
        valid_end: from,
        len,
    };
    while scan.valid_end + 4 <= len {
        let mut header = [0u8; 4];
        reader.read_exact(&mut header)?;
        let size = i64::from(i32::from_be_bytes(header));
        let next = scan.valid_end + 4 + size;
        if !limits.allows(size) || next > len {
            break;
        }
        reader.seek_relative(size)?;
        scan.records += 1;
        scan.valid_end = next;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: SizeLimits = SizeLimits { min: 1, max: 100 };

    fn record(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_records_and_detects_bad_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        file.write_all(&record(b"abc")).unwrap();
        file.write_all(&record(b"defg")).unwrap();
        file.write_all(&1000u32.to_be_bytes()).unwrap();
        drop(file);

        let mut reader = SegmentReader::open(&path, 0, 0, true).unwrap();
        assert_eq!(reader.end, Some(7 + 8 + 4));
        assert_eq!(&reader.read_at(0, LIMITS).unwrap()[..], b"abc");
        assert_eq!(&reader.read_at(7, LIMITS).unwrap()[..], b"defg");
        assert!(matches!(
            reader.read_at(15, LIMITS),
            Err(ReadError::InvalidSize(1000))
        ));
        // Random access works too.
        assert_eq!(&reader.read_at(7, LIMITS).unwrap()[..], b"defg");
    }

    #[test]
    fn scan_stops_at_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut bytes = record(b"abc");
        bytes.extend(record(b"de"));
        bytes.extend(&record(b"torn")[..5]);
        std::fs::write(&path, &bytes).unwrap();
        let scan = scan_records(&path, 0, LIMITS).unwrap();
        assert_eq!(
            scan,
            Scan {
                records: 2,
                valid_end: 13,
                len: 18
            }
        );
        let scan = scan_records(&path, 7, LIMITS).unwrap();
        assert_eq!(scan.records, 1);
    }
}
