//! DER → [`CertInfo`]: subject, issuer, serial, validity, fingerprints, client-auth EKU.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

/// Largest DER certificate accepted. Real client certificates are 1–3 KiB; anything above this is
/// hostile or not a certificate, and refusing it bounds memory per item.
pub const MAX_DER_LEN: usize = 64 * 1024;

/// Why a DER blob is not a usable certificate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate is {0} bytes, larger than the {MAX_DER_LEN}-byte limit")]
    TooLarge(usize),
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("{0} bytes of trailing data after the certificate")]
    TrailingData(usize),
    #[error("validity date out of range")]
    DateOutOfRange,
}

/// The fields of one certificate that certfleet reports on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject distinguished name in RFC 4514 order as x509-parser prints it.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// The first subject commonName, decoded from PrintableString, UTF8String or BMPString.
    pub subject_cn: Option<String>,
    /// The first issuer commonName.
    pub issuer_cn: Option<String>,
    /// Serial number as lowercase hex without leading zero bytes (at least one digit pair).
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Lowercase hex SHA-256 of the DER: certfleet's identity of a certificate.
    pub sha256: String,
    /// Lowercase hex SHA-1 of the DER: the Windows thumbprint and store file name.
    pub sha1: String,
    /// True when the extended key usage allows TLS client authentication (or any usage).
    pub client_auth: bool,
}

/// Parses one DER certificate. Never panics on hostile input.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, CertError> {
    if der.len() > MAX_DER_LEN {
        return Err(CertError::TooLarge(der.len()));
    }
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::TrailingData(rest.len()));
    }
    let validity = cert.validity();
    let not_before = to_utc(validity.not_before)?;
    let not_after = to_utc(validity.not_after)?;
    let client_auth = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value.client_auth || eku.value.any,
        // No EKU extension means the certificate is not restricted.
        Ok(None) => true,
        Err(_) => false,
    };
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        subject_cn: first_cn(cert.subject()),
        issuer_cn: first_cn(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before,
        not_after,
        sha256: hex::encode(Sha256::digest(der)),
        sha1: hex::encode(Sha1::digest(der)),
        client_auth,
    })
}

fn to_utc(time: ASN1Time) -> Result<DateTime<Utc>, CertError> {
    DateTime::<Utc>::from_timestamp(time.timestamp(), 0).ok_or(CertError::DateOutOfRange)
}

fn serial_hex(raw: &[u8]) -> String {
    // DER integers carry a leading 0x00 when the top bit is set; Windows and openssl drop it.
    let trimmed = match raw.iter().position(|b| *b != 0) {
        Some(first) => &raw[first..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    if trimmed.is_empty() {
        "00".to_owned()
    } else {
        hex::encode(trimmed)
    }
}

fn first_cn(name: &X509Name<'_>) -> Option<String> {
    let attr = name.iter_common_name().next()?;
    decode_directory_string(attr.attr_value())
}

/// Decodes the string types a commonName may use, including BMPString (UTF-16BE), which
/// x509-parser's `as_str` does not handle.
fn decode_directory_string(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Option<String> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let data = value.data;
    match value.tag() {
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::T61String
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        _ => None,
    }
}

/// What a TLS *server* certificate is for, beyond [`CertInfo`]: its subjectAltNames (DNS
/// names and IP addresses, as text) and its public key (the bits of the SubjectPublicKeyInfo,
/// e.g. the uncompressed EC point). The collector re-issues
/// its own server certificate for the same names (`reissue-server-cert --from`) and checks that
/// a CA key belongs to the CA certificate before signing with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertNames {
    pub subject_alt_names: Vec<String>,
    pub public_key: Vec<u8>,
}

/// Reads the subjectAltNames and public key of a certificate (see [`ServerCertNames`]).
pub fn server_cert_names(der: &[u8]) -> Result<ServerCertNames, CertError> {
    if der.len() > MAX_DER_LEN {
        return Err(CertError::TooLarge(der.len()));
    }
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))
                            .to_string(),
                    ),
                    16 => names.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(ServerCertNames {
        subject_alt_names: names,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_drops_sign_padding_but_keeps_zero() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x01, 0x00]), "0100");
    }

    #[test]
    fn rejects_garbage_and_oversize_without_panicking() {
        assert!(matches!(
            parse_der(b"not a certificate"),
            Err(CertError::Malformed(_))
        ));
        assert!(matches!(parse_der(&[]), Err(CertError::Malformed(_))));
        assert_eq!(
            parse_der(&vec![0u8; MAX_DER_LEN + 1]),
            Err(CertError::TooLarge(MAX_DER_LEN + 1))
        );
    }
}
