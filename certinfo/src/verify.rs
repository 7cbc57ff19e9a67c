//! Signature checks against pinned issuer certificates (feature `verify`, used by the
//! collector): whether a certificate was really signed by a CA, not only named after it. An
//! issuer name is text anyone can put into a self-made certificate.

use x509_parser::prelude::*;

use crate::parse::MAX_DER_LEN;

/// `Ok` when one of `issuers` (DER CA certificates) signed `der`; otherwise why not, in words.
pub fn verify_issued_by(der: &[u8], issuers: &[Vec<u8>]) -> Result<(), String> {
    if der.len() > MAX_DER_LEN {
        return Err("the certificate is too large to check".into());
    }
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not parsable: {e}"))?;
    let mut reasons = Vec::new();
    for issuer_der in issuers {
        let (_, issuer) = match X509Certificate::from_der(issuer_der) {
            Ok(parsed) => parsed,
            Err(e) => {
                reasons.push(format!("a pinned CA is not parsable: {e}"));
                continue;
            }
        };
        match cert.verify_signature(Some(issuer.public_key())) {
            Ok(()) => return Ok(()),
            Err(X509Error::SignatureVerificationError) => {}
            Err(e) => reasons.push(e.to_string()),
        }
    }
    let mut message = format!(
        "its signature does not verify with the pinned issuer CA{} ({})",
        if issuers.len() == 1 { "" } else { "s" },
        cert.issuer()
    );
    if !reasons.is_empty() {
        message.push_str(": ");
        message.push_str(&reasons.join("; "));
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };

    fn ca(name: &str) -> (Vec<u8>, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.der().to_vec(), Issuer::new(params, key))
    }

    fn leaf(issuer: &Issuer<'_, KeyPair>) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "1234567890");
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, issuer).unwrap().der().to_vec()
    }

    #[test]
    fn only_the_real_issuer_verifies() {
        let (real_der, real) = ca("KANAGAWA KOKUHOREN CA");
        // Same name, another key: what a forger makes.
        let (_, forged) = ca("KANAGAWA KOKUHOREN CA");
        let (next_der, _) = ca("KANAGAWA KOKUHOREN CA 2");
        assert_eq!(
            verify_issued_by(&leaf(&real), std::slice::from_ref(&real_der)),
            Ok(())
        );
        assert_eq!(
            verify_issued_by(&leaf(&real), &[next_der.clone(), real_der.clone()]),
            Ok(()),
            "any pinned CA will do (old and new during a CA change)"
        );
        let err = verify_issued_by(&leaf(&forged), &[real_der]).unwrap_err();
        assert!(
            err.starts_with("its signature does not verify with the pinned issuer CA"),
            "{err}"
        );
        assert!(err.contains("KANAGAWA KOKUHOREN CA"), "{err}");
        assert!(verify_issued_by(b"junk", &[next_der]).is_err());
    }
}
