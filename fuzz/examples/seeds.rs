//! Writes the seed inputs of the three fuzz targets from freshly generated fixture certificates
//! (`testdata/fixtures.rs`: rcgen certificates, PKCS#7 and PKCS#12 from the real `openssl` CLI),
//! so the committed corpora can be rebuilt: `cargo run --example seeds -- <dir>` writes
//! `<dir>/{element,file_front_ends,report_request}/`, which `cargo fuzz cmin` then minimizes.
//!
//! The report requests are what the agent really sends: `scan()` over a fake `Users` tree and
//! exported files, `build_request`, then the prost encoding tonic puts on the wire.

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};

use certfleet_agent::element::{ElementSpec, serialize_element, serialize_store};
use certfleet_agent::profiles::personal_store_dir;
use certfleet_agent::report::build_request;
use certfleet_agent::{ScanConfig, scan};
use certfleet_proto::v1 as pb;
use fixtures::{Fixtures, P12Kind, TestCert, write_p7b, write_p12};
use prost::Message;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: seeds <output dir>"));
    let fx = fixtures::generate();
    let work = tempfile::tempdir().unwrap();
    element_seeds(&fx, &out.join("element"));
    front_end_seeds(&fx, work.path(), &out.join("file_front_ends"));
    report_seeds(&fx, work.path(), &out.join("report_request"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn spec<'a>(c: &'a TestCert, key: bool, friendly: bool) -> ElementSpec<'a> {
    ElementSpec {
        der: &c.der,
        key_container: key.then_some("te-certfleet-fuzz-key"),
        friendly_name: friendly.then_some("事業所 証明書"),
    }
}

/// Serialized elements (profile files, registry blobs) and `.sst` stores.
fn element_seeds(fx: &Fixtures, dir: &Path) {
    write(
        dir,
        "office_a_old.element",
        &serialize_element(&spec(&fx.office_a_old, true, true)),
    );
    write(
        dir,
        "office_c_utf8.element",
        &serialize_element(&spec(&fx.office_c_utf8, false, false)),
    );
    write(
        dir,
        "far_future.element",
        &serialize_element(&spec(&fx.far_future, true, false)),
    );
    let all: Vec<ElementSpec<'_>> = fx.all().into_iter().map(|c| spec(c, false, true)).collect();
    write(dir, "all.sst", &serialize_store(&all));
    write(
        dir,
        "one.sst",
        &serialize_store(&[spec(&fx.office_d_bmp, true, true)]),
    );
    write(dir, "empty.sst", &serialize_store(&[]));
}

/// Every file format the agent sniffs: DER, PEM (single and bundle), PKCS#7 in DER and PEM,
/// PKCS#12 in each protection the agent reads (password `pw`, as the fuzz target passes).
fn front_end_seeds(fx: &Fixtures, work: &Path, dir: &Path) {
    write(dir, "office_a_new.der", &fx.office_a_new.der);
    write(dir, "japanese_server.der", &fx.japanese_server.der);
    write(
        dir,
        "office_b_expired.pem",
        fx.office_b_expired.pem.as_bytes(),
    );
    let bundle: String = [&fx.ca, &fx.office_c_utf8, &fx.no_cn]
        .iter()
        .map(|c| c.pem.as_str())
        .collect();
    write(dir, "bundle.pem", bundle.as_bytes());
    let chain = [&fx.office_a_old, &fx.ca];
    for (name, der) in [("chain.p7b", true), ("chain.p7b.pem", false)] {
        write_p7b(work, &work.join(name), &chain, der);
        write(dir, name, &std::fs::read(work.join(name)).unwrap());
    }
    for (name, kind) in [
        ("modern.p12", P12Kind::Modern),
        ("legacy.p12", P12Kind::Legacy),
        ("plain.p12", P12Kind::Plain),
    ] {
        write_p12(
            work,
            &work.join(name),
            &fx.office_a_new,
            &[&fx.ca],
            "pw",
            kind,
            "office A",
        );
        write(dir, name, &std::fs::read(work.join(name)).unwrap());
    }
    write(
        dir,
        "one.sst",
        &serialize_store(&[spec(&fx.foreign, true, true)]),
    );
}

/// A fake `Users` tree (two profiles sharing a certificate, one garbage store file) and an
/// exports directory, scanned by the agent as it scans a PC.
fn fake_pc(fx: &Fixtures, root: &Path) -> (PathBuf, PathBuf) {
    let users = root.join("Users");
    let alice = personal_store_dir(&users.join("alice"));
    let bob = personal_store_dir(&users.join("bob"));
    std::fs::create_dir_all(&alice).unwrap();
    std::fs::create_dir_all(&bob).unwrap();
    for (dir, c, key) in [
        (&alice, &fx.office_a_old, true),
        (&alice, &fx.office_a_new, false),
        (&bob, &fx.office_a_new, true),
        (&bob, &fx.office_b_expired, true),
        (&bob, &fx.foreign, false),
    ] {
        let name = hex_upper(&c.der[..20]);
        std::fs::write(dir.join(name), serialize_element(&spec(c, key, true))).unwrap();
    }
    std::fs::write(
        bob.join("0000000000000000000000000000000000000000"),
        b"not an element",
    )
    .unwrap();
    let exports = root.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("office_c.pem"), &fx.office_c_utf8.pem).unwrap();
    std::fs::write(exports.join("office_d.cer"), &fx.office_d_bmp.der).unwrap();
    std::fs::write(exports.join("far.cer"), &fx.far_future.der).unwrap();
    (users, exports)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn facts(machine_id: &str) -> pb::TerminalFacts {
    pb::TerminalFacts {
        machine_id: machine_id.into(),
        hostname: "RECEPT-PC01".into(),
        os_name: "Windows 11 Pro".into(),
        os_version: "10.0.22631".into(),
        agent_version: "0.1.0".into(),
    }
}

fn report_seeds(fx: &Fixtures, work: &Path, dir: &Path) {
    let (users, exports) = fake_pc(fx, &work.join("pc"));
    let scanned_at = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let mut config = ScanConfig::paths_only(vec![exports]);
    config.profiles_root = Some(users);
    // What the agent sends by default (office certificates only), and everything it found.
    let selected = scan(&config);
    config.all_issuers = true;
    let everything = scan(&config);
    let id = "4c4c4544-0042-3510-8052-b4c04f4e3832";
    let full = build_request(&everything, facts(id), scanned_at);
    write(
        dir,
        "selected.pb",
        &build_request(&selected, facts(id), scanned_at).encode_to_vec(),
    );
    write(dir, "everything.pb", &full.encode_to_vec());

    // Edge cases the validation must handle: no certificates, a future scan time, the same
    // certificate listed twice, a certificate that is not DER, and a report without facts.
    let mut empty = full.clone();
    empty.certificates.clear();
    empty.errors.clear();
    write(dir, "empty.pb", &empty.encode_to_vec());
    let mut future = empty.clone();
    future.scanned_at = Some(prost_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    });
    future.certificates = full.certificates[..1].to_vec();
    write(dir, "future.pb", &future.encode_to_vec());
    let mut dup = empty.clone();
    let mut twice = full.certificates[0].clone();
    twice.locations.reverse();
    twice.has_private_key = Some(false);
    dup.certificates = vec![full.certificates[0].clone(), twice];
    write(dir, "duplicate.pb", &dup.encode_to_vec());
    let mut junk = empty.clone();
    let mut bad = full.certificates[0].clone();
    bad.der.truncate(bad.der.len() / 2);
    junk.certificates = vec![bad, full.certificates[1].clone()];
    write(dir, "truncated_der.pb", &junk.encode_to_vec());
    let mut no_facts = empty;
    no_facts.terminal = None;
    write(dir, "no_facts.pb", &no_facts.encode_to_vec());
}
