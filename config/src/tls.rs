//! `[tls]`: the gRPC server's certificate and key (PEM), checked when the settings are
//! resolved so a bad file fails the start, not the first agent's handshake.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{ConfigError, invalid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// TLS server identity as PEM text.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Reads and checks the identity; without one, only an explicit `plaintext` is accepted.
pub(crate) fn resolve(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    plaintext: bool,
) -> Result<Option<TlsIdentity>, ConfigError> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read_to_string(&cert)
                .map_err(|e| invalid("tls.cert_file", format!("{}: {e}", cert.display())))?;
            let key_pem = std::fs::read_to_string(&key)
                .map_err(|e| invalid("tls.key_file", format!("{}: {e}", key.display())))?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("tls.cert_file", format!("{}: {e}", cert.display())))?;
            if certs.is_empty() {
                return Err(invalid(
                    "tls.cert_file",
                    format!("{} holds no certificate", cert.display()),
                ));
            }
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| invalid("tls.key_file", format!("{}: {e}", key.display())))?;
            Ok(Some(TlsIdentity { cert_pem, key_pem }))
        }
        (None, None) if plaintext => Ok(None),
        (None, None) => Err(invalid(
            "tls",
            "no TLS certificate configured: run `certfleet-collector init --dir DIR` and pass \
             --config DIR/collector.toml (plaintext only with --insecure-plaintext)",
        )),
        (Some(_), None) => Err(invalid(
            "tls.key_file",
            "a certificate was given without its key",
        )),
        (None, Some(_)) => Err(invalid(
            "tls.cert_file",
            "a key was given without its certificate",
        )),
    }
}
