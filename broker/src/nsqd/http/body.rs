//! Reading and splitting HTTP publish bodies the way nsqd does: bounded reads (never more than
//! the limit is buffered), `/mpub` text mode (newline separated) and binary mode (count, then
//! size-prefixed messages; unlike TCP MPUB there is no leading total size).

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;

use crate::http_api::ApiError;

/// Reads at most `limit` bytes of `body` (the rest is not read). A transport error is 500
/// `INTERNAL_ERROR`. Callers detect "too big" as `len == limit` with `limit = max + 1`, as Go's
/// `io.LimitReader` idiom does.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while buf.len() < limit {
        match stream.next().await {
            None => break,
            Some(Ok(chunk)) => {
                let take = chunk.len().min(limit - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Some(Err(_)) => return Err(ApiError::internal()),
        }
    }
    Ok(buf.freeze())
}

/// Splits a text-mode `/mpub` body (already read with limit `max_body_size + 1`): one message
/// per `\n`-terminated line, trailing `\n` removed (`\r` kept), empty lines skipped.
pub fn split_text_mpub(
    body: &Bytes,
    max_msg_size: usize,
    max_body_size: usize,
) -> Result<Vec<Bytes>, ApiError> {
    let read_max = max_body_size + 1;
    let mut messages = Vec::new();
    let mut total = 0usize;
    let mut start = 0usize;
    while start < body.len() {
        let end = body[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| start + i + 1);
        let block = body.slice(start..end);
        start = end;
        total += block.len();
        if total == read_max {
            return Err(ApiError::too_large("BODY_TOO_BIG"));
        }
        let line = match block.last() {
            Some(b'\n') => block.slice(..block.len() - 1),
            _ => block,
        };
        if line.len() > max_msg_size {
            return Err(ApiError::too_large("MSG_TOO_BIG"));
        }
        if !line.is_empty() {
            messages.push(line);
        }
    }
    Ok(messages)
}

/// Parses a binary-mode `/mpub` body: `[count u32 BE]` then `count` times
/// `[size u32 BE][size bytes]`. Errors are 413 `BAD_BODY` (count) or `BAD_MESSAGE` (a message),
/// the TCP MPUB error codes without their `E_` prefix. Trailing bytes are ignored, as in Go.
pub fn parse_binary_mpub(
    mut body: Bytes,
    max_msg_size: usize,
    max_body_size: usize,
) -> Result<Vec<Bytes>, ApiError> {
    let bad_body = ApiError::too_large("BAD_BODY");
    let bad_message = ApiError::too_large("BAD_MESSAGE");
    if body.len() < 4 {
        return Err(bad_body);
    }
    let count = body.get_i32();
    let max_messages = (max_body_size.saturating_sub(4) / 5) as i64;
    if count <= 0 || i64::from(count) > max_messages {
        return Err(bad_body);
    }
    let mut messages = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if body.len() < 4 {
            return Err(bad_message);
        }
        let size = body.get_i32();
        if size <= 0 || size as usize > max_msg_size || body.len() < size as usize {
            return Err(bad_message);
        }
        messages.push(body.split_to(size as usize));
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[Bytes]) -> Vec<&[u8]> {
        v.iter().map(|b| b.as_ref()).collect()
    }

    #[test]
    fn text_mode_splits_and_skips_empty_lines() {
        let body = Bytes::from_static(b"a\nb\n\nc\r\nd");
        let msgs = split_text_mpub(&body, 100, 100).unwrap();
        assert_eq!(texts(&msgs), vec![&b"a"[..], b"b", b"c\r", b"d"]);
        assert!(split_text_mpub(&Bytes::from_static(b"\n\n"), 10, 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn text_mode_limits() {
        let body = Bytes::from_static(b"ok\ntoolong\n");
        assert_eq!(
            split_text_mpub(&body, 5, 100).unwrap_err().message,
            "MSG_TOO_BIG"
        );
        // read with limit max_body_size + 1 = 6: the body reached the limit.
        let body = Bytes::from_static(b"abc\nde");
        assert_eq!(
            split_text_mpub(&body, 100, 5).unwrap_err().message,
            "BODY_TOO_BIG"
        );
        let body = Bytes::from_static(b"abc\nd");
        assert_eq!(split_text_mpub(&body, 100, 5).unwrap().len(), 2);
    }

    #[test]
    fn binary_mode() {
        let body = Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
        let msgs = parse_binary_mpub(body, 100, 1000).unwrap();
        assert_eq!(texts(&msgs), vec![&b"a"[..], b"b"]);
    }

    #[test]
    fn binary_mode_errors() {
        let cases: &[(&[u8], &str)] = &[
            (&[0, 0, 0], "BAD_BODY"),
            (&[0, 0, 0, 0], "BAD_BODY"),
            (&[0xff, 0xff, 0xff, 0xff], "BAD_BODY"),
            (&[0, 0, 0, 1], "BAD_MESSAGE"),
            (&[0, 0, 0, 1, 0, 0, 0, 0], "BAD_MESSAGE"),
            (&[0, 0, 0, 1, 0, 0, 0, 5, b'a'], "BAD_MESSAGE"),
            (&[0, 0, 0, 1, 0, 0, 0, 101], "BAD_MESSAGE"),
        ];
        for (body, expected) in cases {
            let err = parse_binary_mpub(Bytes::copy_from_slice(body), 100, 1000).unwrap_err();
            assert_eq!(err.message, *expected, "{body:?}");
            assert_eq!(err.status, 413);
        }
        // count above (max_body_size - 4) / 5
        let err = parse_binary_mpub(Bytes::from_static(&[0, 0, 0, 3]), 100, 14).unwrap_err();
        assert_eq!(err.message, "BAD_BODY");
    }
}
