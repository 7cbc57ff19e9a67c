//! Fuzzes every file front end through content sniffing (PEM, DER, PKCS#7, PKCS#12, stores),
//! plus the X.509 parser on whatever they extract.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certfleet_agent::pkcs7::certificates(data);
    let _ = certfleet_agent::pkcs12::certificates(data, None);
    let got = certfleet_agent::formats::extract(data, None, Some("pw"));
    for cert in got.certs {
        let _ = certfleet_certinfo::parse_der(&cert.der);
    }
});
