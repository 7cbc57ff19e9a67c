//! File front ends: turn the bytes of one file into the certificates it holds, whatever the
//! format (PEM, DER, PKCS#7, PKCS#12, serialized store, single serialized element).
//!
//! The format is recognised from the content, not the name, because exported files are often
//! misnamed (a PEM `.cer`, a DER `.crt`, profile store files have no extension at all); the
//! extension only chooses which parser explains the error when the content is unrecognisable.
#![forbid(unsafe_code)]

use crate::{element, pem, pkcs7, pkcs12};

/// One certificate taken out of a file, with what the container said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub der: Vec<u8>,
    pub friendly_name: Option<String>,
    /// `Some` when the container knows whether a key is linked (stores, PKCS#12 with a key).
    pub has_private_key: Option<bool>,
}

impl Extracted {
    fn plain(der: Vec<u8>) -> Self {
        Self {
            der,
            friendly_name: None,
            has_private_key: None,
        }
    }
}

/// The certificates of one file, and what went wrong (at most one message per file: callers
/// report one error entry per bad file).
#[derive(Debug, Default)]
pub struct FileContents {
    pub certs: Vec<Extracted>,
    pub error: Option<String>,
    /// Damage that cost no certificate (data after a complete serialized element).
    pub warning: Option<String>,
}

impl FileContents {
    fn failed(message: impl Into<String>) -> Self {
        Self {
            certs: Vec::new(),
            error: Some(message.into()),
            warning: None,
        }
    }
}

/// Formats by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pem,
    DerCertificate,
    Pkcs7,
    Pkcs12,
    SerializedStore,
    SerializedElement,
}

/// Recognises the format of `data`, or `None` when it is none of the supported ones.
pub fn sniff(data: &[u8]) -> Option<Format> {
    if element::is_store(data) {
        return Some(Format::SerializedStore);
    }
    // A serialized element starts with a property header: small id, reserved field 1.
    if data.len() >= 12 {
        let id = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let reserved = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
        if reserved == 1 && (1..=0xffff).contains(&id) {
            return Some(Format::SerializedElement);
        }
    }
    if data.first() == Some(&0x30)
        && let Some(format) = der_container(data)
    {
        return Some(format);
    }
    if pem::looks_like_pem(data) {
        return Some(Format::Pem);
    }
    None
}

/// A SEQUENCE: a certificate starts with the TBSCertificate SEQUENCE, a PKCS#7 ContentInfo
/// with an OID, a PKCS#12 PFX with its version INTEGER.
fn der_container(data: &[u8]) -> Option<Format> {
    let (outer, _) = crate::asn1::read(data).ok()?;
    let first = outer.children().next()?.ok()?;
    match first.tag {
        0x30 => Some(Format::DerCertificate),
        0x06 => Some(Format::Pkcs7),
        0x02 => Some(Format::Pkcs12),
        _ => None,
    }
}

fn by_extension(ext: Option<&str>) -> Option<Format> {
    let ext = ext?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pem" | "crt" | "cer" | "cert" => Format::Pem,
        "der" => Format::DerCertificate,
        "p7b" | "p7c" => Format::Pkcs7,
        "p12" | "pfx" => Format::Pkcs12,
        "sst" => Format::SerializedStore,
        _ => return None,
    })
}

/// File extensions a directory walk picks up. Other files in scanned directories are left
/// alone (keys, documents), so a directory scan never reports them as errors.
pub const KNOWN_EXTENSIONS: &[&str] = &[
    "pem", "crt", "cer", "cert", "der", "p7b", "p7c", "p12", "pfx", "sst",
];

/// Extracts every certificate from one file's bytes. `ext` is the file extension (a hint
/// for error messages only); `password` is used for PKCS#12.
pub fn extract(data: &[u8], ext: Option<&str>, password: Option<&str>) -> FileContents {
    if data.is_empty() {
        return FileContents::failed("empty file");
    }
    let Some(format) = sniff(data).or_else(|| by_extension(ext)) else {
        return FileContents::failed(
            "not a certificate file (no PEM, DER, PKCS#7, PKCS#12 or serialized store content)",
        );
    };
    extract_as(format, data, password)
}

/// Extracts with a known format.
pub fn extract_as(format: Format, data: &[u8], password: Option<&str>) -> FileContents {
    match format {
        Format::DerCertificate => FileContents {
            certs: vec![Extracted::plain(data.to_vec())],
            ..Default::default()
        },
        Format::Pkcs7 => match pkcs7::certificates(data) {
            Ok(certs) => FileContents {
                certs: certs.into_iter().map(Extracted::plain).collect(),
                ..Default::default()
            },
            Err(e) => FileContents::failed(e.to_string()),
        },
        Format::Pkcs12 => match pkcs12::certificates(data, password) {
            Ok(certs) => FileContents {
                certs: certs
                    .into_iter()
                    .map(|c| Extracted {
                        der: c.der,
                        friendly_name: c.friendly_name,
                        has_private_key: c.has_private_key,
                    })
                    .collect(),
                ..Default::default()
            },
            Err(e) => FileContents::failed(e.to_string()),
        },
        Format::SerializedElement => match element::parse_element(data) {
            Ok(el) => FileContents {
                warning: el.warning.as_ref().map(element_warning),
                certs: vec![from_element(el)],
                ..Default::default()
            },
            Err(e) => FileContents::failed(format!("serialized certificate element: {e}")),
        },
        Format::SerializedStore => {
            let store = element::parse_store(data);
            FileContents {
                certs: store.elements.into_iter().map(from_element).collect(),
                error: store.error.map(|e| format!("serialized store: {e}")),
                ..Default::default()
            }
        }
        Format::Pem => extract_pem(data),
    }
}

/// The warning recorded for damage after a complete serialized element.
pub fn element_warning(damage: &element::ElementError) -> String {
    format!(
        "serialized certificate element: the certificate was read, but the data after it is damaged ({damage})"
    )
}

fn from_element(el: element::Element) -> Extracted {
    Extracted {
        der: el.der,
        friendly_name: el.friendly_name,
        has_private_key: Some(el.has_key_prov_info),
    }
}

fn extract_pem(data: &[u8]) -> FileContents {
    let parsed = pem::parse(data);
    let mut out = FileContents::default();
    let mut errors = parsed.errors;
    for item in parsed.items {
        match item {
            pem::PemItem::Certificate(der) => out.certs.push(Extracted::plain(der)),
            pem::PemItem::Pkcs7(der) => match pkcs7::certificates(&der) {
                Ok(certs) => out.certs.extend(certs.into_iter().map(Extracted::plain)),
                Err(e) => errors.push(e.to_string()),
            },
        }
    }
    if out.certs.is_empty() && errors.is_empty() && parsed.skipped == 0 {
        errors.push("no PEM certificate block found".to_owned());
    }
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}
