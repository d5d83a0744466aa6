//! Stream compression negotiated through IDENTIFY, shared by broker and client: raw
//! DEFLATE (RFC 1951, a sync flush after every write) or the Snappy framing format, each
//! direction independent.
//!
//! Both sides work on byte buffers: [`Compressor`] turns a batch of plain bytes (encoded
//! commands or frames) into the bytes to write, complete so the peer can decode everything
//! written so far; [`Decompressor`] turns received bytes into plain bytes, with a budget so
//! a hostile peer cannot make one call expand without bound (a "zip bomb").
//!
//! ```
//! use bytes::BytesMut;
//! use nsq_wire::compress::{Compressor, Decompressor};
//!
//! let mut wire = BytesMut::new();
//! Compressor::snappy().compress(b"NOP\n", &mut wire).unwrap();
//! let mut plain = BytesMut::new();
//! Decompressor::snappy().decompress(&mut wire, &mut plain, 1 << 16).unwrap();
//! assert_eq!(&plain[..], b"NOP\n");
//! ```

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// Snappy framing: the stream identifier chunk.
pub const SNAPPY_STREAM_ID: &[u8] = b"\xff\x06\x00\x00sNaPpY";
/// Largest uncompressed payload of one Snappy chunk.
pub const SNAPPY_MAX_BLOCK: usize = 65536;
/// Largest Snappy chunk accepted (a 64 KiB block compresses to at most ~76 KiB; padding
/// and skippable chunks beyond this are refused rather than buffered).
pub const SNAPPY_MAX_CHUNK: usize = 128 * 1024;
/// The empty stored block a DEFLATE sync flush ends with.
pub const DEFLATE_SYNC_MARKER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Why compressed input could not be decoded (or output not encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressError {
    /// The DEFLATE stream is corrupt.
    #[error("bad deflate stream: {0}")]
    Deflate(String),
    /// The Snappy stream is corrupt or breaks a limit.
    #[error("bad snappy stream: {0}")]
    Snappy(String),
}

/// What compresses outgoing bytes.
pub enum Compressor {
    /// Plain passthrough.
    None,
    /// Raw DEFLATE at a level.
    Deflate(Box<Compress>),
    /// Snappy framing; `started` once the stream identifier was written.
    Snappy {
        /// Whether the stream identifier chunk was already written.
        started: bool,
    },
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compressor::None => "Compressor::None",
            Compressor::Deflate(_) => "Compressor::Deflate",
            Compressor::Snappy { .. } => "Compressor::Snappy",
        })
    }
}

impl Compressor {
    /// Raw DEFLATE at `level` (clamped to 1..=9).
    pub fn deflate(level: u8) -> Self {
        Compressor::Deflate(Box::new(Compress::new(
            Compression::new(u32::from(level.clamp(1, 9))),
            false,
        )))
    }

    /// Snappy framing format.
    pub fn snappy() -> Self {
        Compressor::Snappy { started: false }
    }

    /// Appends the compressed form of `plain` to `out`, complete (flushed) so the peer can
    /// decode everything written so far.
    pub fn compress(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), CompressError> {
        match self {
            Compressor::None => {
                out.extend_from_slice(plain);
                Ok(())
            }
            Compressor::Deflate(c) => deflate_sync(c, plain, out),
            Compressor::Snappy { started } => {
                if !*started {
                    out.extend_from_slice(SNAPPY_STREAM_ID);
                    *started = true;
                }
                snappy_chunks(plain, out)
            }
        }
    }
}

fn deflate_sync(
    c: &mut Compress,
    mut input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressError> {
    let mut scratch = [0u8; 16 * 1024];
    loop {
        let before_in = c.total_in();
        let before_out = c.total_out();
        c.compress(input, &mut scratch, FlushCompress::Sync)
            .map_err(|e| CompressError::Deflate(e.to_string()))?;
        let consumed = (c.total_in() - before_in) as usize;
        let produced = (c.total_out() - before_out) as usize;
        out.put_slice(&scratch[..produced]);
        input = &input[consumed..];
        // The sync flush is complete once all input is in and the output did not fill up.
        if input.is_empty() && produced < scratch.len() {
            return Ok(());
        }
    }
}

fn snappy_chunks(plain: &[u8], out: &mut BytesMut) -> Result<(), CompressError> {
    let mut encoder = snap::raw::Encoder::new();
    for block in plain.chunks(SNAPPY_MAX_BLOCK) {
        let crc = masked_crc32c(block);
        let compressed = encoder
            .compress_vec(block)
            .map_err(|e| CompressError::Snappy(e.to_string()))?;
        let (kind, body): (u8, &[u8]) = if compressed.len() < block.len() {
            (0x00, &compressed)
        } else {
            (0x01, block)
        };
        let len = body.len() + 4;
        out.put_u8(kind);
        out.put_slice(&(len as u32).to_le_bytes()[..3]);
        out.put_u32_le(crc);
        out.put_slice(body);
    }
    Ok(())
}

/// What decompresses incoming bytes.
pub enum Decompressor {
    /// Raw DEFLATE.
    Deflate(Box<Decompress>),
    /// Snappy framing format.
    Snappy {
        /// Whether the stream identifier chunk was seen.
        seen_stream_id: bool,
    },
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decompressor::Deflate(_) => "Decompressor::Deflate",
            Decompressor::Snappy { .. } => "Decompressor::Snappy",
        })
    }
}

impl Decompressor {
    /// Raw DEFLATE.
    pub fn deflate() -> Self {
        Decompressor::Deflate(Box::new(Decompress::new(false)))
    }

    /// Snappy framing format.
    pub fn snappy() -> Self {
        Decompressor::Snappy {
            seen_stream_id: false,
        }
    }

    /// Decodes complete input from the front of `src` (partial Snappy chunks stay there)
    /// and appends the plain bytes to `out`, stopping once it produced at least `budget`
    /// bytes (it may overshoot by one Snappy block or 16 KiB of DEFLATE output). Returns
    /// the number of plain bytes produced.
    pub fn decompress(
        &mut self,
        src: &mut BytesMut,
        out: &mut BytesMut,
        budget: usize,
    ) -> Result<usize, CompressError> {
        match self {
            Decompressor::Deflate(d) => inflate(d, src, out, budget),
            Decompressor::Snappy { seen_stream_id } => unsnappy(seen_stream_id, src, out, budget),
        }
    }
}

fn inflate(
    d: &mut Decompress,
    src: &mut BytesMut,
    out: &mut BytesMut,
    budget: usize,
) -> Result<usize, CompressError> {
    let mut scratch = [0u8; 16 * 1024];
    let mut produced_total = 0;
    while !src.is_empty() && produced_total < budget {
        let before_in = d.total_in();
        let before_out = d.total_out();
        d.decompress(src, &mut scratch, FlushDecompress::Sync)
            .map_err(|e| CompressError::Deflate(e.to_string()))?;
        let consumed = (d.total_in() - before_in) as usize;
        let produced = (d.total_out() - before_out) as usize;
        src.advance(consumed);
        out.extend_from_slice(&scratch[..produced]);
        produced_total += produced;
        if consumed == 0 && produced == 0 {
            break;
        }
    }
    Ok(produced_total)
}

fn unsnappy(
    seen_stream_id: &mut bool,
    src: &mut BytesMut,
    out: &mut BytesMut,
    budget: usize,
) -> Result<usize, CompressError> {
    let bad = |reason: &str| CompressError::Snappy(reason.to_owned());
    let mut produced = 0;
    while produced < budget {
        let Some((kind, data)) = next_snappy_chunk(src)? else {
            break;
        };
        match kind {
            0xff => {
                if data.as_ref() != &SNAPPY_STREAM_ID[4..] {
                    return Err(bad("bad stream identifier"));
                }
                *seen_stream_id = true;
            }
            0x00 | 0x01 if !*seen_stream_id => {
                return Err(bad("data before the stream identifier"))
            }
            0x00 | 0x01 => {
                if data.len() < 4 {
                    return Err(bad("chunk without checksum"));
                }
                let crc = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                let payload = if kind == 0x00 {
                    let len = snap::raw::decompress_len(&data[4..])
                        .map_err(|e| CompressError::Snappy(e.to_string()))?;
                    if len > SNAPPY_MAX_BLOCK {
                        return Err(bad("chunk too large"));
                    }
                    snap::raw::Decoder::new()
                        .decompress_vec(&data[4..])
                        .map_err(|e| CompressError::Snappy(e.to_string()))?
                } else {
                    data[4..].to_vec()
                };
                if payload.len() > SNAPPY_MAX_BLOCK {
                    return Err(bad("chunk too large"));
                }
                if masked_crc32c(&payload) != crc {
                    return Err(bad("checksum mismatch"));
                }
                produced += payload.len();
                out.extend_from_slice(&payload);
            }
            0x80..=0xfe => {} // padding and skippable chunks
            _ => return Err(bad("reserved unskippable chunk type")),
        }
    }
    Ok(produced)
}

/// Splits one complete chunk off `src`: `(type, data)`.
fn next_snappy_chunk(src: &mut BytesMut) -> Result<Option<(u8, BytesMut)>, CompressError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = usize::from(src[1]) | usize::from(src[2]) << 8 | usize::from(src[3]) << 16;
    if len > SNAPPY_MAX_CHUNK {
        return Err(CompressError::Snappy(format!(
            "chunk of {len} bytes exceeds {SNAPPY_MAX_CHUNK}"
        )));
    }
    if src.len() < 4 + len {
        return Ok(None);
    }
    let kind = src[0];
    src.advance(4);
    Ok(Some((kind, src.split_to(len))))
}

/// CRC-32C (Castagnoli), masked as the Snappy framing format requires.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn crc32c(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82f6_3b78;
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, entry) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
            *entry = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn crc32c_known_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn snappy_output_is_read_by_the_reference_frame_decoder() {
        let mut c = Compressor::snappy();
        let mut out = BytesMut::new();
        c.compress(b"SUB t c\n", &mut out).unwrap();
        c.compress(&[b'x'; 100_000], &mut out).unwrap();
        let mut plain = Vec::new();
        snap::read::FrameDecoder::new(&out[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(&plain[..8], b"SUB t c\n");
        assert_eq!(plain.len(), 8 + 100_000);
    }

    #[test]
    fn reference_snappy_decodes_byte_by_byte() {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(b"hello ").unwrap();
        enc.flush().unwrap();
        enc.write_all(&[b'y'; 70_000]).unwrap();
        enc.flush().unwrap();
        let bytes = enc.into_inner().unwrap();
        let mut d = Decompressor::snappy();
        let (mut src, mut out) = (BytesMut::new(), BytesMut::new());
        for b in bytes {
            src.put_u8(b);
            d.decompress(&mut src, &mut out, usize::MAX).unwrap();
        }
        assert_eq!(out.len(), 6 + 70_000);
        assert_eq!(&out[..6], b"hello ");
    }

    #[test]
    fn snappy_rejects_corruption_and_oversized_chunks() {
        let mut out = BytesMut::new();
        let mut src = BytesMut::from(&b"\x01\x08\x00\x00\x00\x00\x00\x00abcd"[..]);
        assert!(Decompressor::snappy()
            .decompress(&mut src, &mut out, 1)
            .is_err());
        let mut src = BytesMut::from(SNAPPY_STREAM_ID);
        src.extend_from_slice(b"\x01\x06\x00\x00\x00\x00\x00\x00OK");
        assert!(Decompressor::snappy()
            .decompress(&mut src, &mut out, 1)
            .is_err());
        let mut src = BytesMut::from(SNAPPY_STREAM_ID);
        src.extend_from_slice(b"\x80\xff\xff\xff");
        assert!(Decompressor::snappy()
            .decompress(&mut src, &mut out, 1)
            .is_err());
    }

    #[test]
    fn deflate_round_trip_with_reference_implementation() {
        let mut c = Compressor::deflate(6);
        let mut out = BytesMut::new();
        c.compress(b"RDY 1\n", &mut out).unwrap();
        assert!(out.ends_with(&DEFLATE_SYNC_MARKER));
        c.compress(b"FIN 0123456789abcdef\n", &mut out).unwrap();
        let mut plain = Vec::new();
        let mut r = flate2::read::DeflateDecoder::new(&out[..]);
        let mut buf = [0u8; 64];
        while plain.len() < 27 {
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0);
            plain.extend_from_slice(&buf[..n]);
        }
        assert_eq!(plain, b"RDY 1\nFIN 0123456789abcdef\n");

        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        w.write_all(b"PUB t\n").unwrap();
        w.flush().unwrap();
        let bytes = w.get_ref().clone();
        let mut d = Decompressor::deflate();
        let (mut src, mut out) = (BytesMut::new(), BytesMut::new());
        for b in bytes {
            src.put_u8(b);
            d.decompress(&mut src, &mut out, usize::MAX).unwrap();
        }
        assert_eq!(&out[..], b"PUB t\n");
    }

    #[test]
    fn deflate_budget_bounds_a_bomb() {
        let mut c = Compressor::deflate(9);
        let mut wire = BytesMut::new();
        c.compress(&vec![0u8; 10 << 20], &mut wire).unwrap();
        assert!(wire.len() < 64 * 1024, "10 MiB of zeros compresses well");
        let mut d = Decompressor::deflate();
        let mut out = BytesMut::new();
        let n = d.decompress(&mut wire, &mut out, 100_000).unwrap();
        assert!(n < 200_000, "stopped near the budget, got {n}");
        assert!(!wire.is_empty(), "the rest stays for later");
    }
}
