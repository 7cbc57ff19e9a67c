//! The body of the `file_front_ends` fuzz target, shared with the stable corpus-replay test:
//! every file front end through content sniffing (PEM, DER, PKCS#7, PKCS#12, stores).

/// Runs the PKCS#7 and PKCS#12 readers directly and the sniffing front end, then the X.509
/// parser on whatever they extract; none of them may panic.
pub fn run(data: &[u8]) {
    let _ = certfleet_agent::pkcs7::certificates(data);
    let _ = certfleet_agent::pkcs12::certificates(data, None);
    let got = certfleet_agent::formats::extract(data, None, Some("pw"));
    for cert in got.certs {
        let _ = certfleet_certinfo::parse_der(&cert.der);
    }
}
