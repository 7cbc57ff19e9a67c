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
    /// The CA certificate the agents pin (`ca.pem` from `init`). Optional; when given, the
    /// collector watches its expiry too (`/metrics`, start-up log, dashboard).
    pub ca_file: Option<PathBuf>,
}

/// A PEM file of one or more certificates, read and checked at start.
#[derive(Debug, Clone)]
pub struct PemFile {
    pub path: PathBuf,
    pub pem: String,
}

/// Reads `path` for `setting` and checks that it holds at least one PEM certificate.
pub(crate) fn read_certificates(
    setting: &'static str,
    path: &std::path::Path,
) -> Result<PemFile, ConfigError> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read_to_string(path)
        .map_err(|e| invalid(setting, format!("{}: {e}", path.display())))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(setting, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            setting,
            format!("{} holds no certificate", path.display()),
        ));
    }
    Ok(PemFile {
        path: path.to_owned(),
        pem,
    })
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
