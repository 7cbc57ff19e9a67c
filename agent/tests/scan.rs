//! `scan()` end to end on a fake `Users` tree and plain files: deduplication, locations,
//! private-key merging, selection, and hostile inputs (one error entry each, never a panic).

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};

use certfleet_agent::element::{ElementSpec, serialize_element, serialize_store};
use certfleet_agent::profiles::personal_store_dir;
use certfleet_agent::{ScanConfig, Source, scan};
use certfleet_certinfo::{IssuerRule, OfficeRule, Selector};
use fixtures::{Fixtures, TestCert};

fn sha1_hex(der: &[u8]) -> String {
    certfleet_certinfo::parse_der(der)
        .unwrap()
        .sha1
        .to_uppercase()
}

fn put_element(profile: &Path, cert: &TestCert, key: bool, name: Option<&str>) -> PathBuf {
    let dir = personal_store_dir(profile);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(sha1_hex(&cert.der));
    let bytes = serialize_element(&ElementSpec {
        der: &cert.der,
        key_container: key.then_some("container"),
        friendly_name: name,
    });
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Users/alice: old office A cert with key + friendly name, new office A cert without key.
/// Users/bob: new office A cert with key, office B (expired), the foreign cert, one garbage file.
/// Users/Public: no store at all. Plus an exports/ dir with PEM copies.
fn build_tree(fx: &Fixtures, root: &Path) -> (PathBuf, PathBuf) {
    let users = root.join("Users");
    let alice = users.join("alice");
    let bob = users.join("bob");
    std::fs::create_dir_all(users.join("Public")).unwrap();
    put_element(&alice, &fx.office_a_old, true, Some("office A (old)"));
    put_element(&alice, &fx.office_a_new, false, None);
    put_element(&bob, &fx.office_a_new, true, Some("office A"));
    put_element(&bob, &fx.office_b_expired, false, None);
    put_element(&bob, &fx.foreign, true, None);
    std::fs::write(personal_store_dir(&bob).join("DEADBEEF"), b"garbage").unwrap();
    let exports = root.join("exports");
    std::fs::create_dir_all(exports.join("nested")).unwrap();
    std::fs::write(exports.join("a-new.pem"), &fx.office_a_new.pem).unwrap();
    std::fs::write(exports.join("nested").join("c.der"), &fx.office_c_utf8.der).unwrap();
    std::fs::write(exports.join("readme.txt"), "not scanned: unknown extension").unwrap();
    std::fs::write(exports.join("key.pem"), &fx.office_c_utf8.key_pem).unwrap();
    (users, exports)
}

fn config(users: Option<&Path>, paths: &[&Path]) -> ScanConfig {
    let mut c = ScanConfig::paths_only(paths.iter().map(|p| p.to_path_buf()).collect());
    c.profiles_root = users.map(Path::to_path_buf);
    c
}

#[test]
fn fake_users_tree_dedups_and_merges() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let (users, exports) = build_tree(&fx, tmp.path());
    let result = scan(&config(Some(&users), &[&exports]));

    // The garbage store file is the only error; key.pem (a key) and readme.txt are not errors.
    assert_eq!(result.errors.len(), 1, "{:#?}", result.errors);
    assert_eq!(result.errors[0].source, Source::ProfileFile);
    assert!(result.errors[0].path.ends_with("DEADBEEF"));

    let numbers: Vec<_> = result
        .certificates
        .iter()
        .map(|c| c.office_number.clone().unwrap())
        .collect();
    // Sorted by expiry: B (expired), A old (20 days), C (100 days), A new (~3 years).
    assert_eq!(
        numbers,
        ["2345678901", "1234567890", "3456789012", "1234567890"]
    );
    let a_new = &result.certificates[3];
    assert_eq!(a_new.der, fx.office_a_new.der);
    assert_eq!(a_new.locations.len(), 3, "{:#?}", a_new.locations);
    let users_seen: Vec<_> = a_new
        .locations
        .iter()
        .filter(|l| l.source == Source::ProfileFile)
        .map(|l| l.user.clone().unwrap())
        .collect();
    assert_eq!(users_seen, ["alice", "bob"]);
    assert!(
        a_new
            .locations
            .iter()
            .all(|l| l.source != Source::ProfileFile || l.store.as_deref() == Some("My"))
    );
    let file_loc = a_new
        .locations
        .iter()
        .find(|l| l.source == Source::File)
        .unwrap();
    assert!(file_loc.path.ends_with("a-new.pem"));
    assert_eq!(file_loc.user, None);
    assert_eq!(a_new.has_private_key, Some(true), "bob's store links a key");
    assert_eq!(a_new.friendly_name.as_deref(), Some("office A"));

    let a_old = &result.certificates[1];
    assert_eq!(a_old.has_private_key, Some(true));
    assert_eq!(a_old.friendly_name.as_deref(), Some("office A (old)"));
    let b = &result.certificates[0];
    assert_eq!(
        b.has_private_key,
        Some(false),
        "store element without KEY_PROV_INFO"
    );
    let c = &result.certificates[2];
    assert_eq!(c.has_private_key, None, "only a plain file");
}

#[test]
fn all_issuers_and_configured_selection() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    for cert in fx.all() {
        std::fs::write(tmp.path().join(format!("{}.der", cert.name)), &cert.der).unwrap();
    }
    let mut cfg = config(None, &[tmp.path()]);
    let default = scan(&cfg);
    let mut got: Vec<_> = default
        .certificates
        .iter()
        .map(|c| c.office_number.clone().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<_> = fx.all().iter().filter_map(|c| c.office).collect();
    want.sort();
    assert_eq!(got, want);

    cfg.all_issuers = true;
    let all = scan(&cfg);
    assert_eq!(all.certificates.len(), fx.all().len());
    let foreign = all
        .certificates
        .iter()
        .find(|c| c.der == fx.foreign.der)
        .unwrap();
    assert_eq!(
        foreign.office_number, None,
        "10-digit CN but foreign issuer"
    );

    cfg.all_issuers = false;
    cfg.selector = Selector::new(
        vec![IssuerRule::CommonName(
            fixtures::FOREIGN_CA_CN.to_lowercase(),
        )],
        OfficeRule::new(r"^\d{10}$").unwrap(),
    )
    .unwrap();
    let foreign_only = scan(&cfg);
    assert_eq!(foreign_only.certificates.len(), 1);
    assert_eq!(
        foreign_only.certificates[0].office_number.as_deref(),
        Some("5678901234")
    );
}

#[test]
fn sst_file_and_pkcs12_in_a_directory() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let store = serialize_store(&[
        ElementSpec {
            der: &fx.office_c_utf8.der,
            key_container: Some("k"),
            friendly_name: Some("C"),
        },
        ElementSpec {
            der: &fx.far_future.der,
            ..Default::default()
        },
    ]);
    std::fs::write(tmp.path().join("export.SST"), store).unwrap();
    fixtures::write_p12(
        tmp.path(),
        &tmp.path().join("office.pfx"),
        &fx.office_d_bmp,
        &[&fx.ca],
        "pw",
        fixtures::P12Kind::Modern,
        "D",
    );
    let mut cfg = config(None, &[tmp.path()]);
    cfg.pkcs12_password = Some("pw".into());
    let result = scan(&cfg);
    assert!(result.errors.is_empty(), "{:#?}", result.errors);
    let found: Vec<_> = result
        .certificates
        .iter()
        .map(|c| (c.office_number.clone().unwrap(), c.has_private_key))
        .collect();
    assert_eq!(
        found,
        [
            ("3456789012".to_owned(), Some(true)),
            ("4567890123".to_owned(), Some(true)),
            ("6789012345".to_owned(), Some(false)),
        ]
    );
    assert_eq!(
        result.certificates[2].info.not_after.to_rfc3339(),
        "2051-06-30T00:00:00+00:00"
    );
}

#[test]
fn hostile_inputs_give_one_error_each() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let der = &fx.office_a_new.der;
    std::fs::write(d.join("truncated.der"), &der[..der.len() / 2]).unwrap();
    std::fs::write(d.join("garbage.pem"), b"\x00\x01 this is not a certificate").unwrap();
    std::fs::write(d.join("empty.cer"), b"").unwrap();
    std::fs::write(d.join("oversized.crt"), vec![b'A'; 2048]).unwrap();
    let mut huge = serialize_element(&ElementSpec {
        der,
        ..Default::default()
    });
    huge[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    std::fs::write(d.join("huge-length.sst"), {
        let mut s = certfleet_agent::element::STORE_MAGIC.to_vec();
        s.extend(&huge);
        s
    })
    .unwrap();
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"junk");
    std::fs::write(d.join("trailing.der"), trailing).unwrap();
    std::fs::write(
        d.join("bad-base64.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(
        d.join("corrupt.p12"),
        [0x30, 0x05, 0x02, 0x01, 0x03, 0x30, 0x00],
    )
    .unwrap();
    std::fs::write(d.join("good.pem"), &fx.office_a_new.pem).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d, d.join("loop")).unwrap();
    }

    let mut cfg = config(None, &[d]);
    cfg.max_file_size = 1024;
    let result = scan(&cfg);
    assert_eq!(result.certificates.len(), 1, "the good file still counts");
    let mut by_file: Vec<(String, String)> = result
        .errors
        .iter()
        .map(|e| {
            let name = Path::new(&e.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, e.message.clone())
        })
        .collect();
    by_file.sort();
    let names: Vec<&str> = by_file.iter().map(|(n, _)| n.as_str()).collect();
    let mut want = vec![
        "bad-base64.pem",
        "corrupt.p12",
        "empty.cer",
        "garbage.pem",
        "huge-length.sst",
        "oversized.crt",
        "trailing.der",
        "truncated.der",
    ];
    if cfg!(unix) {
        want.push("loop");
    }
    want.sort();
    assert_eq!(names, want, "{by_file:#?}");
    let msg = |n: &str| &by_file.iter().find(|(f, _)| f == n).unwrap().1;
    assert!(msg("oversized.crt").contains("larger than the 1024-byte limit"));
    assert!(msg("huge-length.sst").contains("declares more bytes than remain"));
    assert!(msg("trailing.der").contains("trailing data"));
    assert!(msg("empty.cer").contains("empty"));
    assert!(msg("bad-base64.pem").contains("invalid base64"));
    if cfg!(unix) {
        assert!(msg("loop").contains("symlink loop"));
    }
}

#[test]
fn missing_paths_and_special_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.pem");
    let result = scan(&config(Some(&tmp.path().join("NoUsers")), &[&missing]));
    assert_eq!(result.errors.len(), 2, "{:#?}", result.errors);
    assert!(
        result
            .errors
            .iter()
            .any(|e| e.source == Source::ProfileFile)
    );
    assert!(result.errors.iter().any(|e| e.source == Source::File));
    #[cfg(unix)]
    {
        // A FIFO must be refused, not opened (opening would block the scan forever).
        let fifo = tmp.path().join("pipe.pem");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo failed");
        let result = scan(&config(None, &[&fifo]));
        assert_eq!(result.errors.len(), 1);
        assert!(result.errors[0].message.contains("not a regular file"));
    }
}
