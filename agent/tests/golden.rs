//! The public `scan --format json` format against its golden file, `tests/golden/scan.json`.
//!
//! The fixtures are deterministic (Ed25519 keys from fixed seeds, whose signatures are
//! deterministic too, fixed serials and dates), so every byte of the output is stable and any
//! change of the format shows up as a diff of the golden file. Regenerate it after an intended
//! change with `CERTFLEET_UPDATE_GOLDEN=1 cargo test -p certfleet-agent --test golden` and
//! commit the diff.

use std::path::Path;
use std::process::Command;

use certfleet_agent::element::{ElementSpec, serialize_element};
use certfleet_agent::profiles::personal_store_dir;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SerialNumber,
};

/// An Ed25519 key from a fixed seed, as a PKCS#8 v1 document (RFC 8410).
fn fixed_key(seed_byte: u8) -> KeyPair {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend([seed_byte; 32]);
    KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), &rcgen::PKCS_ED25519)
        .expect("fixed Ed25519 key")
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

struct Certs {
    /// Office 1410000011, expires 2027-03-31.
    office_a: rcgen::Certificate,
    /// Office 1410000012, expired 2024-06-30.
    office_b: rcgen::Certificate,
    /// Subject CN 1410000013 from a foreign issuer: never listed by default.
    foreign: rcgen::Certificate,
}

fn certs() -> Certs {
    let ca_key = fixed_key(1);
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("KANAGAWA KOKUHOREN CA");
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.serial_number = Some(SerialNumber::from(vec![0x01]));
    ca.not_before = rcgen::date_time_ymd(2020, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let kanagawa = Issuer::new(ca, ca_key);
    let foreign_key = fixed_key(2);
    let mut foreign_ca = CertificateParams::default();
    foreign_ca.distinguished_name = name("EXAMPLE FOREIGN CA");
    foreign_ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let foreign_issuer = Issuer::new(foreign_ca, foreign_key);

    let leaf = |cn: &str, serial: u8, from: (i32, u8, u8), to: (i32, u8, u8), seed, issuer| {
        let issuer: &Issuer<'_, KeyPair> = issuer;
        let mut p = CertificateParams::default();
        p.distinguished_name = name(cn);
        p.serial_number = Some(SerialNumber::from(vec![0x10, serial]));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        p.signed_by(&fixed_key(seed), issuer).expect("sign")
    };
    Certs {
        office_a: leaf("1410000011", 1, (2024, 4, 1), (2027, 3, 31), 11, &kanagawa),
        office_b: leaf("1410000012", 2, (2021, 7, 1), (2024, 6, 30), 12, &kanagawa),
        foreign: leaf(
            "1410000013",
            3,
            (2024, 1, 1),
            (2026, 12, 31),
            13,
            &foreign_issuer,
        ),
    }
}

fn put(profile: &Path, file: &str, der: &[u8], key: bool, friendly: Option<&str>) {
    let dir = personal_store_dir(profile);
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = serialize_element(&ElementSpec {
        der,
        key_container: key.then_some("te-container"),
        friendly_name: friendly,
    });
    std::fs::write(dir.join(file), bytes).unwrap();
}

#[test]
fn scan_json_matches_the_golden_file() {
    let c = certs();
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("Users");
    put(
        &users.join("yamada"),
        "A1",
        c.office_a.der(),
        true,
        Some("国保連 電子証明書"),
    );
    put(&users.join("yamada"), "B2", c.office_b.der(), false, None);
    put(&users.join("suzuki"), "A1", c.office_a.der(), false, None);
    put(&users.join("suzuki"), "F3", c.foreign.der(), true, None);
    std::fs::write(
        personal_store_dir(&users.join("suzuki")).join("BAD"),
        b"junk",
    )
    .unwrap();
    // Damaged data after a complete certificate: kept, with a warning.
    let mut damaged = serialize_element(&ElementSpec {
        der: c.office_b.der(),
        key_container: None,
        friendly_name: Some("renewed 2021"),
    });
    damaged.extend_from_slice(b"\x0b\0\0\0");
    std::fs::write(
        personal_store_dir(&users.join("suzuki")).join("B2"),
        damaged,
    )
    .unwrap();
    let exports = tmp.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("office-b.pem"), c.office_b.pem()).unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certfleet-agent"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CERTFLEET_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["scan", "--format", "json", "--profiles-root"])
        .arg(&users)
        .arg("--path")
        .arg(&exports)
        .output()
        .expect("run certfleet-agent");
    assert!(out.status.success(), "{out:?}");
    let root = tmp.path().to_str().unwrap();
    let got = String::from_utf8(out.stdout)
        .unwrap()
        .replace(root, "$ROOT");

    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/scan.json");
    if std::env::var_os("CERTFLEET_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (CERTFLEET_UPDATE_GOLDEN=1)");
    assert_eq!(
        got, want,
        "scan JSON differs from tests/golden/scan.json; if intended, regenerate it with \
         CERTFLEET_UPDATE_GOLDEN=1 and commit the diff"
    );
}
