//! Every file front end against fixtures made by rcgen and the real openssl CLI: the
//! certificates must come out byte-for-byte, with the container's friendly name and key link.

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use certfleet_agent::element::{ElementSpec, serialize_element, serialize_store};
use certfleet_agent::formats::{Format, extract, sniff};
use fixtures::{P12Kind, TestCert, write_p7b, write_p12};

fn ders(contents: &certfleet_agent::formats::FileContents) -> Vec<Vec<u8>> {
    contents.certs.iter().map(|c| c.der.clone()).collect()
}

#[test]
fn pem_der_and_bundles() {
    let fx = fixtures::generate();
    let leaves = fx.leaves();
    for cert in &leaves {
        let der = extract(&cert.der, Some("cer"), None);
        assert_eq!(ders(&der), vec![cert.der.clone()], "{}", cert.name);
        assert_eq!(der.error, None);
        assert_eq!(der.certs[0].has_private_key, None, "plain files cannot say");
        let pem = extract(cert.pem.as_bytes(), Some("crt"), None);
        assert_eq!(ders(&pem), vec![cert.der.clone()], "{}", cert.name);
    }
    // Many certificates per PEM file, with openssl-style bag attributes and a key in between.
    let mut bundle = String::new();
    for cert in &leaves {
        bundle.push_str("Bag Attributes\n    localKeyId: 01\n");
        bundle.push_str(&cert.pem);
        bundle.push_str(&cert.key_pem);
    }
    let got = extract(bundle.as_bytes(), Some("pem"), None);
    assert_eq!(got.error, None);
    assert_eq!(
        ders(&got),
        leaves.iter().map(|c| c.der.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn pkcs7_der_and_pem_from_openssl() {
    let fx = fixtures::generate();
    let dir = tempfile::tempdir().unwrap();
    let certs: Vec<&TestCert> = vec![&fx.office_a_new, &fx.office_b_expired, &fx.ca];
    for der in [true, false] {
        let out = dir.path().join(if der { "b.p7b" } else { "b-pem.p7b" });
        write_p7b(dir.path(), &out, &certs, der);
        let data = std::fs::read(&out).unwrap();
        assert_eq!(
            sniff(&data),
            Some(if der { Format::Pkcs7 } else { Format::Pem })
        );
        let got = extract(&data, Some("p7b"), None);
        assert_eq!(got.error, None);
        let mut want: Vec<Vec<u8>> = certs.iter().map(|c| c.der.clone()).collect();
        let mut have = ders(&got);
        want.sort();
        have.sort();
        assert_eq!(have, want, "der={der}");
    }
}

#[test]
fn pkcs12_modern_legacy_and_unprotected() {
    let fx = fixtures::generate();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (P12Kind::Modern, "s3cret-パス"),
        (P12Kind::Legacy, "s3cret"),
        (P12Kind::Modern, ""),
        (P12Kind::Legacy, ""),
        (P12Kind::Plain, ""),
    ];
    for (i, (kind, password)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("case{i}.p12"));
        write_p12(
            dir.path(),
            &out,
            &fx.office_a_new,
            &[&fx.ca],
            password,
            kind,
            "事業所 1234567890",
        );
        let data = std::fs::read(&out).unwrap();
        assert_eq!(sniff(&data), Some(Format::Pkcs12));
        let pw = (!password.is_empty()).then_some(password);
        let got = extract(&data, Some("p12"), pw);
        assert_eq!(got.error, None, "{kind:?} {password:?}");
        assert_eq!(got.certs.len(), 2, "{kind:?}: leaf and CA");
        let leaf = got
            .certs
            .iter()
            .find(|c| c.der == fx.office_a_new.der)
            .unwrap_or_else(|| panic!("{kind:?}: leaf missing or altered"));
        assert_eq!(leaf.friendly_name.as_deref(), Some("事業所 1234567890"));
        assert_eq!(
            leaf.has_private_key,
            Some(true),
            "key bag shares its localKeyId"
        );
        let ca = got.certs.iter().find(|c| c.der == fx.ca.der).unwrap();
        assert_eq!(ca.has_private_key, None);

        if !password.is_empty() {
            let wrong = extract(&data, Some("p12"), Some("wrong"));
            assert!(wrong.certs.is_empty());
            let msg = wrong.error.unwrap();
            assert!(msg.contains("wrong PKCS#12 password"), "{kind:?}: {msg}");
            let missing = extract(&data, Some("p12"), None);
            let msg = missing.error.unwrap();
            assert!(msg.contains("password-protected"), "{kind:?}: {msg}");
        }
    }
}

#[test]
fn serialized_elements_and_store() {
    let fx = fixtures::generate();
    let with_all = serialize_element(&ElementSpec {
        der: &fx.office_a_old.der,
        key_container: Some("te-office-a"),
        friendly_name: Some("Kanagawa 1234567890"),
    });
    let got = extract(&with_all, None, None);
    assert_eq!(sniff(&with_all), Some(Format::SerializedElement));
    assert_eq!(ders(&got), vec![fx.office_a_old.der.clone()]);
    assert_eq!(got.certs[0].has_private_key, Some(true));
    assert_eq!(
        got.certs[0].friendly_name.as_deref(),
        Some("Kanagawa 1234567890")
    );

    let bare = serialize_element(&ElementSpec {
        der: &fx.office_a_new.der,
        ..Default::default()
    });
    let got = extract(&bare, None, None);
    assert_eq!(got.certs[0].has_private_key, Some(false));
    assert_eq!(got.certs[0].friendly_name, None);

    let store = serialize_store(&[
        ElementSpec {
            der: &fx.office_c_utf8.der,
            key_container: Some("k1"),
            friendly_name: Some("c"),
        },
        ElementSpec {
            der: &fx.office_d_bmp.der,
            ..Default::default()
        },
    ]);
    assert_eq!(sniff(&store), Some(Format::SerializedStore));
    let got = extract(&store, Some("sst"), None);
    assert_eq!(got.error, None);
    assert_eq!(got.certs.len(), 2);
    assert_eq!(got.certs[0].der, fx.office_c_utf8.der);
    assert_eq!(got.certs[1].der, fx.office_d_bmp.der);
    assert_eq!(got.certs[0].has_private_key, Some(true));
    assert_eq!(got.certs[0].friendly_name.as_deref(), Some("c"));
    assert_eq!(got.certs[1].has_private_key, Some(false));
}

/// Re-encodes DER as BER the way Windows and Java write PKCS#12: every constructed element
/// with indefinite length, and large OCTET STRINGs split into a constructed run of segments.
/// OCTET STRING contents are kept as they are (they are what a MAC would cover).
fn berize(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        let (tlv, after) = certfleet_agent::asn1::read(rest).unwrap();
        if tlv.constructed() {
            out.extend([tlv.tag, 0x80]);
            out.extend(berize(tlv.value));
            out.extend([0, 0]);
        } else if tlv.tag == 0x04 && tlv.value.len() > 64 {
            out.extend([0x24, 0x80]);
            for chunk in tlv.value.chunks(50) {
                out.extend([0x04, chunk.len() as u8]);
                out.extend(chunk);
            }
            out.extend([0, 0]);
        } else {
            out.extend(tlv.raw);
        }
        rest = after;
    }
    out
}

#[test]
fn pkcs12_and_pkcs7_in_ber_form() {
    let fx = fixtures::generate();
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("plain.p12");
    write_p12(
        dir.path(),
        &p12,
        &fx.office_a_new,
        &[&fx.ca],
        "",
        P12Kind::Plain,
        "ber",
    );
    let der = std::fs::read(&p12).unwrap();
    let ber = berize(&der);
    assert_ne!(ber, der);
    assert_eq!(&ber[..2], &[0x30, 0x80], "indefinite outer SEQUENCE");
    let got = extract(&ber, Some("pfx"), None);
    assert_eq!(got.error, None);
    assert_eq!(got.certs.len(), 2);
    assert!(got.certs.iter().any(|c| c.der == fx.office_a_new.der));
    assert!(got.certs.iter().any(|c| c.der == fx.ca.der));

    let p7b = dir.path().join("x.p7b");
    write_p7b(dir.path(), &p7b, &[&fx.office_b_expired], true);
    let der = std::fs::read(&p7b).unwrap();
    // Only the containers become BER; certificates inside must come out unchanged (DER).
    let (outer, _) = certfleet_agent::asn1::read(&der).unwrap();
    let mut ci = outer.children();
    let oid = ci.next().unwrap().unwrap();
    let content = ci.next().unwrap().unwrap();
    let signed = content.children().next().unwrap().unwrap();
    let mut ber = vec![0x30, 0x80];
    ber.extend(oid.raw);
    ber.extend([0xa0, 0x80, 0x30, 0x80]);
    ber.extend(signed.value);
    ber.extend([0, 0, 0, 0, 0, 0]);
    let got = extract(&ber, Some("p7b"), None);
    assert_eq!(got.error, None);
    assert_eq!(got.certs.len(), 1);
    assert_eq!(got.certs[0].der, fx.office_b_expired.der);
}
