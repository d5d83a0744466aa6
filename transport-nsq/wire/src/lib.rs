//! The NSQ TCP protocol "V2" as a codec shared by our broker and our client.
//!
//! * [`names`]: topic/channel name rules (including `#ephemeral`).
//! * [`message`]: the message layout (timestamp, attempts, 16-byte id, body), which is also
//!   the on-disk record layout of go-diskqueue.
//! * [`frame`]: server → client frames (response, error, message), encoders and a client-side
//!   [`tokio_util::codec::Decoder`].
//! * [`command`]: client → server commands: [`command::Command`] with `encode` for clients
//!   and [`command::CommandDecoder`] for servers.
//! * [`multi_body`]: MPUB bodies kept in their record layout, one shared buffer.
//! * [`identify`]: the IDENTIFY request/response JSON documents.
//! * [`error`]: the `E_*` error codes and whether they are fatal.
//! * [`compress`]: the Snappy-framing and raw-DEFLATE stream upgrades.
//! * [`lookup`]: the nsqd ↔ nsqlookupd protocol "V1" framing (magic, size-prefixed replies).
//!
//! ```
//! use bytes::BytesMut;
//! use nsq_wire::{command::Command, MAGIC_V2};
//!
//! let mut out = BytesMut::new();
//! out.extend_from_slice(&MAGIC_V2);
//! Command::Nop.encode(&mut out);
//! assert_eq!(&out[..], b"  V2NOP\n");
//! ```

pub mod command;
pub mod compress;
pub mod error;
pub mod frame;
pub mod identify;
pub mod lookup;
pub mod message;
pub mod multi_body;
pub mod names;

/// The 4 bytes a client sends first to speak protocol V2 with nsqd.
pub const MAGIC_V2: [u8; 4] = *b"  V2";

/// Text of the response frame that answers most successful commands.
pub const OK: &[u8] = b"OK";

/// Text of the heartbeat response frame.
pub const HEARTBEAT: &[u8] = b"_heartbeat_";

/// Text of the response frame that answers `CLS`.
pub const CLOSE_WAIT: &[u8] = b"CLOSE_WAIT";
