//! Byte-exact vectors for command encoding and the server-side decoder.

use super::*;

fn encode(cmd: &Command) -> Vec<u8> {
    let mut buf = BytesMut::new();
    cmd.encode(&mut buf);
    buf.to_vec()
}

fn line(bytes: &[u8]) -> Line {
    let mut buf = BytesMut::from(bytes);
    CommandDecoder::new(BodyLimits::default())
        .decode_line(&mut buf)
        .unwrap()
        .unwrap()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

const MPUB_SPEC: &[u8] =
    b"MPUB t\n\x00\x00\x00\x0F\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x02bc";

#[test]
fn encodes_simple_commands() {
    let id = MessageId(*b"0a1b2c3d4e5f6071");
    assert_eq!(encode(&Command::Nop), b"NOP\n");
    assert_eq!(encode(&Command::Cls), b"CLS\n");
    assert_eq!(encode(&Command::Rdy(100)), b"RDY 100\n");
    assert_eq!(encode(&Command::Fin(id)), b"FIN 0a1b2c3d4e5f6071\n");
    assert_eq!(
        encode(&Command::Req {
            id,
            timeout_ms: 5000
        }),
        b"REQ 0a1b2c3d4e5f6071 5000\n"
    );
    assert_eq!(encode(&Command::Touch(id)), b"TOUCH 0a1b2c3d4e5f6071\n");
    assert_eq!(
        encode(&Command::Sub {
            topic: "t".into(),
            channel: "c".into()
        }),
        b"SUB t c\n"
    );
}

#[test]
fn encodes_bodies() {
    assert_eq!(
        encode(&Command::Dpub {
            topic: "t".into(),
            defer_ms: 1000,
            body: b("hi")
        }),
        b"DPUB t 1000\n\x00\x00\x00\x02hi"
    );
    assert_eq!(
        encode(&Command::Auth(b("secret"))),
        b"AUTH\n\x00\x00\x00\x06secret"
    );
    let identify = encode(&Command::Identify(IdentifyRequest {
        feature_negotiation: Some(true),
        ..Default::default()
    }));
    let json = br#"{"feature_negotiation":true}"#;
    let mut expected = b"IDENTIFY\n".to_vec();
    expected.extend_from_slice(&(json.len() as u32).to_be_bytes());
    expected.extend_from_slice(json);
    assert_eq!(identify, expected);
}

#[test]
fn encodes_mpub_layout() {
    let cmd = Command::Mpub {
        topic: "t".into(),
        bodies: vec![b("a"), b("bc")],
    };
    assert_eq!(encode(&cmd), MPUB_SPEC);
}

#[test]
fn splits_lines_like_nsqd() {
    let l = line(b"SUB t c\n");
    assert_eq!(l.name, b("SUB"));
    assert_eq!(l.params, vec![b("t"), b("c")]);

    let l = line(b"NOP\r\n");
    assert_eq!(l.name, b("NOP"));
    assert!(l.params.is_empty());

    let l = line(b"RDY  5 \n");
    assert_eq!(l.params, vec![b(""), b("5"), b("")]);

    let l = line(b"\n");
    assert_eq!(l.name, b(""));
    assert!(l.params.is_empty());
}

#[test]
fn waits_for_newline_and_limits_line_length() {
    let mut dec = CommandDecoder::new(BodyLimits::default());
    let mut buf = BytesMut::from(&b"NO"[..]);
    assert!(dec.decode_line(&mut buf).unwrap().is_none());

    let mut long = vec![b'A'; MAX_LINE_LENGTH - 1];
    long.push(b'\n');
    let mut buf = BytesMut::from(&long[..]);
    let l = dec.decode_line(&mut buf).unwrap().unwrap();
    assert_eq!(l.name.len(), MAX_LINE_LENGTH - 1);

    let mut buf = BytesMut::from(&vec![b'A'; MAX_LINE_LENGTH][..]);
    assert!(matches!(
        dec.decode_line(&mut buf),
        Err(DecodeError::LineTooLong)
    ));
}

#[test]
fn decodes_pipelined_requests() {
    let mut dec = CommandDecoder::new(BodyLimits::default());
    let mut buf = BytesMut::from(&b"PUB t\n\x00\x00\x00\x02hiNOP\n"[..]);
    let first = dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(first.body, Some(Body::Single(b("hi"))));
    let second = dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(second.line.name, b("NOP"));
    assert!(dec.decode(&mut buf).unwrap().is_none());
}

#[test]
fn decodes_body_split_across_reads() {
    let mut dec = CommandDecoder::new(BodyLimits::default());
    let mut buf = BytesMut::new();
    for chunk in MPUB_SPEC.chunks(3) {
        buf.extend_from_slice(chunk);
        if let Some(req) = dec.decode(&mut buf).unwrap() {
            assert_eq!(
                req.body,
                Some(Body::Multi(MultiBody::from_bodies(&[b("a"), b("bc")])))
            );
            assert!(buf.is_empty());
            return;
        }
    }
    panic!("MPUB never completed");
}

fn body_err(bytes: &[u8], kind: BodyKind) -> BodyError {
    let mut buf = BytesMut::from(bytes);
    CommandDecoder::new(BodyLimits::default())
        .decode_body(&mut buf, kind)
        .unwrap_err()
}

const SINGLE: BodyKind = BodyKind::Single { max: 100 };
const MULTI: BodyKind = BodyKind::Multi {
    max_body: 100,
    max_msg: 10,
};

#[test]
fn rejects_bad_single_sizes_before_allocating() {
    assert_eq!(
        body_err(b"\x00\x00\x00\x00", SINGLE),
        BodyError::InvalidSize(0)
    );
    assert_eq!(
        body_err(b"\xff\xff\xff\xff", SINGLE),
        BodyError::InvalidSize(-1)
    );
    assert_eq!(
        body_err(b"\x00\x00\x00\x65", SINGLE),
        BodyError::TooBig {
            size: 101,
            max: 100
        }
    );
    assert_eq!(
        body_err(b"\x7f\xff\xff\xff", SINGLE),
        BodyError::TooBig {
            size: i32::MAX,
            max: 100
        }
    );
}

#[test]
fn rejects_bad_mpub_structure() {
    assert_eq!(
        body_err(b"\x00\x00\x00\x04\x00\x00\x00\x00", MULTI),
        BodyError::InvalidCount(0)
    );
    // (100 - 4) / 5 = 19 is the largest count.
    assert_eq!(
        body_err(b"\x00\x00\x00\x08\x00\x00\x00\x14", MULTI),
        BodyError::InvalidCount(20)
    );
    assert_eq!(
        body_err(
            b"\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x00",
            MULTI
        ),
        BodyError::InvalidMessageSize { index: 1, size: 0 }
    );
    assert_eq!(
        body_err(b"\x00\x00\x00\x14\x00\x00\x00\x01\x00\x00\x00\x0b", MULTI),
        BodyError::MessageTooBig { size: 11, max: 10 }
    );
    // Declared 9 bytes, count 2 but only room for one message.
    assert_eq!(
        body_err(b"\x00\x00\x00\x09\x00\x00\x00\x02\x00\x00\x00\x01a", MULTI),
        BodyError::Inconsistent(9)
    );
    // Count 1 but trailing bytes inside the declared size.
    assert_eq!(
        body_err(b"\x00\x00\x00\x0a\x00\x00\x00\x01\x00\x00\x00\x01ab", MULTI),
        BodyError::Inconsistent(10)
    );
}

#[test]
fn reports_truncated_bodies_at_eof() {
    let cases: [(&[u8], BodyKind, BodyError); 6] = [
        (b"\x00\x00", SINGLE, BodyError::SizeUnreadable),
        (b"\x00\x00\x00\x05hi", SINGLE, BodyError::BodyUnreadable),
        (
            b"\x00\x00\x00\x0d\x00\x00",
            MULTI,
            BodyError::CountUnreadable,
        ),
        (
            b"\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x00\x01a\x00",
            MULTI,
            BodyError::MessageSizeUnreadable(1),
        ),
        (
            b"\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x00\x03a",
            MULTI,
            BodyError::MessageBodyUnreadable,
        ),
        (b"\x00\x00\x00\x00", SINGLE, BodyError::InvalidSize(0)),
    ];
    for (bytes, kind, expected) in cases {
        let mut buf = BytesMut::from(bytes);
        let mut dec = CommandDecoder::new(BodyLimits::default());
        assert_eq!(dec.body_eof_error(&mut buf, kind), expected, "{bytes:?}");
    }
}

#[test]
fn decoder_eof_reports_body_error() {
    let mut dec = CommandDecoder::new(BodyLimits::default());
    let mut buf = BytesMut::from(&b"PUB t\n\x00\x00\x00\x05hi"[..]);
    assert!(dec.decode(&mut buf).unwrap().is_none());
    assert!(matches!(
        dec.decode_eof(&mut buf),
        Err(DecodeError::Body(BodyError::BodyUnreadable))
    ));
}

#[test]
fn body_kinds_follow_command_names() {
    let limits = BodyLimits {
        max_msg_size: 7,
        max_body_size: 9,
    };
    assert_eq!(
        line(b"PUB t\n").body_kind(&limits),
        Some(BodyKind::Single { max: 7 })
    );
    assert_eq!(
        line(b"DPUB t 1\n").body_kind(&limits),
        Some(BodyKind::Single { max: 7 })
    );
    assert_eq!(
        line(b"IDENTIFY\n").body_kind(&limits),
        Some(BodyKind::Single { max: 9 })
    );
    assert_eq!(
        line(b"AUTH\n").body_kind(&limits),
        Some(BodyKind::Single { max: 9 })
    );
    assert_eq!(
        line(b"MPUB t\n").body_kind(&limits),
        Some(BodyKind::Multi {
            max_body: 9,
            max_msg: 7
        })
    );
    assert_eq!(line(b"pub t\n").body_kind(&limits), None);
    assert_eq!(line(b"RDY 1\n").body_kind(&limits), None);
}
