//! Fuzz harness bodies, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*`, nightly)
//! and the stable corpus-replay/proptest smoke test (`broker/tests/hostile_input.rs`, which
//! includes this file by path). Each function feeds arbitrary bytes to one parser and must
//! never panic, hang or allocate without bound; the return value is only for smoke tests.

use std::io::Write;

use bytes::BytesMut;
use nsq_wire::command::{BodyLimits, CommandDecoder};
use nsq_wire::compress::Decompressor;
use nsq_wire::frame::FrameDecoder;
use nsq_wire::identify::IdentifyRequest;
use tokio_util::codec::Decoder;

/// Small limits so the fuzzer reaches the size checks quickly.
const LIMITS: BodyLimits = BodyLimits {
    max_msg_size: 4096,
    max_body_size: 16384,
};

/// Client side: server→client frames (`nsq_wire::frame::FrameDecoder`), in random splits.
pub fn wire_frames(data: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new(64 * 1024);
    let mut frames = 0;
    for chunk in data.chunks(7) {
        let mut src = BytesMut::from(chunk);
        while let Ok(Some(_)) = decoder.decode(&mut src) {
            frames += 1;
        }
    }
    let mut whole = BytesMut::from(data);
    while let Ok(Some(_)) = decoder.decode(&mut whole) {
        frames += 1;
    }
    frames
}

/// Server side: the V2 command decoder (lines, then IDENTIFY/AUTH/PUB/MPUB/DPUB bodies)
/// exactly as the broker drives it, plus the IDENTIFY JSON parser.
pub fn v2_commands(data: &[u8]) -> usize {
    let mut decoder = CommandDecoder::new(LIMITS);
    let mut src = BytesMut::from(data);
    let mut commands = 0;
    loop {
        let line = match decoder.decode_line(&mut src) {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => return commands,
        };
        commands += 1;
        let Some(kind) = line.body_kind(&LIMITS) else {
            continue;
        };
        match decoder.decode_body(&mut src, kind) {
            Ok(Some(nsq_wire::command::Body::Single(body))) => {
                if &line.name[..] == b"IDENTIFY" {
                    let _ = IdentifyRequest::from_json(&body);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                let _ = decoder.body_eof_error(&mut src, kind);
                return commands;
            }
            Err(_) => return commands,
        }
    }
}

/// The lookup protocol V1 reply decoder nsqd uses towards nsqlookupd.
pub fn lookup_v1_replies(data: &[u8]) -> usize {
    let mut codec = nsq_wire::lookup::ClientCodec::new(64 * 1024);
    let mut src = BytesMut::from(data);
    let mut replies = 0;
    while let Ok(Some(_)) = codec.decode(&mut src) {
        replies += 1;
    }
    replies
}

/// Snappy-framed and raw-DEFLATE input (the first byte picks the format), with the
/// broker's per-read budget.
pub fn decompress(data: &[u8]) -> usize {
    let Some((&selector, rest)) = data.split_first() else {
        return 0;
    };
    let mut inflate = if selector & 1 == 0 {
        Decompressor::snappy()
    } else {
        Decompressor::deflate()
    };
    let mut src = BytesMut::from(rest);
    let mut out = BytesMut::new();
    let mut total = 0;
    // Bounded rounds: each consumes input or stops.
    for _ in 0..64 {
        match inflate.decompress(&mut src, &mut out, 64 * 1024) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                out.clear();
            }
        }
    }
    total
}

/// The diskqueue reader on a corrupt data file: the first 4 bytes (if any) become the
/// metadata depth, the rest is segment 0. Reads every record it can.
pub fn diskqueue_reader(data: &[u8]) -> usize {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(_) => return 0,
    };
    let (depth, segment) = match data {
        [a, b, c, d, rest @ ..] => (i64::from(u32::from_be_bytes([*a, *b, *c, *d]) % 1000), rest),
        _ => (1, data),
    };
    let name = "fuzz";
    let meta = broker::diskqueue::QueueMeta {
        depth,
        read: broker::diskqueue::Position::new(0, 0),
        write: broker::diskqueue::Position::new(0, segment.len() as i64),
    };
    let write = |file: std::path::PathBuf, bytes: &[u8]| {
        std::fs::File::create(file).and_then(|mut f| f.write_all(bytes))
    };
    if write(
        dir.path().join(format!("{name}.diskqueue.000000.dat")),
        segment,
    )
    .is_err()
        || write(
            dir.path().join(format!("{name}.diskqueue.meta.dat")),
            meta.encode().as_bytes(),
        )
        .is_err()
    {
        return 0;
    }
    let options = broker::diskqueue::DiskQueueOptions {
        max_msg_size: 4096,
        ..Default::default()
    };
    let Ok(queue) = broker::diskqueue::DiskQueue::open(name, dir.path(), options) else {
        return 0;
    };
    let mut records = 0;
    while queue.pop().is_some() && records < 10_000 {
        records += 1;
    }
    records
}
