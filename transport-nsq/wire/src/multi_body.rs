//! The messages of an MPUB body kept in their wire layout: `([size: u32 BE][bytes])*` in one
//! shared buffer.
//!
//! A broker can hold millions of these bodies; keeping the records as they arrived (instead of
//! one `Bytes` handle per message) costs 4 bytes per message rather than 32, and handing a
//! body out is a slice of the shared buffer, never a copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A non-empty run of message bodies in MPUB record layout.
///
/// Built by the server-side decoder after validating every record
/// ([`crate::command::CommandDecoder::decode_body`]) or from bodies with
/// [`MultiBody::from_bodies`] (one copy into a single buffer).
///
/// ```
/// use bytes::Bytes;
/// use nsq_wire::multi_body::MultiBody;
///
/// let mut bodies = MultiBody::from_bodies(&[Bytes::from_static(b"a"), Bytes::from_static(b"bc")]);
/// assert_eq!(bodies.len(), 2);
/// assert_eq!(bodies.body_bytes(), 3);
/// let front = bodies.split_to(1);
/// assert_eq!(front.iter().collect::<Vec<_>>(), vec![Bytes::from_static(b"a")]);
/// assert_eq!(bodies.pop_front(), Some(Bytes::from_static(b"bc")));
/// assert!(bodies.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiBody {
    records: Bytes,
    count: usize,
}

impl MultiBody {
    /// Wraps records that the caller has already validated: exactly `count` well-formed
    /// `[size][bytes]` records filling `records`.
    pub(crate) fn from_validated(records: Bytes, count: usize) -> Self {
        MultiBody { records, count }
    }

    /// Copies `bodies` into one buffer of records.
    pub fn from_bodies(bodies: &[Bytes]) -> Self {
        let total: usize = bodies.iter().map(|b| 4 + b.len()).sum();
        let mut records = BytesMut::with_capacity(total);
        for body in bodies {
            records.put_u32(body.len() as u32);
            records.put_slice(body);
        }
        MultiBody {
            records: records.freeze(),
            count: bodies.len(),
        }
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no message is left.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sum of the body sizes (without the 4-byte size fields).
    pub fn body_bytes(&self) -> usize {
        self.records.len() - 4 * self.count
    }

    /// Takes the first body off the front (a slice of the shared buffer).
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let size = self.front_size()?;
        self.records.advance(4);
        self.count -= 1;
        Some(self.records.split_to(size))
    }

    /// Splits off the first `n` bodies (all of them if `n >= len`); `self` keeps the rest.
    pub fn split_to(&mut self, n: usize) -> MultiBody {
        let n = n.min(self.count);
        let mut offset = 0;
        for _ in 0..n {
            offset += 4 + record_size(&self.records[offset..]).unwrap_or(0);
        }
        let front = self.records.split_to(offset.min(self.records.len()));
        self.count -= n;
        MultiBody {
            records: front,
            count: n,
        }
    }

    /// The bodies in order, as slices of the shared buffer.
    pub fn iter(&self) -> IntoIter {
        IntoIter(self.clone())
    }

    fn front_size(&self) -> Option<usize> {
        let size = record_size(&self.records)?;
        (self.records.len() >= 4 + size).then_some(size)
    }
}

/// The bodies of a [`MultiBody`], front first.
#[derive(Debug, Clone)]
pub struct IntoIter(MultiBody);

impl Iterator for IntoIter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.0.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.len(), Some(self.0.len()))
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for MultiBody {
    type Item = Bytes;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(self)
    }
}

fn record_size(records: &[u8]) -> Option<usize> {
    let size: [u8; 4] = records.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(size) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("body-{i}"))).collect()
    }

    #[test]
    fn round_trips_bodies_in_order() {
        let input = bodies(5);
        let multi = MultiBody::from_bodies(&input);
        assert_eq!(multi.iter().collect::<Vec<_>>(), input);
        assert_eq!(multi.clone().into_iter().collect::<Vec<_>>(), input);
        assert_eq!(multi.len(), 5);
    }

    #[test]
    fn split_to_divides_without_losing_a_body() {
        let input = bodies(7);
        for n in 0..=8 {
            let mut rest = MultiBody::from_bodies(&input);
            let front = rest.split_to(n);
            assert_eq!(front.len(), n.min(7));
            let mut joined: Vec<Bytes> = front.iter().collect();
            joined.extend(rest.iter());
            assert_eq!(joined, input, "split at {n}");
        }
    }

    #[test]
    fn bodies_share_the_buffer() {
        let mut multi = MultiBody::from_bodies(&bodies(2));
        let base = multi.records.as_ptr() as usize;
        let first = multi.pop_front().unwrap();
        assert_eq!(first.as_ptr() as usize, base + 4);
    }
}
