//! PKCS#7 / CMS certificate bundles (`.p7b`, `.p7c`): the certificates of a SignedData.
//!
//! Only the `certificates` field is read; signatures are not verified (a bundle is an export
//! format here, not a signed message). Certificates come out as the exact bytes in the file.
#![forbid(unsafe_code)]

use crate::asn1::{self, Asn1Error, tag};

/// `id-signedData` 1.2.840.113549.1.7.2 (OID content octets).
pub const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// Why bytes are not a usable PKCS#7 bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Pkcs7Error {
    #[error("malformed PKCS#7: {0}")]
    Asn1(#[from] Asn1Error),
    #[error("PKCS#7 content type {0} is not signedData")]
    NotSignedData(String),
}

/// The DER certificates in a PKCS#7 ContentInfo (DER or BER).
pub fn certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, Pkcs7Error> {
    let (ci, _trailing) = asn1::read(data)?;
    let mut ci = ci.expect(tag::SEQUENCE, "ContentInfo SEQUENCE")?.children();
    let oid = ci
        .need("contentType")?
        .expect(tag::OID, "contentType OID")?;
    if oid.value != OID_SIGNED_DATA {
        return Err(Pkcs7Error::NotSignedData(asn1::oid_to_string(oid.value)));
    }
    let explicit = ci.need("content")?.expect(tag::CONTEXT_0, "[0] content")?;
    let signed = explicit
        .children()
        .need("SignedData")?
        .expect(tag::SEQUENCE, "SignedData SEQUENCE")?;
    let mut out = Vec::new();
    for field in signed.children() {
        let field = field?;
        // certificates [0] IMPLICIT CertificateSet; other fields are skipped.
        if field.tag == tag::CONTEXT_0 {
            for choice in field.children() {
                let choice = choice?;
                // Plain certificates only; [0]..[3] alternatives (attribute certs, …) are not X.509.
                if choice.tag == tag::SEQUENCE {
                    out.push(choice.raw.to_vec());
                }
            }
        }
    }
    Ok(out)
}
