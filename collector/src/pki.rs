//! The private PKI of a deployment: a CA for the collector's TLS server certificate, created by
//! `certfleet-collector init` so a first deployment needs no external tooling.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A PEM certificate with its PEM private key.
#[derive(Clone)]
pub struct PemPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for PemPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches logs.
        f.debug_struct("PemPair")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("at least one --san (DNS name or IP address) is required for the server certificate")]
    NoSubjectAltName,
    #[error("invalid --san {0:?}: not a DNS name or IP address")]
    BadSubjectAltName(String),
    #[error("the CA key does not belong to the CA certificate (another deployment's ca-key.pem?)")]
    KeyMismatch,
    #[error("the CA certificate cannot be read: {0}")]
    BadCaCertificate(String),
}

/// Validity of the generated certificates. The CA outlives several server certificates.
const CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of a server certificate from `init` or `reissue-server-cert` (Apple's and the CA/B
/// forum's old upper bound; agents pin the CA, so a shorter one only means more re-issues).
pub const SERVER_VALIDITY_DAYS: i64 = 825;

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // Back-dated by an hour so agents whose clocks run a little behind still accept it.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// Creates a self-signed CA named `common_name`.
pub fn generate_ca(common_name: &str) -> Result<PemPair, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "certfleet");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, CA_VALIDITY_DAYS);
    let cert = params.self_signed(&key)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Creates a TLS server certificate for `sans` (DNS names or IP addresses), signed by the CA.
pub fn generate_server_cert(ca: &PemPair, sans: &[String]) -> Result<PemPair, PkiError> {
    generate_server_cert_for(ca, sans, SERVER_VALIDITY_DAYS)
}

/// A new server certificate and key for `sans`, valid `days`, signed by an existing CA
/// (`reissue-server-cert`): the agents keep trusting it because they pin the CA. Checks first
/// that the CA key is the CA certificate's.
pub fn reissue_server_cert(ca: &PemPair, sans: &[String], days: i64) -> Result<PemPair, PkiError> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())
        .map_err(|e| PkiError::BadCaCertificate(e.to_string()))?;
    let names = certfleet_certinfo::server_cert_names(&ca_der)
        .map_err(|e| PkiError::BadCaCertificate(e.to_string()))?;
    let key = KeyPair::from_pem(&ca.key_pem)?;
    if rcgen::PublicKeyData::der_bytes(&key) != names.public_key.as_slice() {
        return Err(PkiError::KeyMismatch);
    }
    generate_server_cert_for(ca, sans, days)
}

fn generate_server_cert_for(ca: &PemPair, sans: &[String], days: i64) -> Result<PemPair, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::NoSubjectAltName);
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, sans[0].as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = sans
        .iter()
        .map(|s| parse_san(s))
        .collect::<Result<_, _>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn parse_san(value: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid_dns = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
        });
    if !valid_dns {
        return Err(PkiError::BadSubjectAltName(value.to_owned()));
    }
    let name = value
        .to_owned()
        .try_into()
        .map_err(|_| PkiError::BadSubjectAltName(value.to_owned()))?;
    Ok(SanType::DnsName(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_certificate_is_signed_by_the_ca_and_names_every_san() {
        let ca = generate_ca("certfleet test CA").unwrap();
        let server =
            generate_server_cert(&ca, &["collector.example".into(), "127.0.0.1".into()]).unwrap();
        let der = rustls_pemfile_der(&server.cert_pem);
        let info = certfleet_certinfo::parse_der(&der).unwrap();
        assert_eq!(info.issuer_cn.as_deref(), Some("certfleet test CA"));
        assert_eq!(info.subject_cn.as_deref(), Some("collector.example"));
        assert!(info.not_after > info.not_before);
    }

    #[test]
    fn rejects_missing_and_malformed_sans() {
        let ca = generate_ca("ca").unwrap();
        assert!(matches!(
            generate_server_cert(&ca, &[]),
            Err(PkiError::NoSubjectAltName)
        ));
        assert!(matches!(
            generate_server_cert(&ca, &["bad name!".into()]),
            Err(PkiError::BadSubjectAltName(_))
        ));
    }

    #[test]
    fn reissue_keeps_the_ca_and_refuses_a_foreign_key() {
        let ca = generate_ca("certfleet test CA").unwrap();
        let new = reissue_server_cert(&ca, &["collector.example".into()], 30).unwrap();
        let info = certfleet_certinfo::parse_der(&rustls_pemfile_der(&new.cert_pem)).unwrap();
        assert_eq!(info.issuer_cn.as_deref(), Some("certfleet test CA"));
        let days = (info.not_after - info.not_before).num_days();
        assert!((30..=31).contains(&days), "{days}");
        let names =
            certfleet_certinfo::server_cert_names(&rustls_pemfile_der(&new.cert_pem)).unwrap();
        assert_eq!(names.subject_alt_names, ["collector.example"]);

        let other = generate_ca("another CA").unwrap();
        let mixed = PemPair {
            cert_pem: ca.cert_pem,
            key_pem: other.key_pem,
        };
        assert!(matches!(
            reissue_server_cert(&mixed, &["x.example".into()], 30),
            Err(PkiError::KeyMismatch)
        ));
    }

    fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}
