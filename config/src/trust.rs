//! `[trust]`: an optional pinned issuer. A certificate whose issuer only *claims* to be the
//! federation's CA (its issuer name is text anyone can write) is checked against the real CA
//! certificate: with `issuer_ca_file` set, an office certificate counts only when its
//! signature verifies with one of the pinned CA keys. One that does not is refused (the agent
//! is told why) and noted in the report's scan errors, so an operator sees the attempt.

use std::path::PathBuf;

use certfleet_certinfo::parse_der;
use serde::Deserialize;

use crate::error::{ConfigError, invalid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// PEM file with the issuing CA certificate(s) of office certificates, e.g. the
    /// federation's `KANAGAWA KOKUHOREN CA` (old and new CA during a CA change).
    pub issuer_ca_file: Option<PathBuf>,
}

/// The pinned issuers: each CA certificate as DER (checked to parse at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustSettings {
    pub issuer_cas: Vec<Vec<u8>>,
}

impl TrustSettings {
    /// `None` when no issuer is pinned (every office certificate counts, as before).
    pub fn resolve(section: &TrustSection) -> Result<Option<Self>, ConfigError> {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let Some(path) = &section.issuer_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path)
            .map_err(|e| invalid("trust.issuer_ca_file", format!("{}: {e}", path.display())))?;
        let mut issuer_cas = Vec::new();
        for der in CertificateDer::pem_slice_iter(&pem) {
            let der = der
                .map_err(|e| invalid("trust.issuer_ca_file", format!("{}: {e}", path.display())))?;
            parse_der(&der).map_err(|e| {
                invalid(
                    "trust.issuer_ca_file",
                    format!(
                        "{}: certificate {}: {e}",
                        path.display(),
                        issuer_cas.len() + 1
                    ),
                )
            })?;
            issuer_cas.push(der.to_vec());
        }
        if issuer_cas.is_empty() {
            return Err(invalid(
                "trust.issuer_ca_file",
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        Ok(Some(TrustSettings { issuer_cas }))
    }
}
