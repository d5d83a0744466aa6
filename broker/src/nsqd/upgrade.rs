//! The stream upgrades that follow a negotiated IDENTIFY reply, in nsqd's order: TLS
//! handshake then `OK` over TLS; Snappy then `OK` through it; DEFLATE then `OK` through it.
//! Bytes the client pipelined after IDENTIFY move from the read buffer into the new layer.

use std::io;

use nsq_wire::frame::encode_response;
use nsq_wire::OK;

use super::connection::Conn;
use super::transport::Upgrade;

impl Conn {
    /// Performs `upgrade` right after the IDENTIFY reply was flushed.
    pub(super) async fn run_upgrade(&mut self, upgrade: Upgrade) -> io::Result<()> {
        if upgrade.tls {
            let Some(acceptor) = self.security.tls.clone() else {
                return Err(io::Error::other(
                    "TLS negotiated without a TLS configuration",
                ));
            };
            let pending = self.read_buf.split();
            if let Err(err) = self.stream.start_tls(&acceptor, pending).await {
                tracing::warn!(client = self.client.id, %err, "TLS handshake failed");
                return Err(err);
            }
            if let Some(tls) = self.stream.tls() {
                let mut info = self.client.info.lock();
                info.tls = true;
                info.tls_version = tls.version.clone();
                info.tls_cipher_suite = tls.cipher_suite.clone();
            }
            self.send_ok().await?;
        }
        if upgrade.snappy {
            let pending = self.read_buf.split();
            self.stream.start_snappy(pending);
            self.client.info.lock().snappy = true;
            self.send_ok().await?;
        }
        if let Some(level) = upgrade.deflate {
            let pending = self.read_buf.split();
            self.stream.start_deflate(level, pending);
            self.client.info.lock().deflate = true;
            self.send_ok().await?;
        }
        Ok(())
    }

    async fn send_ok(&mut self) -> io::Result<()> {
        encode_response(&mut self.out, OK);
        self.flush().await
    }
}
