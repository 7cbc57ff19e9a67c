//! Generates the benchmark corpus of BENCHMARKS.md ("Agent scan"): N certificate files, half
//! PEM and half DER, in a directory tree of 100 subdirectories. Half are office certificates
//! of the test CA, the rest come from a foreign CA, so both selection paths are exercised.
//!
//! Usage: `cargo run --release -p certfleet-agent --example gen_bench_corpus -- DIR [N]`

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SerialNumber,
};

fn ca(cn: &str) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params, key)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: gen_bench_corpus DIR [N]"));
    let n: usize = args
        .next()
        .map_or(10_000, |s| s.parse().expect("N is a number"));
    let (kana_params, kana_key) = ca("KANAGAWA KOKUHOREN CA");
    let (other_params, other_key) = ca("EXAMPLE FOREIGN CA");
    let kana = Issuer::from_params(&kana_params, &kana_key);
    let other = Issuer::from_params(&other_params, &other_key);
    // One leaf key for all: key generation is not what is measured.
    let leaf_key = KeyPair::generate().unwrap();
    let today = Utc::now().date_naive();
    for i in 0..n {
        let sub = dir.join(format!("d{:02}", i % 100));
        std::fs::create_dir_all(&sub).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{:010}", 1_000_000_000 + i));
        dn.push(DnType::OrganizationName, "Benchmark Office");
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from(i as u64 + 1));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let from = today - Duration::days(365 + (i % 700) as i64);
        let to = from + Duration::days(3 * 365);
        params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
        params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
        let issuer = if i % 2 == 0 { &kana } else { &other };
        let cert = params.signed_by(&leaf_key, issuer).unwrap();
        if i % 4 < 2 {
            std::fs::write(sub.join(format!("c{i}.pem")), cert.pem()).unwrap();
        } else {
            std::fs::write(sub.join(format!("c{i}.der")), cert.der()).unwrap();
        }
    }
    println!("wrote {n} certificate files under {}", dir.display());
}
