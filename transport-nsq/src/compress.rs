//! The client's frame decoder with optional decompression in front of it. The compression
//! itself (Snappy framing, raw DEFLATE) lives once in [`nsq_wire::compress`], shared with
//! the broker.
//!
//! The reader switches mode mid-stream, so bytes that arrived right after the IDENTIFY
//! reply are decompressed rather than lost.

use bytes::BytesMut;
use nsq_wire::frame::{Frame, FrameDecoder, FrameError};
use tokio_util::codec::Decoder;

pub(crate) use nsq_wire::compress::Compressor;
use nsq_wire::compress::Decompressor;

/// The client's frame decoder, with optional decompression in front of it.
pub(crate) struct StreamDecoder {
    frames: FrameDecoder,
    inflate: Option<Decompressor>,
    plain: BytesMut,
}

impl StreamDecoder {
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            frames: FrameDecoder::new(max_frame_size),
            inflate: None,
            plain: BytesMut::new(),
        }
    }

    /// From now on, incoming bytes are raw DEFLATE.
    pub fn start_deflate(&mut self) {
        self.inflate = Some(Decompressor::deflate());
    }

    /// From now on, incoming bytes are Snappy-framed.
    pub fn start_snappy(&mut self) {
        self.inflate = Some(Decompressor::snappy());
    }
}

fn bad(reason: String) -> FrameError {
    FrameError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, reason))
}

impl Decoder for StreamDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(inflate) = &mut self.inflate else {
            if self.plain.is_empty() {
                return self.frames.decode(src);
            }
            self.plain.extend_from_slice(&src.split());
            return self.frames.decode(&mut self.plain);
        };
        // Never hold more than two maximal frames of plain bytes: the frame decoder drains
        // (or rejects) them before more input is inflated.
        let max_plain = 2 * (self.frames.max_frame_size() + 4);
        let budget = max_plain.saturating_sub(self.plain.len());
        if budget > 0 {
            inflate
                .decompress(src, &mut self.plain, budget)
                .map_err(|e| bad(e.to_string()))?;
        }
        self.frames.decode(&mut self.plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use std::io::Write;

    fn ok_frame() -> Vec<u8> {
        b"\x00\x00\x00\x06\x00\x00\x00\x00OK".to_vec()
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
    fn snappy_data_before_stream_id_is_an_error() {
        let mut d = StreamDecoder::new(1 << 20);
        d.start_snappy();
        let mut src = BytesMut::from(&b"\x01\x08\x00\x00\x00\x00\x00\x00abcd"[..]);
        assert!(d.decode(&mut src).is_err());
    }

    #[test]
    fn reference_deflate_decodes_byte_by_byte() {
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
