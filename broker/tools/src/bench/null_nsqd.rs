//! `nsq bench null-nsqd`: a broker that stores nothing. It speaks enough of protocol V2 for
//! `bench writer`: reads the magic, decodes every command with the real codec (MPUB bodies
//! are read and validated in full) and answers `OK`. Pointing the writer at it gives the
//! ceiling of the machine and the tool (issue 10's "null broker"), to read a real nsqd's
//! PUB figure against.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::BytesMut;
use clap::Args;
use nsq_wire::command::{BodyLimits, CommandDecoder};
use nsq_wire::frame::encode_response;
use nsq_wire::{MAGIC_V2, OK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

#[derive(Debug, Args)]
pub struct NullArgs {
    /// <addr>:<port> to listen on (TCP).
    #[arg(long = "tcp-address", default_value = "127.0.0.1:4150")]
    tcp_address: SocketAddr,
}

pub async fn run(args: NullArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.tcp_address)
        .await
        .with_context(|| format!("binding {}", args.tcp_address))?;
    eprintln!("null-nsqd: listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(err) = serve(stream).await {
                eprintln!("null-nsqd: connection ended: {err:#}");
            }
        });
    }
}

async fn serve(mut stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut magic = [0u8; 4];
    stream.read_exact(&mut magic).await?;
    anyhow::ensure!(magic == MAGIC_V2, "bad protocol magic {magic:?}");
    let mut decoder = CommandDecoder::new(BodyLimits::default());
    let mut input = BytesMut::with_capacity(256 * 1024);
    let mut output = BytesMut::new();
    loop {
        while decoder.decode(&mut input)?.is_some() {
            encode_response(&mut output, OK);
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if input.capacity() - input.len() < 64 * 1024 {
            input.reserve(256 * 1024);
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}
