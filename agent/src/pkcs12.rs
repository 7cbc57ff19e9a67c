//! PKCS#12 (`.p12`, `.pfx`): the certificates of a password-protected export.
//!
//! Only certificate bags are read. Key bags are never decrypted or parsed: their value is
//! skipped, and only their `localKeyId` attribute (stored in the clear, outside the key) is
//! compared with the certificates' to tell which certificate comes with its key.
//!
//! Supported protection (what OpenSSL 3, older OpenSSL / `-legacy` and Windows produce):
//! PBES2 with PBKDF2 and AES-CBC (or 3DES); the PKCS#12 PBEs with SHA-1 and 3DES or RC2; no
//! encryption at all; MAC with HMAC-SHA-1/-256/-384/-512 and the RFC 7292 appendix B key
//! derivation. BER (indefinite lengths, segmented OCTET STRINGs, as Windows writes) is read
//! through [`crate::asn1`], and certificates come out as the exact bytes in the file.
//!
//! Hostile files may ask for billions of KDF iterations; the total per file is capped.
#![forbid(unsafe_code)]

use std::borrow::Cow;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use hmac::{Mac, SimpleHmac};
use pkcs12::kdf::Pkcs12KeyType;
use sha2::digest::core_api::BlockSizeUser;
use sha2::digest::{Digest, FixedOutputReset};

use crate::asn1::{self, Asn1Error, Tlv, tag};

/// Total key-derivation iterations allowed per file (MAC plus every encrypted part). OpenSSL
/// uses 2048 per derivation and Windows 2000–10000, so this only stops hostile files.
const MAX_ITERATIONS_PER_FILE: u64 = 4_000_000;
/// Nesting of safeContentsBag allowed.
const MAX_BAG_NESTING: usize = 4;

const PKCS: [u8; 7] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01];

fn pkcs_oid(oid: &[u8], tail: &[u8]) -> bool {
    oid.len() == PKCS.len() + tail.len() && oid.starts_with(&PKCS) && oid.ends_with(tail)
}

const DATA: &[u8] = &[0x07, 0x01];
const ENCRYPTED_DATA: &[u8] = &[0x07, 0x06];
const PBES2: &[u8] = &[0x05, 0x0d];
const PBE_SHA_3DES: &[u8] = &[0x0c, 0x01, 0x03];
const PBE_SHA_2DES: &[u8] = &[0x0c, 0x01, 0x04];
const PBE_SHA_RC2_128: &[u8] = &[0x0c, 0x01, 0x05];
const PBE_SHA_RC2_40: &[u8] = &[0x0c, 0x01, 0x06];
const KEY_BAG: &[u8] = &[0x0c, 0x0a, 0x01, 0x01];
const SHROUDED_KEY_BAG: &[u8] = &[0x0c, 0x0a, 0x01, 0x02];
const CERT_BAG: &[u8] = &[0x0c, 0x0a, 0x01, 0x03];
const SAFE_CONTENTS_BAG: &[u8] = &[0x0c, 0x0a, 0x01, 0x06];
const X509_CERTIFICATE: &[u8] = &[0x09, 0x16, 0x01];
const FRIENDLY_NAME: &[u8] = &[0x09, 0x14];
const LOCAL_KEY_ID: &[u8] = &[0x09, 0x15];

const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA2_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];

/// Why a PKCS#12 file gave no certificates.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Pkcs12Error {
    #[error("malformed PKCS#12: {0}")]
    Asn1(#[from] Asn1Error),
    #[error("unsupported PKCS#12 version {0} (expected 3)")]
    Version(u64),
    #[error("PKCS#12 content type {0} is not supported (only password integrity mode)")]
    UnsupportedContent(String),
    #[error("wrong PKCS#12 password (MAC verification failed)")]
    WrongPassword,
    #[error(
        "the PKCS#12 file is password-protected and no password was given (set --pkcs12-password-env)"
    )]
    PasswordRequired,
    #[error("cannot decrypt the PKCS#12 certificates: wrong password or corrupt file")]
    Decrypt,
    #[error("unsupported PKCS#12 algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("PKCS#12 key derivation asks for more than {MAX_ITERATIONS_PER_FILE} iterations")]
    TooManyIterations,
    #[error("PKCS#12 safe contents nested more than {MAX_BAG_NESTING} levels")]
    TooDeep,
}

/// A certificate found in a PKCS#12 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P12Cert {
    pub der: Vec<u8>,
    /// The bag's friendlyName attribute.
    pub friendly_name: Option<String>,
    /// `Some(true)` when a key bag carries the same localKeyId; `None` otherwise (a PKCS#12
    /// says nothing about keys it does not hold).
    pub has_private_key: Option<bool>,
}

/// The password in both encodings PKCS#12 uses.
struct Secret {
    /// UTF-16BE with a terminating NUL, for the RFC 7292 KDF; empty for "no password".
    bmp: Vec<u8>,
    /// Raw UTF-8, for PBES2.
    utf8: Vec<u8>,
}

impl Secret {
    fn candidates(password: Option<&str>) -> Vec<Secret> {
        let given = password.unwrap_or("");
        let bmp: Vec<u8> = given
            .encode_utf16()
            .chain(std::iter::once(0))
            .flat_map(u16::to_be_bytes)
            .collect();
        let mut out = vec![Secret {
            bmp,
            utf8: given.as_bytes().to_vec(),
        }];
        if given.is_empty() {
            // OpenSSL writes "no password" either as an empty BMPString (00 00) or as no bytes.
            out.push(Secret {
                bmp: Vec::new(),
                utf8: Vec::new(),
            });
        }
        out
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bmp.fill(0);
        self.utf8.fill(0);
    }
}

struct Budget(u64);

impl Budget {
    fn spend(&mut self, iterations: u64) -> Result<(), Pkcs12Error> {
        self.0 = self
            .0
            .checked_sub(iterations)
            .ok_or(Pkcs12Error::TooManyIterations)?;
        Ok(())
    }
}

/// RFC 7292 appendix B.2 key derivation, by RustCrypto's `pkcs12` crate. `pass` is the
/// password as the KDF takes it ([`Secret::bmp`], possibly empty). Every caller has charged
/// `iterations` to the file's [`Budget`] first, which keeps it far below `i32::MAX`.
fn kdf<D: Digest + FixedOutputReset + BlockSizeUser>(
    pass: &[u8],
    salt: &[u8],
    id: Pkcs12KeyType,
    iterations: u64,
    out_len: usize,
) -> Vec<u8> {
    let rounds = i32::try_from(iterations).unwrap_or(i32::MAX);
    pkcs12::kdf::derive_key::<D>(pass, salt, id, rounds, out_len)
}

#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

fn hash_of(alg_oid: &[u8]) -> Result<Hash, Pkcs12Error> {
    if alg_oid == SHA1 {
        return Ok(Hash::Sha1);
    }
    if alg_oid.len() == SHA2_PREFIX.len() + 1 && alg_oid.starts_with(SHA2_PREFIX) {
        match alg_oid[SHA2_PREFIX.len()] {
            1 => return Ok(Hash::Sha256),
            2 => return Ok(Hash::Sha384),
            3 => return Ok(Hash::Sha512),
            _ => {}
        }
    }
    Err(Pkcs12Error::UnsupportedAlgorithm(asn1::oid_to_string(
        alg_oid,
    )))
}

fn hmac_matches<D>(key_pass: &[u8], salt: &[u8], iterations: u64, data: &[u8], mac: &[u8]) -> bool
where
    D: Digest + FixedOutputReset + BlockSizeUser,
{
    let key = kdf::<D>(
        key_pass,
        salt,
        Pkcs12KeyType::Mac,
        iterations,
        <D as Digest>::output_size(),
    );
    let Ok(mut h) = <SimpleHmac<D> as KeyInit>::new_from_slice(&key) else {
        return false;
    };
    h.update(data);
    h.verify_slice(mac).is_ok()
}

struct MacData<'a> {
    hash: Hash,
    digest: Cow<'a, [u8]>,
    salt: Cow<'a, [u8]>,
    iterations: u64,
}

fn parse_mac(tlv: Tlv<'_>) -> Result<MacData<'_>, Pkcs12Error> {
    let mut f = tlv.expect(tag::SEQUENCE, "MacData")?.children();
    let mut digest_info = f
        .need("DigestInfo")?
        .expect(tag::SEQUENCE, "DigestInfo")?
        .children();
    let alg = digest_info
        .need("digestAlgorithm")?
        .expect(tag::SEQUENCE, "AlgorithmIdentifier")?;
    let oid = alg
        .children()
        .need("algorithm")?
        .expect(tag::OID, "algorithm OID")?;
    let hash = hash_of(oid.value)?;
    let digest = digest_info.need("digest")?.octets()?;
    let salt = f.need("macSalt")?.octets()?;
    let iterations = match f.next() {
        Some(t) => t?.expect(tag::INTEGER, "iterations")?.small_uint()?,
        None => 1,
    };
    Ok(MacData {
        hash,
        digest,
        salt,
        iterations,
    })
}

fn verify_mac(mac: &MacData<'_>, secret: &Secret, data: &[u8]) -> bool {
    let (p, s, i, d) = (
        &secret.bmp[..],
        &mac.salt[..],
        mac.iterations,
        &mac.digest[..],
    );
    match mac.hash {
        Hash::Sha1 => hmac_matches::<sha1::Sha1>(p, s, i, data, d),
        Hash::Sha256 => hmac_matches::<sha2::Sha256>(p, s, i, data, d),
        Hash::Sha384 => hmac_matches::<sha2::Sha384>(p, s, i, data, d),
        Hash::Sha512 => hmac_matches::<sha2::Sha512>(p, s, i, data, d),
    }
}

fn cbc_decrypt<C>(cipher: C, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, Pkcs12Error>
where
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockDecryptMut,
{
    let dec =
        cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|_| Pkcs12Error::Decrypt)?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| Pkcs12Error::Decrypt)
}

/// Decrypts an EncryptedContentInfo body with a PKCS#12 PBE (SHA-1 KDF) algorithm.
fn pkcs12_pbe_decrypt(
    scheme: &[u8],
    params: Tlv<'_>,
    secret: &Secret,
    data: &[u8],
    budget: &mut Budget,
) -> Result<Vec<u8>, Pkcs12Error> {
    let mut p = params.expect(tag::SEQUENCE, "PBE parameters")?.children();
    let salt = p.need("salt")?.octets()?;
    let iterations = p
        .need("iterations")?
        .expect(tag::INTEGER, "iterations")?
        .small_uint()?;
    budget.spend(iterations.saturating_mul(2))?;
    let derive = |id, len| kdf::<sha1::Sha1>(&secret.bmp, &salt, id, iterations, len);
    let iv = derive(Pkcs12KeyType::Iv, 8);
    if scheme == PBE_SHA_3DES {
        let key = derive(Pkcs12KeyType::EncryptionKey, 24);
        let c = des::TdesEde3::new_from_slice(&key).map_err(|_| Pkcs12Error::Decrypt)?;
        cbc_decrypt(c, &iv, data)
    } else if scheme == PBE_SHA_2DES {
        let key = derive(Pkcs12KeyType::EncryptionKey, 16);
        let c = des::TdesEde2::new_from_slice(&key).map_err(|_| Pkcs12Error::Decrypt)?;
        cbc_decrypt(c, &iv, data)
    } else {
        let bits = if scheme == PBE_SHA_RC2_40 { 40 } else { 128 };
        let key = derive(Pkcs12KeyType::EncryptionKey, bits / 8);
        let c = rc2::Rc2::new_with_eff_key_len(&key, bits);
        cbc_decrypt(c, &iv, data)
    }
}

/// EncryptedData → SafeContents bytes.
fn decrypt_encrypted_data(
    content: Tlv<'_>,
    secret: &Secret,
    budget: &mut Budget,
) -> Result<Vec<u8>, Pkcs12Error> {
    let mut ed = content.expect(tag::SEQUENCE, "EncryptedData")?.children();
    ed.need("version")?.expect(tag::INTEGER, "version")?;
    let mut eci = ed
        .need("EncryptedContentInfo")?
        .expect(tag::SEQUENCE, "EncryptedContentInfo")?
        .children();
    eci.need("contentType")?.expect(tag::OID, "contentType")?;
    let alg = eci
        .need("contentEncryptionAlgorithm")?
        .expect(tag::SEQUENCE, "AlgorithmIdentifier")?;
    let ciphertext = match eci.next() {
        Some(t) => {
            let t = t?;
            if t.tag & 0x1f != 0 || t.tag & 0xc0 != 0x80 {
                return Err(Asn1Error::Unexpected {
                    expected: "[0] encryptedContent",
                    found: t.tag,
                }
                .into());
            }
            t.octets()?
        }
        None => return Ok(Vec::new()),
    };
    let mut a = alg.children();
    let oid = a.need("algorithm")?.expect(tag::OID, "algorithm OID")?;
    if pkcs_oid(oid.value, PBES2) {
        let scheme = pkcs5::EncryptionScheme::try_from(alg.raw)
            .map_err(|e| Pkcs12Error::UnsupportedAlgorithm(format!("PBES2 parameters: {e}")))?;
        let Some(params) = scheme.pbes2() else {
            return Err(Pkcs12Error::UnsupportedAlgorithm("PBES1".into()));
        };
        match &params.kdf {
            pkcs5::pbes2::Kdf::Pbkdf2(p) => budget.spend(u64::from(p.iteration_count))?,
            _ => {
                // scrypt: memory-hard by design, which a hostile file could abuse.
                return Err(Pkcs12Error::UnsupportedAlgorithm(
                    "PBES2 with scrypt".into(),
                ));
            }
        }
        return scheme
            .decrypt(&secret.utf8, &ciphertext)
            .map_err(|_| Pkcs12Error::Decrypt);
    }
    for pbe in [PBE_SHA_3DES, PBE_SHA_2DES, PBE_SHA_RC2_128, PBE_SHA_RC2_40] {
        if pkcs_oid(oid.value, pbe) {
            let params = a.need("PBE parameters")?;
            return pkcs12_pbe_decrypt(pbe, params, secret, &ciphertext, budget);
        }
    }
    Err(Pkcs12Error::UnsupportedAlgorithm(asn1::oid_to_string(
        oid.value,
    )))
}

#[derive(Default)]
struct Collected {
    certs: Vec<(P12Cert, Option<Vec<u8>>)>,
    key_ids: Vec<Vec<u8>>,
}

struct Attributes {
    friendly_name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

fn bag_attributes(set: Option<Tlv<'_>>) -> Result<Attributes, Pkcs12Error> {
    let mut out = Attributes {
        friendly_name: None,
        local_key_id: None,
    };
    let Some(set) = set else { return Ok(out) };
    for attr in set.expect(tag::SET, "bagAttributes")?.children() {
        let mut a = attr?.expect(tag::SEQUENCE, "Attribute")?.children();
        let oid = a.need("attrId")?.expect(tag::OID, "attrId")?;
        let Some(values) = a.next() else { continue };
        let Some(first) = values?.children().next() else {
            continue;
        };
        let first = first?;
        if pkcs_oid(oid.value, FRIENDLY_NAME) && first.tag == tag::BMP_STRING {
            let units: Vec<u16> = first
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.friendly_name = String::from_utf16(&units).ok();
        } else if pkcs_oid(oid.value, LOCAL_KEY_ID) {
            out.local_key_id = Some(first.octets()?.into_owned());
        }
    }
    Ok(out)
}

fn read_safe_contents(data: &[u8], depth: usize, out: &mut Collected) -> Result<(), Pkcs12Error> {
    if depth > MAX_BAG_NESTING {
        return Err(Pkcs12Error::TooDeep);
    }
    let (seq, _) = asn1::read(data)?;
    for bag in seq.expect(tag::SEQUENCE, "SafeContents")?.children() {
        let mut f = bag?.expect(tag::SEQUENCE, "SafeBag")?.children();
        let id = f.need("bagId")?.expect(tag::OID, "bagId")?;
        let value = f.need("bagValue")?.expect(tag::CONTEXT_0, "[0] bagValue")?;
        let attrs = f.next().transpose()?;
        if pkcs_oid(id.value, CERT_BAG) {
            let attrs = bag_attributes(attrs)?;
            let mut cb = value
                .children()
                .need("CertBag")?
                .expect(tag::SEQUENCE, "CertBag")?
                .children();
            let cert_id = cb.need("certId")?.expect(tag::OID, "certId")?;
            if !pkcs_oid(cert_id.value, X509_CERTIFICATE) {
                continue; // SDSI certificates are not X.509.
            }
            let cert_value = cb
                .need("certValue")?
                .expect(tag::CONTEXT_0, "[0] certValue")?;
            let der = cert_value.children().need("certificate")?.octets()?;
            out.certs.push((
                P12Cert {
                    der: der.into_owned(),
                    friendly_name: attrs.friendly_name,
                    has_private_key: None,
                },
                attrs.local_key_id,
            ));
        } else if pkcs_oid(id.value, KEY_BAG) || pkcs_oid(id.value, SHROUDED_KEY_BAG) {
            // The key itself (`value`) is never looked at; only the clear-text attribute.
            if let Some(key_id) = bag_attributes(attrs)?.local_key_id {
                out.key_ids.push(key_id);
            }
        } else if pkcs_oid(id.value, SAFE_CONTENTS_BAG) {
            let inner = value.children().need("SafeContents")?;
            read_safe_contents(inner.raw, depth + 1, out)?;
        }
        // CRL and secret bags are of no use here.
    }
    Ok(())
}

/// Reads the certificates of a PKCS#12 file. `password` is `None` when none was configured;
/// unencrypted files and files protected by an empty password still open then.
pub fn certificates(data: &[u8], password: Option<&str>) -> Result<Vec<P12Cert>, Pkcs12Error> {
    let (pfx, _trailing) = asn1::read(data)?;
    let mut pfx = pfx.expect(tag::SEQUENCE, "PFX")?.children();
    let version = pfx
        .need("version")?
        .expect(tag::INTEGER, "version")?
        .small_uint()?;
    if version != 3 {
        return Err(Pkcs12Error::Version(version));
    }
    let mut auth_safe = pfx
        .need("authSafe")?
        .expect(tag::SEQUENCE, "authSafe ContentInfo")?
        .children();
    let ct = auth_safe
        .need("contentType")?
        .expect(tag::OID, "contentType")?;
    if !pkcs_oid(ct.value, DATA) {
        return Err(Pkcs12Error::UnsupportedContent(asn1::oid_to_string(
            ct.value,
        )));
    }
    let auth_bytes = auth_safe
        .need("content")?
        .expect(tag::CONTEXT_0, "[0] content")?
        .children()
        .need("authSafe data")?
        .octets()?;
    let mut budget = Budget(MAX_ITERATIONS_PER_FILE);
    let candidates = Secret::candidates(password);
    let secret = match pfx.next().transpose()? {
        Some(mac_tlv) => {
            let mac = parse_mac(mac_tlv)?;
            let mut found = None;
            for (i, candidate) in candidates.iter().enumerate() {
                budget.spend(mac.iterations)?;
                if verify_mac(&mac, candidate, &auth_bytes) {
                    found = Some(i);
                    break;
                }
            }
            match (found, password) {
                (Some(i), _) => &candidates[i],
                (None, None) => return Err(Pkcs12Error::PasswordRequired),
                (None, Some(_)) => return Err(Pkcs12Error::WrongPassword),
            }
        }
        None => &candidates[0],
    };
    let mut collected = Collected::default();
    let (safe, _) = asn1::read(&auth_bytes)?;
    for ci in safe.expect(tag::SEQUENCE, "AuthenticatedSafe")?.children() {
        let mut ci = ci?.expect(tag::SEQUENCE, "ContentInfo")?.children();
        let ct = ci.need("contentType")?.expect(tag::OID, "contentType")?;
        let Some(content) = ci.next().transpose()? else {
            continue;
        };
        let inner = content
            .expect(tag::CONTEXT_0, "[0] content")?
            .children()
            .need("content")?;
        if pkcs_oid(ct.value, DATA) {
            read_safe_contents(&inner.octets()?, 0, &mut collected)?;
        } else if pkcs_oid(ct.value, ENCRYPTED_DATA) {
            let mut plain = match decrypt_encrypted_data(inner, secret, &mut budget) {
                Err(Pkcs12Error::Decrypt) if password.is_none() => {
                    return Err(Pkcs12Error::PasswordRequired);
                }
                other => other?,
            };
            let result = read_safe_contents(&plain, 0, &mut collected);
            // The plaintext may hold key bags when a tool encrypted everything together.
            plain.fill(0);
            result?;
        } else {
            return Err(Pkcs12Error::UnsupportedContent(asn1::oid_to_string(
                ct.value,
            )));
        }
    }
    Ok(collected
        .certs
        .into_iter()
        .map(|(mut cert, key_id)| {
            if key_id.is_some_and(|id| collected.key_ids.contains(&id)) {
                cert.has_private_key = Some(true);
            }
            cert
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_matches_rfc7292_test_vectors() {
        // Password "smeg", salt 0A58CF64530D823F, id 1, 1 iteration, SHA-1, 24 bytes: the
        // PKCS#12 KDF test set used by OpenSSL and Bouncy Castle.
        let smeg = &Secret::candidates(Some("smeg"))[0];
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = kdf::<sha1::Sha1>(&smeg.bmp, &salt, Pkcs12KeyType::EncryptionKey, 1, 24);
        assert_eq!(
            key,
            [
                0x8a, 0xaa, 0xe6, 0x29, 0x7b, 0x6c, 0xb0, 0x46, 0x42, 0xab, 0x5b, 0x07, 0x78, 0x51,
                0x28, 0x4e, 0xb7, 0x12, 0x8f, 0x1a, 0x2a, 0x7f, 0xbc, 0xa3
            ]
        );
        // A non-ASCII password through our BMPString encoding, SHA-256, 100 iterations, all
        // three key types: values of OpenSSL's PKCS12_key_gen_utf8.
        let pass = &Secret::candidates(Some("ge@äheim"))[0];
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let hex = |id| hex_string(&kdf::<sha2::Sha256>(&pass.bmp, &salt, id, 100, 32));
        assert_eq!(
            hex(Pkcs12KeyType::EncryptionKey),
            "fae4d4957a3cc781e1180b9d4fb79c1e0c8579b746a3177e5b0768a3118bf863"
        );
        assert_eq!(
            hex(Pkcs12KeyType::Iv),
            "e5ff813bc6547de5155b14d2fada85b3201a977349db6e26ccc998d9e8f83d6c"
        );
        assert_eq!(
            hex(Pkcs12KeyType::Mac),
            "136355ed9434516682534f46d63956db5ff06b844702c2c1f3b46321e2524a4d"
        );
    }

    #[test]
    fn no_password_is_tried_both_ways_openssl_writes_it() {
        let secrets = Secret::candidates(None);
        assert_eq!(secrets.len(), 2);
        assert_eq!(
            secrets[0].bmp,
            [0, 0],
            "an empty BMPString with its terminator"
        );
        assert!(secrets[1].bmp.is_empty(), "no password bytes at all");
        let derive = |s: &Secret| kdf::<sha1::Sha1>(&s.bmp, &[1, 2], Pkcs12KeyType::Mac, 3, 20);
        assert_ne!(derive(&secrets[0]), derive(&secrets[1]));
    }

    fn hex_string(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(certificates(b"", None).is_err());
        assert!(certificates(&[0x30, 0x03, 0x02, 0x01, 0x02], None).is_err());
        assert_eq!(
            certificates(&[0x30, 0x03, 0x02, 0x01, 0x02], None),
            Err(Pkcs12Error::Version(2))
        );
    }
}
