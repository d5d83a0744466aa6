//! A minimal raw protocol V2 connection for the bench tools: one buffered socket, frames
//! decoded with `nsq-wire`. Keeping the client this thin makes the figures about the broker.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::BytesMut;
use nsq_wire::command::Command;
use nsq_wire::frame::{Frame, FrameDecoder};
use nsq_wire::MAGIC_V2;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawConn {
    stream: TcpStream,
    decoder: FrameDecoder,
    read_buf: BytesMut,
    pub write_buf: BytesMut,
}

impl RawConn {
    /// Dials `addr` (1 s timeout, as Go's bench tools) and sends the magic.
    pub async fn connect(addr: &str) -> anyhow::Result<RawConn> {
        let stream = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr))
            .await
            .with_context(|| format!("timed out connecting to {addr}"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut conn = RawConn {
            stream,
            decoder: FrameDecoder::new(64 * 1024 * 1024),
            read_buf: BytesMut::with_capacity(256 * 1024),
            write_buf: BytesMut::with_capacity(64 * 1024),
        };
        conn.write_buf.extend_from_slice(&MAGIC_V2);
        Ok(conn)
    }

    /// Appends a command to the write buffer.
    pub fn push(&mut self, command: &Command) {
        command.encode(&mut self.write_buf);
    }

    /// Writes the buffered commands.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.write_buf.is_empty() {
            self.stream.write_all(&self.write_buf).await?;
            self.write_buf.clear();
        }
        Ok(())
    }

    /// Writes raw pre-encoded bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.flush().await?;
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// The next frame if one is already buffered (no syscall).
    pub fn buffered_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        self.decoder.decode_next(&mut self.read_buf)
    }

    /// Reads whatever the socket has; 0 on EOF.
    pub async fn fill(&mut self) -> anyhow::Result<usize> {
        Ok(self.stream.read_buf(&mut self.read_buf).await?)
    }

    /// The next frame, reading from the socket as needed. `None` on EOF.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.decoder.decode_next(&mut self.read_buf)? {
                return Ok(Some(frame));
            }
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next frame that is not a heartbeat (heartbeats are answered with NOP); an error
    /// frame or EOF is an error.
    pub async fn expect_response(&mut self) -> anyhow::Result<bytes::Bytes> {
        loop {
            match self.next_frame().await? {
                Some(Frame::Response(data)) if &data[..] == nsq_wire::HEARTBEAT => {
                    self.push(&Command::Nop);
                    self.flush().await?;
                }
                Some(Frame::Response(data)) => return Ok(data),
                Some(Frame::Error(data)) => {
                    bail!("nsqd error: {}", String::from_utf8_lossy(&data))
                }
                Some(Frame::Message(_)) => bail!("unexpected message frame"),
                None => bail!("nsqd closed the connection"),
            }
        }
    }
}

/// `Decoder::decode` under a name that reads well at the call site.
trait DecodeNext {
    fn decode_next(&mut self, buf: &mut BytesMut) -> anyhow::Result<Option<Frame>>;
}

impl DecodeNext for FrameDecoder {
    fn decode_next(&mut self, buf: &mut BytesMut) -> anyhow::Result<Option<Frame>> {
        use tokio_util::codec::Decoder;
        Ok(self.decode(buf)?)
    }
}
