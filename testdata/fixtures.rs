//! Test-certificate generator shared by the certinfo and agent tests and the benchmark example.
//!
//! Fixtures are generated at test time (into a temporary directory) rather than committed,
//! because several of them are defined *relative to today* ("expires in 20 days", "expired 5
//! days ago"): committed files would silently drift into other categories as time passes.
//! Certificates come from rcgen (which lets us choose the ASN.1 string type of each CN, the
//! serial bytes and GeneralizedTime dates); PKCS#7 and PKCS#12 containers come from the real
//! `openssl` CLI, so the agent is tested against what people actually export.
//!
//! Include it with `#[path = "../../testdata/fixtures.rs"] mod fixtures;` (rcgen and chrono
//! must be (dev-)dependencies of the including crate).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Datelike, Duration, Utc};
use rcgen::string::{BmpString, PrintableString};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber,
};

/// Issuer CN of the federation's client certificates (the selection default).
pub const CA_CN: &str = "KANAGAWA KOKUHOREN CA";
/// A foreign CA: its certificates must not be selected by default.
pub const FOREIGN_CA_CN: &str = "EXAMPLE FOREIGN CA";

/// One generated certificate and its private key (PEM; only fed to `openssl pkcs12`).
#[derive(Clone)]
pub struct TestCert {
    /// Short name, also used as the file stem.
    pub name: &'static str,
    pub der: Vec<u8>,
    pub pem: String,
    pub key_pem: String,
    /// The office number the default selector must find, if any.
    pub office: Option<&'static str>,
    /// True when issued by [`CA_CN`].
    pub kanagawa: bool,
}

/// The whole fixture set.
pub struct Fixtures {
    pub ca: TestCert,
    pub foreign_ca: TestCert,
    /// Office 1234567890, old certificate expiring in 20 days (PrintableString CN).
    pub office_a_old: TestCert,
    /// Office 1234567890, renewed: valid for ~3 years from 10 days ago.
    pub office_a_new: TestCert,
    /// Office 2345678901, expired 5 days ago.
    pub office_b_expired: TestCert,
    /// Office 3456789012, CN as UTF8String, expires in 100 days.
    pub office_c_utf8: TestCert,
    /// Office 4567890123, CN as BMPString, expires in 200 days.
    pub office_d_bmp: TestCert,
    /// CN `5678901234` but issued by the foreign CA.
    pub foreign: TestCert,
    /// Issued by the federation CA without any CN (subject O only).
    pub no_cn: TestCert,
    /// Office 6789012345, not_after 2051-06-30 (GeneralizedTime), serial with the top bit set.
    pub far_future: TestCert,
    /// A non-ASCII BMPString CN and a server-auth-only EKU: listed with --all-issuers only.
    pub japanese_server: TestCert,
}

impl Fixtures {
    /// Every end-entity certificate (not the CAs).
    pub fn leaves(&self) -> Vec<&TestCert> {
        vec![
            &self.office_a_old,
            &self.office_a_new,
            &self.office_b_expired,
            &self.office_c_utf8,
            &self.office_d_bmp,
            &self.foreign,
            &self.no_cn,
            &self.far_future,
            &self.japanese_server,
        ]
    }

    /// Every certificate including the two CAs.
    pub fn all(&self) -> Vec<&TestCert> {
        let mut all = vec![&self.ca, &self.foreign_ca];
        all.extend(self.leaves());
        all
    }
}

/// A date `days` from now, at midnight UTC (rcgen takes calendar dates).
pub fn days_from_now(days: i64) -> DateTime<Utc> {
    let d = (Utc::now() + Duration::days(days)).date_naive();
    d.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn set_validity(params: &mut CertificateParams, from: DateTime<Utc>, to: DateTime<Utc>) {
    params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
}

/// How a subject CN is encoded.
#[derive(Clone, Copy)]
enum Cn<'a> {
    Printable(&'a str),
    Utf8(&'a str),
    Bmp(&'a str),
    None,
}

struct Spec<'a> {
    name: &'static str,
    cn: Cn<'a>,
    office: Option<&'static str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    serial: Vec<u8>,
    eku: Vec<ExtendedKeyUsagePurpose>,
}

fn dn(org: &str, cn: Cn<'_>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString(PrintableString::try_from("JP").unwrap()),
    );
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(org.to_owned()),
    );
    match cn {
        Cn::Printable(s) => dn.push(
            DnType::CommonName,
            DnValue::PrintableString(PrintableString::try_from(s).unwrap()),
        ),
        Cn::Utf8(s) => dn.push(DnType::CommonName, DnValue::Utf8String(s.to_owned())),
        Cn::Bmp(s) => dn.push(
            DnType::CommonName,
            DnValue::BmpString(BmpString::try_from(s).unwrap()),
        ),
        Cn::None => {}
    }
    dn
}

fn make_ca(name: &'static str, cn: &str) -> (TestCert, CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn("Test Federation", Cn::Printable(cn));
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(SerialNumber::from(vec![0x01]));
    set_validity(&mut params, days_from_now(-3650), days_from_now(3650));
    let cert = params.self_signed(&key).unwrap();
    let tc = TestCert {
        name,
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        office: None,
        kanagawa: cn == CA_CN,
    };
    (tc, params, key)
}

fn make_leaf(spec: Spec<'_>, issuer: &Issuer<'_, &KeyPair>, kanagawa: bool) -> TestCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn("Welfare Office", spec.cn);
    params.serial_number = Some(SerialNumber::from(spec.serial));
    params.extended_key_usages = spec.eku;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, spec.from, spec.to);
    let cert = params.signed_by(&key, issuer).unwrap();
    TestCert {
        name: spec.name,
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        office: spec.office,
        kanagawa,
    }
}

/// Generates the whole fixture set (fresh keys every call; dates relative to today).
pub fn generate() -> Fixtures {
    let (ca, ca_params, ca_key) = make_ca("ca", CA_CN);
    let (foreign_ca, foreign_params, foreign_key) = make_ca("foreign_ca", FOREIGN_CA_CN);
    let kana = Issuer::from_params(&ca_params, &ca_key);
    let other = Issuer::from_params(&foreign_params, &foreign_key);
    let client = || vec![ExtendedKeyUsagePurpose::ClientAuth];
    let three_years = 3 * 365;
    let leaf = |name, cn, office, from, to, serial: &[u8]| Spec {
        name,
        cn,
        office,
        from,
        to,
        serial: serial.to_vec(),
        eku: client(),
    };
    Fixtures {
        office_a_old: make_leaf(
            leaf(
                "office_a_old",
                Cn::Printable("1234567890"),
                Some("1234567890"),
                days_from_now(20 - three_years),
                days_from_now(20),
                &[0x10, 0x01],
            ),
            &kana,
            true,
        ),
        office_a_new: make_leaf(
            leaf(
                "office_a_new",
                Cn::Printable("1234567890"),
                Some("1234567890"),
                days_from_now(-10),
                days_from_now(three_years - 10),
                &[0x10, 0x02],
            ),
            &kana,
            true,
        ),
        office_b_expired: make_leaf(
            leaf(
                "office_b_expired",
                Cn::Printable("2345678901"),
                Some("2345678901"),
                days_from_now(-5 - three_years),
                days_from_now(-5),
                &[0x20, 0x01],
            ),
            &kana,
            true,
        ),
        office_c_utf8: make_leaf(
            leaf(
                "office_c_utf8",
                Cn::Utf8("3456789012"),
                Some("3456789012"),
                days_from_now(100 - three_years),
                days_from_now(100),
                &[0x30, 0x01],
            ),
            &kana,
            true,
        ),
        office_d_bmp: make_leaf(
            leaf(
                "office_d_bmp",
                Cn::Bmp("4567890123"),
                Some("4567890123"),
                days_from_now(200 - three_years),
                days_from_now(200),
                &[0x40, 0x01],
            ),
            &kana,
            true,
        ),
        foreign: make_leaf(
            leaf(
                "foreign",
                Cn::Printable("5678901234"),
                None,
                days_from_now(-30),
                days_from_now(300),
                &[0x50, 0x01],
            ),
            &other,
            false,
        ),
        no_cn: make_leaf(
            leaf(
                "no_cn",
                Cn::None,
                None,
                days_from_now(-30),
                days_from_now(400),
                &[0x60, 0x01],
            ),
            &kana,
            true,
        ),
        far_future: make_leaf(
            leaf(
                "far_future",
                Cn::Printable("6789012345"),
                Some("6789012345"),
                days_from_now(-1),
                "2051-06-30T00:00:00Z".parse().unwrap(),
                // Top bit set: DER needs a 0x00 sign byte, which must not show in the serial.
                &[0x80, 0xab, 0xcd, 0xef, 0x01],
            ),
            &kana,
            true,
        ),
        japanese_server: make_leaf(
            Spec {
                name: "japanese_server",
                cn: Cn::Bmp("事業所テスト"),
                office: None,
                from: days_from_now(-1),
                to: days_from_now(500),
                serial: vec![0x70, 0x01],
                eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            },
            &kana,
            true,
        ),
        ca,
        foreign_ca,
    }
}

/// Runs the `openssl` CLI and returns stdout; panics with the command and stderr when it fails
/// or when openssl is not installed (tests must fail loudly, never skip).
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the openssl CLI is required for these tests: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `<name>.der` and `<name>.pem` for every certificate into `dir`.
pub fn write_cert_files(fx: &Fixtures, dir: &Path) {
    for c in fx.all() {
        std::fs::write(dir.join(format!("{}.der", c.name)), &c.der).unwrap();
        std::fs::write(dir.join(format!("{}.pem", c.name)), &c.pem).unwrap();
    }
}

/// How a PKCS#12 file is protected.
#[derive(Clone, Copy, Debug)]
pub enum P12Kind {
    /// OpenSSL 3 default: PBES2 / PBKDF2 / AES-256-CBC, MAC HMAC-SHA-256.
    Modern,
    /// `-legacy`: certificates under pbeWithSHA1And40BitRC2-CBC, key under 3DES, MAC SHA-1.
    Legacy,
    /// No encryption and no MAC at all (`-certpbe NONE -keypbe NONE -nomac`).
    Plain,
}

/// Builds `out` with `openssl pkcs12 -export`: `cert` with its key and `chain` as extra
/// certificates, friendly name `friendly`.
pub fn write_p12(
    dir: &Path,
    out: &Path,
    cert: &TestCert,
    chain: &[&TestCert],
    password: &str,
    kind: P12Kind,
    friendly: &str,
) {
    let cert_pem = dir.join(format!("{}.p12in.pem", cert.name));
    let key_pem = dir.join(format!("{}.p12in.key", cert.name));
    let chain_pem = dir.join(format!("{}.p12chain.pem", cert.name));
    std::fs::write(&cert_pem, &cert.pem).unwrap();
    std::fs::write(&key_pem, &cert.key_pem).unwrap();
    let chain_text: String = chain.iter().map(|c| c.pem.as_str()).collect();
    std::fs::write(&chain_pem, chain_text).unwrap();
    let pass = format!("pass:{password}");
    let mut args: Vec<&str> = vec![
        "pkcs12",
        "-export",
        "-in",
        cert_pem.to_str().unwrap(),
        "-inkey",
        key_pem.to_str().unwrap(),
        "-name",
        friendly,
        "-passout",
        &pass,
        "-out",
        out.to_str().unwrap(),
    ];
    if !chain.is_empty() {
        args.extend(["-certfile", chain_pem.to_str().unwrap()]);
    }
    match kind {
        P12Kind::Modern => {}
        P12Kind::Legacy => args.push("-legacy"),
        P12Kind::Plain => args.extend(["-certpbe", "NONE", "-keypbe", "NONE", "-nomac"]),
    }
    openssl(&args);
    // The key never needs to stay on disk next to the fixtures.
    std::fs::remove_file(key_pem).unwrap();
}

/// Builds a PKCS#7 certificate bundle with `openssl crl2pkcs7` (`der` selects DER or PEM output).
pub fn write_p7b(dir: &Path, out: &Path, certs: &[&TestCert], der: bool) {
    let bundle = dir.join("p7b-input.pem");
    let text: String = certs.iter().map(|c| c.pem.as_str()).collect();
    std::fs::write(&bundle, text).unwrap();
    let mut args = vec![
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        bundle.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ];
    if der {
        args.extend(["-outform", "DER"]);
    }
    openssl(&args);
    std::fs::remove_file(bundle).unwrap();
}

/// `dir/name`, for brevity in tests.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
