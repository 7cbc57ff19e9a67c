//! Every field `parse_der` extracts is checked against the `openssl x509` CLI on the same file,
//! for every generated fixture (PrintableString / UTF8String / BMPString CNs, no CN, a
//! GeneralizedTime date past 2050, a serial with the sign bit set, client vs server EKU).

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use certfleet_certinfo::{CertInfo, IssuerRule, OfficeRule, Selector, parse_der};
use chrono::{DateTime, NaiveDateTime, Utc};
use fixtures::{Fixtures, TestCert, openssl};

struct OpensslView {
    serial: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    sha256: String,
    sha1: String,
    subject: String,
    issuer: String,
    subject_cn: Option<String>,
    eku: Option<String>,
}

fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v)
        })
        .unwrap_or_else(|| panic!("openssl output has no {key}=: {text}"))
}

fn openssl_date(s: &str) -> DateTime<Utc> {
    // e.g. "Jun 30 00:00:00 2051 GMT"; day is space-padded.
    let squeezed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&squeezed, "%b %d %H:%M:%S %Y GMT")
        .unwrap_or_else(|e| panic!("bad openssl date {s:?}: {e}"))
        .and_utc()
}

fn fingerprint(s: &str) -> String {
    s.replace(':', "").to_ascii_lowercase()
}

fn openssl_view(dir: &std::path::Path, cert: &TestCert) -> OpensslView {
    let file = dir.join(format!("{}.der", cert.name));
    std::fs::write(&file, &cert.der).unwrap();
    let f = file.to_str().unwrap();
    let base = ["x509", "-inform", "DER", "-in", f, "-noout"];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        String::from_utf8(openssl(&args)).unwrap()
    };
    let dates = run(&["-serial", "-startdate", "-enddate"]);
    let sha256 = run(&["-fingerprint", "-sha256"]);
    let sha1 = run(&["-fingerprint", "-sha1"]);
    // Encoded RDN order, "short=value" joined by ", ", raw UTF-8: the format CertInfo promises.
    let names = run(&[
        "-subject",
        "-issuer",
        "-nameopt",
        "sep_comma_plus_space,sname,utf8,esc_ctrl,esc_2253",
    ]);
    let cn_text = run(&["-subject", "-nameopt", "sep_multiline,sname,utf8"]);
    let subject_cn = cn_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("CN=").map(str::to_owned));
    let eku = run(&["-ext", "extendedKeyUsage"]);
    let eku = eku
        .contains("Extended Key Usage")
        .then(|| eku.lines().nth(1).unwrap_or_default().trim().to_owned());
    OpensslView {
        serial: field(&dates, "serial").to_ascii_lowercase(),
        not_before: openssl_date(field(&dates, "notBefore")),
        not_after: openssl_date(field(&dates, "notAfter")),
        sha256: fingerprint(field(&sha256, "sha256 Fingerprint")),
        sha1: fingerprint(field(&sha1, "sha1 Fingerprint")),
        subject: field(&names, "subject").to_owned(),
        issuer: field(&names, "issuer").to_owned(),
        subject_cn,
        eku,
    }
}

fn fixtures() -> (Fixtures, tempfile::TempDir) {
    (fixtures::generate(), tempfile::tempdir().unwrap())
}

#[test]
fn every_field_matches_openssl() {
    let (fx, dir) = fixtures();
    for cert in fx.all() {
        let info: CertInfo = parse_der(&cert.der).unwrap();
        let want = openssl_view(dir.path(), cert);
        let name = cert.name;
        assert_eq!(info.serial, want.serial, "{name}: serial");
        assert_eq!(info.not_before, want.not_before, "{name}: not_before");
        assert_eq!(info.not_after, want.not_after, "{name}: not_after");
        assert_eq!(info.sha256, want.sha256, "{name}: sha256");
        assert_eq!(info.sha1, want.sha1, "{name}: sha1");
        assert_eq!(info.subject, want.subject, "{name}: subject");
        assert_eq!(info.issuer, want.issuer, "{name}: issuer");
        assert_eq!(info.subject_cn, want.subject_cn, "{name}: subject CN");
        let openssl_client = match &want.eku {
            None => true,
            Some(list) => list.contains("TLS Web Client Authentication"),
        };
        assert_eq!(
            info.client_auth, openssl_client,
            "{name}: client auth ({:?})",
            want.eku
        );
    }
}

#[test]
fn specific_encodings_decode_as_expected() {
    let fx = fixtures::generate();
    let bmp = parse_der(&fx.office_d_bmp.der).unwrap();
    assert_eq!(bmp.subject_cn.as_deref(), Some("4567890123"));
    let jp = parse_der(&fx.japanese_server.der).unwrap();
    assert_eq!(jp.subject_cn.as_deref(), Some("事業所テスト"));
    assert!(!jp.client_auth, "server-auth-only EKU is not client auth");
    let utf8 = parse_der(&fx.office_c_utf8.der).unwrap();
    assert_eq!(utf8.subject_cn.as_deref(), Some("3456789012"));
    let none = parse_der(&fx.no_cn.der).unwrap();
    assert_eq!(none.subject_cn, None);
    assert_eq!(none.issuer_cn.as_deref(), Some(fixtures::CA_CN));
    let far = parse_der(&fx.far_future.der).unwrap();
    assert_eq!(far.not_after.to_rfc3339(), "2051-06-30T00:00:00+00:00");
    assert_eq!(far.serial, "80abcdef01");
}

#[test]
fn default_selector_finds_office_numbers() {
    let fx = fixtures::generate();
    let sel = Selector::default();
    for cert in fx.all() {
        let info = parse_der(&cert.der).unwrap();
        assert_eq!(
            sel.office_number(&info).as_deref(),
            cert.office,
            "{}",
            cert.name
        );
        assert_eq!(sel.issuer_matches(&info), cert.kanagawa, "{}", cert.name);
    }
}

#[test]
fn configured_selector_uses_dn_and_capture_group() {
    let fx = fixtures::generate();
    let foreign = parse_der(&fx.foreign.der).unwrap();
    let sel = Selector::new(
        vec![IssuerRule::DistinguishedName(foreign.issuer.clone())],
        OfficeRule::new(r"^(\d{4})\d{6}$").unwrap(),
    )
    .unwrap();
    assert_eq!(sel.office_number(&foreign).as_deref(), Some("5678"));
    let office = parse_der(&fx.office_a_new.der).unwrap();
    assert_eq!(sel.office_number(&office), None);
    assert!(OfficeRule::new(r"(\d)(\d)").is_err());
    assert!(OfficeRule::new(r"(").is_err());
    assert!(Selector::new(vec![], OfficeRule::new("x").unwrap()).is_err());
}
