//! nsqd's TLS server configuration (rustls) from `--tls-cert`, `--tls-key`,
//! `--tls-root-ca-file`, `--tls-client-auth-policy` and `--tls-min-version`, and what a
//! finished handshake tells `/stats` and the auth server (version, cipher, peer CN).
//!
//! rustls speaks TLS 1.2 and 1.3 only, so `ssl3.0`/`tls1.0`/`tls1.1` (Go's defaults) mean
//! "1.2 and up" here; `tls1.3` restricts to 1.3.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio_rustls::TlsAcceptor;

use super::options::NsqdOptions;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A PEM file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{0}")]
    Invalid(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The ring crypto provider (explicit, so a second provider in the build cannot make
/// rustls' process default ambiguous).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The acceptor for TCP upgrades and the HTTPS listener, or `None` without cert and key.
pub fn acceptor(opts: &NsqdOptions) -> Result<Option<TlsAcceptor>, TlsConfigError> {
    let (Some(cert), Some(key)) = (&opts.tls_cert, &opts.tls_key) else {
        return Ok(None);
    };
    let provider = provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match opts.tls_min_version.as_str() {
        "tls1.3" => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = match opts.tls_client_auth_policy.as_str() {
        "require" => builder.with_client_cert_verifier(Arc::new(AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
        })),
        "require-verify" => {
            let Some(ca) = &opts.tls_root_ca_file else {
                return Err(TlsConfigError::Invalid(
                    "--tls-client-auth-policy=require-verify needs --tls-root-ca-file".into(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsConfigError::Invalid(format!("bad CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsConfigError::Invalid(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(read_certs(cert)?, read_key(key)?)?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Reads every certificate of a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| read_error(path, source))?;
    if certs.is_empty() {
        return Err(TlsConfigError::Invalid(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| read_error(path, source))?
        .ok_or_else(|| TlsConfigError::Invalid(format!("no private key in {}", path.display())))
}

fn open(path: &Path) -> Result<BufReader<File>, TlsConfigError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| read_error(path, source))
}

fn read_error(path: &Path, source: std::io::Error) -> TlsConfigError {
    TlsConfigError::Read {
        path: path.display().to_string(),
        source,
    }
}

/// `--tls-client-auth-policy=require` (Go's `RequireAnyClientCert`): a certificate must be
/// presented and its handshake signature must be valid, but it is not checked against CAs.
#[derive(Debug)]
struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a finished server handshake negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLS1.2` or `TLS1.3` (Go's names).
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher_suite: String,
    /// The common name of the client certificate's subject, or `""`.
    pub common_name: String,
}

impl TlsInfo {
    /// Reads the negotiated parameters off a server connection.
    pub fn of(conn: &ServerConnection) -> TlsInfo {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS1.2",
            _ => "",
        };
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("")
            .to_owned();
        let common_name = conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| subject_common_name(cert))
            .unwrap_or_default();
        TlsInfo {
            version: version.to_owned(),
            cipher_suite,
            common_name,
        }
    }
}

/// The subject CN of a DER certificate (a minimal DER walk: Certificate → TBSCertificate →
/// [version] serial signature issuer validity subject).
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (_, tbs_outer, _) = der_tlv(cert)?;
    let (_, mut tbs, _) = der_tlv(tbs_outer)?;
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 6 {
        let (tag, value, rest) = der_tlv(tbs)?;
        if !(fields.is_empty() && tag == 0xa0) {
            fields.push(value);
        }
        tbs = rest;
    }
    // serial, signature, issuer, validity, subject
    let mut rdns = *fields.get(4)?;
    while !rdns.is_empty() {
        let (_, set, rest) = der_tlv(rdns)?;
        rdns = rest;
        let (_, attr, _) = der_tlv(set)?;
        let (oid_tag, oid, value) = der_tlv(attr)?;
        if oid_tag == 0x06 && oid == [0x55, 0x04, 0x03] {
            let (_, name, _) = der_tlv(value)?;
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

/// One DER TLV: `(tag, value, rest)`.
fn der_tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*data.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if end > data.len() {
        return None;
    }
    Some((tag, &data[header..end], &data[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client-one");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_common_name(cert.der()).as_deref(),
            Some("client-one")
        );
        assert_eq!(subject_common_name(b"\x30\x82"), None);
        assert_eq!(subject_common_name(&[]), None);
    }
}
