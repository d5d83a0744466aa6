//! Stream compression negotiated through IDENTIFY: raw DEFLATE (RFC 1951, a sync flush
//! after every write) or the Snappy framing format, each direction independent.
//!
//! Both work on byte buffers: [`Compressor`] turns a batch of encoded commands into the
//! bytes to write; [`StreamDecoder`] is the reader's codec, which first decompresses into a
//! plain buffer and then cuts frames out of it with `nsq_wire`'s [`FrameDecoder`]. The
//! reader switches mode mid-stream, so bytes that arrived right after the IDENTIFY reply
//! are decompressed rather than lost.

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use nsq_wire::frame::{Frame, FrameDecoder, FrameError};
use tokio_util::codec::Decoder;

/// Snappy framing: the stream identifier chunk.
const SNAPPY_STREAM_ID: &[u8] = b"\xff\x06\x00\x00sNaPpY";
/// Largest uncompressed payload of one Snappy chunk.
const SNAPPY_MAX_BLOCK: usize = 65536;

/// What compresses outgoing bytes.
pub(crate) enum Compressor {
    None,
    Deflate(Box<Compress>),
    Snappy { started: bool },
}

impl Compressor {
    pub fn deflate(level: u8) -> Self {
        Compressor::Deflate(Box::new(Compress::new(
            Compression::new(u32::from(level.clamp(1, 9))),
            false,
        )))
    }

    pub fn snappy() -> Self {
        Compressor::Snappy { started: false }
    }

    /// Appends the compressed form of `plain` to `out`, complete (flushed) so the peer can
    /// decode everything written so far.
    pub fn compress(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), String> {
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

fn deflate_sync(c: &mut Compress, mut input: &[u8], out: &mut BytesMut) -> Result<(), String> {
    let mut scratch = vec![0u8; 32 * 1024];
    loop {
        let before_in = c.total_in();
        let before_out = c.total_out();
        c.compress(input, &mut scratch, FlushCompress::Sync)
            .map_err(|e| e.to_string())?;
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

fn snappy_chunks(plain: &[u8], out: &mut BytesMut) -> Result<(), String> {
    let mut encoder = snap::raw::Encoder::new();
    for block in plain.chunks(SNAPPY_MAX_BLOCK) {
        let crc = masked_crc32c(block);
        let compressed = encoder.compress_vec(block).map_err(|e| e.to_string())?;
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

/// Incoming decompression state.
enum Inflate {
    None,
    Deflate(Box<Decompress>),
    Snappy { seen_stream_id: bool },
}

/// The client's frame decoder, with optional decompression in front of it.
pub(crate) struct StreamDecoder {
    frames: FrameDecoder,
    inflate: Inflate,
    plain: BytesMut,
}

impl StreamDecoder {
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            frames: FrameDecoder::new(max_frame_size),
            inflate: Inflate::None,
            plain: BytesMut::new(),
        }
    }

    /// From now on, incoming bytes are raw DEFLATE.
    pub fn start_deflate(&mut self) {
        self.inflate = Inflate::Deflate(Box::new(Decompress::new(false)));
    }

    /// From now on, incoming bytes are Snappy-framed.
    pub fn start_snappy(&mut self) {
        self.inflate = Inflate::Snappy {
            seen_stream_id: false,
        };
    }

    fn decompress(&mut self, src: &mut BytesMut) -> Result<(), FrameError> {
        let max_plain = self.frames.max_frame_size() + 4;
        match &mut self.inflate {
            Inflate::None => {}
            Inflate::Deflate(d) => {
                while !src.is_empty() {
                    let mut scratch = vec![0u8; 64 * 1024];
                    let before_in = d.total_in();
                    let before_out = d.total_out();
                    d.decompress(src, &mut scratch, FlushDecompress::Sync)
                        .map_err(|e| bad(format!("bad deflate stream: {e}")))?;
                    let consumed = (d.total_in() - before_in) as usize;
                    let produced = (d.total_out() - before_out) as usize;
                    src.advance(consumed);
                    self.plain.extend_from_slice(&scratch[..produced]);
                    if consumed == 0 && produced == 0 {
                        break;
                    }
                    if self.plain.len() > 2 * max_plain {
                        // Let the frame decoder drain (or reject) what we have first.
                        break;
                    }
                }
            }
            Inflate::Snappy { seen_stream_id } => {
                while let Some(chunk) = next_snappy_chunk(src)? {
                    let (kind, data) = chunk;
                    match kind {
                        0xff => {
                            if data.as_ref() != &SNAPPY_STREAM_ID[4..] {
                                return Err(bad("bad snappy stream identifier".into()));
                            }
                            *seen_stream_id = true;
                        }
                        0x00 | 0x01 if !*seen_stream_id => {
                            return Err(bad("snappy data before the stream identifier".into()))
                        }
                        0x00 | 0x01 => {
                            if data.len() < 4 {
                                return Err(bad("snappy chunk without checksum".into()));
                            }
                            let crc = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                            let payload = if kind == 0x00 {
                                snap::raw::Decoder::new()
                                    .decompress_vec(&data[4..])
                                    .map_err(|e| bad(format!("bad snappy chunk: {e}")))?
                            } else {
                                data[4..].to_vec()
                            };
                            if payload.len() > SNAPPY_MAX_BLOCK {
                                return Err(bad("snappy chunk too large".into()));
                            }
                            if masked_crc32c(&payload) != crc {
                                return Err(bad("snappy checksum mismatch".into()));
                            }
                            self.plain.extend_from_slice(&payload);
                        }
                        0x80..=0xfe => {} // padding and skippable chunks
                        other => return Err(bad(format!("reserved snappy chunk type {other:#x}"))),
                    }
                }
            }
        }
        Ok(())
    }
}

fn bad(reason: String) -> FrameError {
    FrameError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, reason))
}

/// Splits one complete chunk off `src`: `(type, data)`.
fn next_snappy_chunk(src: &mut BytesMut) -> Result<Option<(u8, BytesMut)>, FrameError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = usize::from(src[1]) | usize::from(src[2]) << 8 | usize::from(src[3]) << 16;
    if src.len() < 4 + len {
        return Ok(None);
    }
    let kind = src[0];
    src.advance(4);
    Ok(Some((kind, src.split_to(len))))
}

impl Decoder for StreamDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if matches!(self.inflate, Inflate::None) && self.plain.is_empty() {
            return self.frames.decode(src);
        }
        self.decompress(src)?;
        self.frames.decode(&mut self.plain)
    }
}

/// CRC-32C (Castagnoli), masked as the Snappy framing format requires.
pub(crate) fn masked_crc32c(data: &[u8]) -> u32 {
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

    fn ok_frame() -> Vec<u8> {
        b"\x00\x00\x00\x06\x00\x00\x00\x00OK".to_vec()
    }

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
    fn reference_snappy_frames_decode_to_frames() {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(&ok_frame()).unwrap();
        enc.flush().unwrap();
        enc.write_all(&ok_frame()).unwrap();
        enc.flush().unwrap();
        let bytes = enc.into_inner().unwrap();
        let mut d = StreamDecoder::new(1 << 20);
        d.start_snappy();
        // Fed one byte at a time: chunks split anywhere still decode.
        let mut src = BytesMut::new();
        let mut frames = 0;
        for b in bytes {
            src.put_u8(b);
            while let Some(f) = d.decode(&mut src).unwrap() {
                assert_eq!(f, Frame::Response(bytes::Bytes::from_static(b"OK")));
                frames += 1;
            }
        }
        assert_eq!(frames, 2);
    }

    #[test]
    fn snappy_checksum_and_order_are_verified() {
        let mut d = StreamDecoder::new(1 << 20);
        d.start_snappy();
        let mut src = BytesMut::from(&b"\x01\x08\x00\x00\x00\x00\x00\x00abcd"[..]);
        assert!(d.decode(&mut src).is_err(), "data before stream id");
        let mut d = StreamDecoder::new(1 << 20);
        d.start_snappy();
        let mut src = BytesMut::from(SNAPPY_STREAM_ID);
        src.extend_from_slice(b"\x01\x06\x00\x00\x00\x00\x00\x00OK");
        assert!(d.decode(&mut src).is_err(), "bad checksum");
    }

    #[test]
    fn deflate_round_trip_with_reference_implementation() {
        // Ours -> flate2's raw reader.
        let mut c = Compressor::deflate(6);
        let mut out = BytesMut::new();
        c.compress(b"RDY 1\n", &mut out).unwrap();
        assert!(
            out.ends_with(&[0x00, 0x00, 0xff, 0xff]),
            "sync flush marker"
        );
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

        // flate2's raw writer (sync flushes) -> our decoder, byte by byte.
        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        w.write_all(&ok_frame()).unwrap();
        w.flush().unwrap();
        let bytes = w.get_ref().clone();
        let mut d = StreamDecoder::new(1 << 20);
        d.start_deflate();
        let mut src = BytesMut::new();
        let mut got = None;
        for b in bytes {
            src.put_u8(b);
            if let Some(f) = d.decode(&mut src).unwrap() {
                got = Some(f);
            }
        }
        assert_eq!(got, Some(Frame::Response(bytes::Bytes::from_static(b"OK"))));
    }
}
