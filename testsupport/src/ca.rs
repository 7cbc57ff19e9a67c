//! Test certificate authorities (rcgen): the federation's `KANAGAWA KOKUHOREN CA` or any other
//! issuer, and office client certificates whose subject CN is the office number. Every test,
//! the end-to-end harness, the load generator and the demo make their certificates here.
//!
//! [`TestCa::new`] uses fresh ECDSA P-256 keys, like a real deployment. For golden files,
//! [`TestCa::deterministic`] signs with Ed25519 keys derived from a seed and numbers serials in
//! call order: Ed25519 signatures are deterministic, so the same calls give byte-identical DER
//! (and the same SHA-256 fingerprints) on every run.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

/// Issuer commonName of the Kanagawa federation's client certificates.
pub const KANAGAWA_CA_CN: &str = "KANAGAWA KOKUHOREN CA";

/// A certificate authority for test certificates.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// `Some(seed)` for a deterministic CA: leaf keys and serials derive from it.
    seed: Option<u8>,
    /// Serials handed out so far (deterministic CAs number their leaves 1, 2, …).
    issued: AtomicU64,
    /// The CA's own self-signed certificate (what a collector pins with `[trust]`).
    ca_cert: IssuedCert,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("deterministic", &self.seed.is_some())
            .finish_non_exhaustive()
    }
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub der: Vec<u8>,
    pub pem: String,
}

/// What to put into a leaf certificate besides the office number.
#[derive(Debug, Clone, Default)]
pub struct LeafOptions<'a> {
    /// An organizationName after the CN (`CN=<office>, O=<organization>`).
    pub organization: Option<&'a str>,
}

impl TestCa {
    /// A CA named `common_name` with a fresh ECDSA P-256 key.
    pub fn new(common_name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        Self::with_key(common_name, key, None)
    }

    /// The federation's CA (`KANAGAWA KOKUHOREN CA`).
    pub fn kanagawa() -> Self {
        Self::new(KANAGAWA_CA_CN)
    }

    /// A CA whose keys derive from `seed` (Ed25519) and whose leaves are numbered in call
    /// order: identical calls give identical DER, as golden files need. Different seeds give
    /// different keys, so two deterministic CAs in one test are told apart.
    pub fn deterministic(common_name: &str, seed: u8) -> Self {
        let key = ed25519_key(seed, 0);
        Self::with_key(common_name, key, Some(seed))
    }

    fn with_key(common_name: &str, key: rcgen::KeyPair, seed: Option<u8>) -> Self {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let own = params
            .self_signed(&key)
            .expect("self-signed CA certificate");
        let ca_cert = IssuedCert {
            der: own.der().to_vec(),
            pem: own.pem(),
        };
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            seed,
            issued: AtomicU64::new(0),
            ca_cert,
        }
    }

    /// The CA's own certificate, e.g. to pin it as the issuer (`[trust] issuer_ca_file`).
    pub fn ca_cert(&self) -> &IssuedCert {
        &self.ca_cert
    }

    /// The rcgen issuer, for callers that build their own leaves (the load generator shares
    /// one leaf key across thousands of certificates).
    pub fn issuer(&self) -> &rcgen::Issuer<'static, rcgen::KeyPair> {
        &self.issuer
    }

    /// A client certificate whose subject CN is `office`, valid in `[not_before, not_after]`,
    /// as PEM.
    pub fn office_cert(
        &self,
        office: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> String {
        self.issue(office, not_before, not_after, &LeafOptions::default())
            .pem
    }

    /// As [`office_cert`](Self::office_cert), as DER.
    pub fn office_cert_der(
        &self,
        office: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Vec<u8> {
        self.issue(office, not_before, not_after, &LeafOptions::default())
            .der
    }

    /// A certificate as the federation issues them: valid for three years up to `not_after`,
    /// as DER.
    pub fn three_year_cert_der(&self, office: &str, not_after: DateTime<Utc>) -> Vec<u8> {
        self.office_cert_der(
            office,
            not_after - chrono::Duration::days(3 * 365),
            not_after,
        )
    }

    /// As [`office_cert`](Self::office_cert), with an organizationName in the subject too
    /// (`CN=<office>, O=<organization>`): subjects are attacker-controlled text.
    pub fn office_cert_with_org(
        &self,
        office: &str,
        organization: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> String {
        let options = LeafOptions {
            organization: Some(organization),
        };
        self.issue(office, not_before, not_after, &options).pem
    }

    /// Issues a client-authentication certificate for `office` (the subject CN).
    pub fn issue(
        &self,
        office: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
        options: &LeafOptions<'_>,
    ) -> IssuedCert {
        let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let (key, serial) = match self.seed {
            Some(seed) => (ed25519_key(seed, n), deterministic_serial(n).to_vec()),
            None => (
                rcgen::KeyPair::generate().expect("leaf key"),
                random_serial().to_vec(),
            ),
        };
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, office);
        if let Some(o) = options.organization {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, o);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = to_rcgen(not_before);
        params.not_after = to_rcgen(not_after);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        IssuedCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
        }
    }
}

/// An rcgen validity time (whole seconds).
pub fn to_rcgen(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).expect("date in range")
}

/// An Ed25519 key from `(seed, n)`: a PKCS#8 v1 document (RFC 8410) around a fixed 32-byte
/// private key.
fn ed25519_key(seed: u8, n: u64) -> rcgen::KeyPair {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 24]);
    der.extend_from_slice(&n.to_be_bytes());
    rcgen::KeyPair::try_from(der.as_slice()).expect("Ed25519 test key")
}

/// Serial `n` of a deterministic CA. The first byte is 0x10, so the DER integer needs no sign
/// padding and the collector's hex serial is the bytes as written.
fn deterministic_serial(n: u64) -> [u8; 9] {
    let mut b = [0u8; 9];
    b[0] = 0x10;
    b[1..].copy_from_slice(&n.to_be_bytes());
    b
}

/// A serial unique within this process and unlikely to repeat across processes.
fn random_serial() -> [u8; 8] {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed) ^ (u64::from(std::process::id()) << 32);
    let mut b = n.to_be_bytes();
    b[0] &= 0x7f;
    b[0] |= 0x10;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn deterministic_cas_repeat_their_certificates_byte_for_byte() {
        let make = || {
            let ca = TestCa::deterministic(KANAGAWA_CA_CN, 7);
            let a = ca.office_cert_der(
                "1111111111",
                t("2025-01-01T00:00:00Z"),
                t("2028-01-01T00:00:00Z"),
            );
            let b = ca.office_cert_der(
                "1111111111",
                t("2025-01-01T00:00:00Z"),
                t("2028-01-01T00:00:00Z"),
            );
            (a, b)
        };
        let (a1, b1) = make();
        let (a2, b2) = make();
        assert_eq!(a1, a2);
        assert_eq!(b1, b2);
        assert_ne!(a1, b1, "each leaf has its own serial and key");
        let other = TestCa::deterministic(KANAGAWA_CA_CN, 8).office_cert_der(
            "1111111111",
            t("2025-01-01T00:00:00Z"),
            t("2028-01-01T00:00:00Z"),
        );
        assert_ne!(a1, other);
    }

    #[test]
    fn random_cas_make_distinct_certificates() {
        let ca = TestCa::kanagawa();
        let a = ca.office_cert(
            "1111111111",
            t("2025-01-01T00:00:00Z"),
            t("2028-01-01T00:00:00Z"),
        );
        let b = ca.office_cert(
            "1111111111",
            t("2025-01-01T00:00:00Z"),
            t("2028-01-01T00:00:00Z"),
        );
        assert!(a.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(a, b);
    }
}
