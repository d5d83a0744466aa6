//! Per-nsqd security state built once at start: the TLS acceptor, the auth server client,
//! whether TCP clients must upgrade to TLS, and the connection limit (`--max-connections`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::auth::AuthClient;
use super::options::{NsqdOptions, TlsRequired};
use super::tls;
use super::NsqdError;

/// What every connection of one nsqd shares for TLS, AUTH and admission.
pub(crate) struct Security {
    /// Set when `--tls-cert` and `--tls-key` are configured.
    pub tls: Option<TlsAcceptor>,
    /// Set when `--auth-http-address` is configured.
    pub auth: Option<AuthClient>,
    /// TCP commands other than IDENTIFY need a TLS connection.
    pub tls_required: bool,
    connections: Option<Arc<Semaphore>>,
}

impl Security {
    /// Builds the state; bad certificates or keys fail nsqd's start.
    pub fn new(opts: &NsqdOptions) -> Result<Security, NsqdError> {
        let tls = tls::acceptor(opts).map_err(|e| NsqdError::InvalidOption(e.to_string()))?;
        if tls.is_none() && (opts.tls_required != TlsRequired::No) {
            return Err(NsqdError::InvalidOption(
                "cannot require TLS client connections without TLS key and cert".into(),
            ));
        }
        let auth = AuthClient::new(opts)
            .map_err(|e| NsqdError::InvalidOption(format!("auth HTTP client: {e}")))?;
        // Go nsqd: a client-auth policy implies --tls-required=true.
        let tls_required =
            opts.tls_required != TlsRequired::No || !opts.tls_client_auth_policy.is_empty();
        let connections =
            (opts.max_connections > 0).then(|| Arc::new(Semaphore::new(opts.max_connections)));
        Ok(Security {
            tls,
            auth,
            tls_required,
            connections,
        })
    }

    /// A slot for one more client connection; `Err(())` when `--max-connections` are open.
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, ()> {
        match &self.connections {
            None => Ok(None),
            Some(sem) => sem.clone().try_acquire_owned().map(Some).map_err(|_| ()),
        }
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .field("tls_required", &self.tls_required)
            .finish()
    }
}
