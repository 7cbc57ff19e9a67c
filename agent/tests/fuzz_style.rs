//! Fuzz-style robustness: thousands of mutated and random inputs through the element/store
//! parser and every file front end. The only assertion is the important one: no panic, and a
//! bad input yields an error rather than a certificate that fails to parse. Deterministic
//! (fixed seed) so a failure reproduces; a few seconds in a debug build.

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use certfleet_agent::element::{
    ElementSpec, parse_element, parse_store, serialize_element, serialize_store,
};
use certfleet_agent::formats::extract;

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 => {
                let i = rng.below(data.len() + 1);
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                data.splice(i..i, extra);
            }
            4 if data.len() >= 4 => {
                // Plant a huge little- or big-endian length somewhere.
                let i = rng.below(data.len() - 3);
                let v = [0xff, 0xff, 0xff, 0x7f, 0x80, 0x84][rng.below(6)];
                data[i..i + 4].copy_from_slice(&[v; 4]);
            }
            5 if data.len() > 2 => {
                let i = rng.below(data.len() - 1);
                let j = rng.below(data.len() - 1);
                data.swap(i, j);
            }
            _ => {
                let i = rng.below(data.len() + 1);
                data.truncate(i);
                data.extend_from_slice(&input[..input.len().min(rng.below(64))]);
            }
        }
    }
    data
}

fn check_front_ends(data: &[u8], ext: Option<&str>) {
    let _ = parse_element(data);
    let _ = parse_store(data);
    let got = extract(data, ext, Some("pw"));
    for cert in got.certs {
        // Extracted bytes may be any garbage; parsing them must not panic either.
        let _ = certfleet_certinfo::parse_der(&cert.der);
    }
}

#[test]
fn mutated_and_random_inputs_never_panic() {
    let fx = fixtures::generate();
    let dir = tempfile::tempdir().unwrap();
    let element = serialize_element(&ElementSpec {
        der: &fx.office_a_new.der,
        key_container: Some("c"),
        friendly_name: Some("n"),
    });
    let store = serialize_store(&[
        ElementSpec {
            der: &fx.office_a_new.der,
            key_container: Some("c"),
            friendly_name: Some("n"),
        },
        ElementSpec {
            der: &fx.office_b_expired.der,
            ..Default::default()
        },
    ]);
    let p7b = dir.path().join("x.p7b");
    fixtures::write_p7b(dir.path(), &p7b, &[&fx.office_a_new, &fx.ca], true);
    let p12 = dir.path().join("x.p12");
    // Unprotected PKCS#12: mutations exercise the structure walk without paying for the KDF
    // on every iteration (the KDF paths are covered by the format tests).
    fixtures::write_p12(
        dir.path(),
        &p12,
        &fx.office_a_new,
        &[&fx.ca],
        "",
        fixtures::P12Kind::Plain,
        "f",
    );
    let seeds: Vec<(Vec<u8>, Option<&str>)> = vec![
        (element, None),
        (store, Some("sst")),
        (fx.office_a_new.der.clone(), Some("cer")),
        (fx.office_a_new.pem.as_bytes().to_vec(), Some("pem")),
        (std::fs::read(&p7b).unwrap(), Some("p7b")),
        (std::fs::read(&p12).unwrap(), Some("p12")),
    ];
    let mut rng = Rng(0x5eed_cf00_d15c_0001);
    let mut runs = 0;
    for (seed, ext) in &seeds {
        for _ in 0..5000 {
            check_front_ends(&mutate(&mut rng, seed), *ext);
            runs += 1;
        }
    }
    for _ in 0..1000 {
        let len = rng.below(256);
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half of the random inputs get a plausible header so they get past the first check.
        if rng.below(2) == 0 && data.len() >= 12 {
            data[..12].copy_from_slice(&[0x20, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0]);
        }
        check_front_ends(&data, None);
        runs += 1;
    }
    assert_eq!(runs, seeds.len() * 5000 + 1000);
}
