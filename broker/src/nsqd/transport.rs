//! The byte stream under one client connection and its IDENTIFY upgrades: plain TCP, then
//! optionally TLS, then optionally Snappy or DEFLATE (from `nsq_wire::compress`).
//!
//! The connection reads plain bytes with [`Transport::read_buf`] and writes plain bytes
//! with [`Transport::write_all`]; this type hides what is underneath. Bytes the client sent
//! right after the IDENTIFY body (already in the connection's read buffer) are handed to
//! the upgrade and replayed into the new layer, never lost.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use nsq_wire::compress::{Compressor, Decompressor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::tls::TlsInfo;

/// nsqd's deadline for the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most plain bytes one read inflates, so a compression bomb is processed piecewise.
const INFLATE_BUDGET: usize = 64 * 1024;
/// Read buffer growth for the compressed side.
const RAW_READ_RESERVE: usize = 16 * 1024;

/// A bidirectional byte stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// The upgrades an IDENTIFY negotiated, performed in nsqd's order: TLS, snappy, deflate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// TLS server handshake.
    pub tls: bool,
    /// Snappy framing.
    pub snappy: bool,
    /// Raw DEFLATE at this level.
    pub deflate: Option<u8>,
}

impl Upgrade {
    /// Whether anything is to be done.
    pub fn any(&self) -> bool {
        self.tls || self.snappy || self.deflate.is_some()
    }
}

/// The stream of one client connection.
pub(crate) struct Transport {
    io: Box<dyn Io>,
    compressor: Compressor,
    inflate: Option<Decompressor>,
    raw_in: BytesMut,
    wire_out: BytesMut,
    tls: Option<TlsInfo>,
}

impl Transport {
    /// A plain TCP transport.
    pub fn plain(stream: TcpStream) -> Self {
        Transport {
            io: Box::new(stream),
            compressor: Compressor::None,
            inflate: None,
            raw_in: BytesMut::new(),
            wire_out: BytesMut::new(),
            tls: None,
        }
    }

    /// What the TLS handshake negotiated, once upgraded.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Whether snappy or deflate is active.
    pub fn is_compressed(&self) -> bool {
        self.inflate.is_some()
    }

    /// Reads plain bytes into `buf`; `Ok(0)` is end of stream. Cancel-safe: compressed
    /// bytes not yet inflated stay in the transport.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Some(inflate) = &mut self.inflate else {
            return self.io.read_buf(buf).await;
        };
        loop {
            if !self.raw_in.is_empty() {
                let n = inflate
                    .decompress(&mut self.raw_in, buf, INFLATE_BUDGET)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if n > 0 {
                    return Ok(n);
                }
            }
            self.raw_in.reserve(RAW_READ_RESERVE);
            if self.io.read_buf(&mut self.raw_in).await? == 0 {
                return Ok(0);
            }
        }
    }

    /// Writes plain bytes (compressed if negotiated) and flushes them to the socket.
    pub async fn write_all(&mut self, plain: &[u8]) -> io::Result<()> {
        if matches!(self.compressor, Compressor::None) {
            self.io.write_all(plain).await?;
        } else {
            self.wire_out.clear();
            self.compressor
                .compress(plain, &mut self.wire_out)
                .map_err(io::Error::other)?;
            self.io.write_all(&self.wire_out).await?;
            if self.wire_out.capacity() > 1024 * 1024 {
                self.wire_out = BytesMut::new();
            }
        }
        self.io.flush().await
    }

    /// Runs the TLS server handshake; `pending` are bytes the client sent after IDENTIFY
    /// (the start of its ClientHello, if it did not wait).
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor, pending: BytesMut) -> io::Result<()> {
        let placeholder: Box<dyn Io> = Box::new(empty::EmptyDuplex);
        let io = std::mem::replace(&mut self.io, placeholder);
        let rewind = Rewind { pending, inner: io };
        let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(rewind))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout"))??;
        self.tls = Some(TlsInfo::of(stream.get_ref().1));
        self.io = Box::new(stream);
        Ok(())
    }

    /// From now on both directions are Snappy-framed; `pending` are bytes already read.
    pub fn start_snappy(&mut self, pending: BytesMut) {
        self.compressor = Compressor::snappy();
        self.start_inflate(Decompressor::snappy(), pending);
    }

    /// From now on both directions are raw DEFLATE; our output at `level`.
    pub fn start_deflate(&mut self, level: u8, pending: BytesMut) {
        self.compressor = Compressor::deflate(level);
        self.start_inflate(Decompressor::deflate(), pending);
    }

    fn start_inflate(&mut self, inflate: Decompressor, pending: BytesMut) {
        let mut raw = pending;
        raw.extend_from_slice(&self.raw_in);
        self.raw_in = raw;
        self.inflate = Some(inflate);
    }
}

/// Replays `pending` before reading from `inner` (bytes that arrived before the upgrade).
struct Rewind {
    pending: BytesMut,
    inner: Box<dyn Io>,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.remaining());
            buf.put_slice(&self.pending[..n]);
            self.pending.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A closed stream, standing in while the real one is moved into the TLS layer.
mod empty {
    use super::*;

    pub struct EmptyDuplex;

    impl AsyncRead for EmptyDuplex {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for EmptyDuplex {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}
