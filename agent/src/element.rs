//! Windows serialized certificate elements and serialized store (`.sst`) files, read and written
//! in pure Rust.
//!
//! The per-user Personal store files, the registry `Blob` values and `.sst` exports all use this
//! format (SPEC §4; Wine `dlls/crypt32/serialize.c`): a run of properties, each a 12-byte
//! little-endian header `prop_id, reserved (= 1), length` and `length` bytes. The DER
//! certificate is property 0x20. A store file starts with `00 00 00 00 'C' 'E' 'R' 'T'`,
//! holds elements back to back (each element's properties come before its certificate
//! property, which closes it) and ends with an all-zero header.
//!
//! The reader runs on files any local user can write, so it trusts no length: every length is
//! checked against what is left, the number of properties is bounded, and it never panics.
#![forbid(unsafe_code)]

use sha1::{Digest, Sha1};

/// `CERT_KEY_PROV_INFO_PROP_ID`: present when the certificate is linked to a private key.
pub const KEY_PROV_INFO_PROP_ID: u32 = 2;
/// `CERT_SHA1_HASH_PROP_ID`.
pub const SHA1_HASH_PROP_ID: u32 = 3;
/// `CERT_FRIENDLY_NAME_PROP_ID`: UTF-16LE, NUL-terminated.
pub const FRIENDLY_NAME_PROP_ID: u32 = 11;
/// The encoded certificate (`CERT_CERT_PROP_ID`).
pub const CERT_PROP_ID: u32 = 0x20;
/// Encoded CRL and CTL: they close an element like a certificate but are not certificates.
pub const CRL_PROP_ID: u32 = 0x21;
pub const CTL_PROP_ID: u32 = 0x22;
/// First 8 bytes of a serialized store file.
pub const STORE_MAGIC: [u8; 8] = [0, 0, 0, 0, b'C', b'E', b'R', b'T'];

const HEADER_LEN: usize = 12;
/// More properties than Windows ever writes for one element (it writes about ten); the bound
/// keeps a file of empty properties from turning into millions of loop iterations per element.
const MAX_PROPERTIES_PER_ELEMENT: usize = 1024;
/// Most UTF-16 units of a friendly name decoded: more than the byte limit shared with the
/// collector (`certfleet_certinfo::limits::MAX_FRIENDLY_NAME_BYTES`), which the inventory
/// applies to every source.
pub const MAX_FRIENDLY_NAME_UNITS: usize = 1024;

/// Why bytes are not a serialized element or store.
///
/// The messages name the position and the kind of damage but never a value read from the
/// data: the SYSTEM agent may be pointed at a file it should not read, and its errors travel
/// to the collector.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ElementError {
    #[error("serialized element is empty")]
    Empty,
    #[error("property header at byte {offset} is truncated")]
    TruncatedHeader { offset: usize, have: usize },
    #[error("property at byte {offset} declares more bytes than remain")]
    LengthOverrun {
        offset: usize,
        prop_id: u32,
        len: u32,
        remaining: usize,
    },
    #[error("property at byte {offset} has a reserved field other than 1")]
    BadReserved {
        offset: usize,
        prop_id: u32,
        value: u32,
    },
    #[error("more than {MAX_PROPERTIES_PER_ELEMENT} properties in one element")]
    TooManyProperties,
    #[error("no certificate property (0x20) in the element")]
    NoCertificate,
    #[error("element holds {0} certificate properties; expected one")]
    SeveralCertificates(usize),
    #[error("not a serialized store: the file does not start with 00 00 00 00 'CERT'")]
    NotAStore,
}

/// The parts of a serialized element certfleet uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The DER certificate (property 0x20), unparsed.
    pub der: Vec<u8>,
    /// True when KEY_PROV_INFO is present: Windows links the certificate to a private key.
    /// The property's content (container and provider names) is never interpreted.
    pub has_key_prov_info: bool,
    /// FRIENDLY_NAME, when present and valid UTF-16 (at most [`MAX_FRIENDLY_NAME_UNITS`]
    /// units; the inventory cuts it to the limit shared with the collector).
    pub friendly_name: Option<String>,
    /// Set when damaged data follows a complete certificate: the certificate is kept, and the
    /// damage is reported as a warning rather than losing what Windows can still use.
    pub warning: Option<ElementError>,
}

struct Property<'a> {
    id: u32,
    offset: usize,
    data: &'a [u8],
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    // Callers guarantee `at + 4 <= data.len()`.
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Reads the property at `offset`. `Ok(None)` is the end marker (property id 0).
fn property_at(data: &[u8], offset: usize) -> Result<Option<(Property<'_>, usize)>, ElementError> {
    let have = data.len() - offset;
    if have < HEADER_LEN {
        return Err(ElementError::TruncatedHeader { offset, have });
    }
    let id = u32_at(data, offset);
    let reserved = u32_at(data, offset + 4);
    let len = u32_at(data, offset + 8);
    if id == 0 {
        return Ok(None);
    }
    if reserved != 1 {
        return Err(ElementError::BadReserved {
            offset,
            prop_id: id,
            value: reserved,
        });
    }
    let start = offset + HEADER_LEN;
    let remaining = data.len() - start;
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > remaining {
        return Err(ElementError::LengthOverrun {
            offset,
            prop_id: id,
            len,
            remaining,
        });
    }
    let end = start + len_usize;
    Ok(Some((
        Property {
            id,
            offset,
            data: &data[start..end],
        },
        end,
    )))
}

fn decode_friendly_name(data: &[u8]) -> Option<String> {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .take(MAX_FRIENDLY_NAME_UNITS)
        .collect();
    if units.is_empty() {
        return None;
    }
    String::from_utf16(&units).ok()
}

/// Collects the properties of one element into an [`Element`]; `certs` are the certificate
/// properties found (exactly one is required).
fn build(props: &[Property<'_>]) -> Result<Element, ElementError> {
    let certs: Vec<&Property<'_>> = props.iter().filter(|p| p.id == CERT_PROP_ID).collect();
    let der = match certs.as_slice() {
        [] => return Err(ElementError::NoCertificate),
        [one] => one.data.to_vec(),
        many => return Err(ElementError::SeveralCertificates(many.len())),
    };
    Ok(Element {
        der,
        has_key_prov_info: props.iter().any(|p| p.id == KEY_PROV_INFO_PROP_ID),
        friendly_name: props
            .iter()
            .find(|p| p.id == FRIENDLY_NAME_PROP_ID)
            .and_then(|p| decode_friendly_name(p.data)),
        warning: None,
    })
}

/// Parses one serialized certificate element (a profile store file or a registry `Blob`).
/// Properties may come in any order; an end marker (id 0) stops the walk. Damage after a
/// complete certificate property keeps the element, with [`Element::warning`] set.
pub fn parse_element(data: &[u8]) -> Result<Element, ElementError> {
    if data.is_empty() {
        return Err(ElementError::Empty);
    }
    let mut props: Vec<Property<'_>> = Vec::new();
    let mut offset = 0;
    let mut damage = None;
    while offset < data.len() {
        let step = property_at(data, offset).and_then(|found| {
            if found.is_some() && props.len() == MAX_PROPERTIES_PER_ELEMENT {
                Err(ElementError::TooManyProperties)
            } else {
                Ok(found)
            }
        });
        match step {
            Ok(Some((prop, next))) => {
                props.push(prop);
                offset = next;
            }
            Ok(None) => break,
            Err(e) if props.iter().any(|p| p.id == CERT_PROP_ID) => {
                damage = Some(e);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let mut element = build(&props)?;
    element.warning = damage;
    Ok(element)
}

/// What a serialized store file holds: the certificate elements read, and the error that
/// stopped reading early, if any (elements before the damage are kept).
#[derive(Debug, Default)]
pub struct StoreContents {
    pub elements: Vec<Element>,
    pub error: Option<ElementError>,
}

/// True when `data` starts like a serialized store file.
pub fn is_store(data: &[u8]) -> bool {
    data.starts_with(&STORE_MAGIC)
}

/// Parses a serialized store file (`.sst`): the magic, then elements whose properties precede
/// the certificate (or CRL/CTL) property that closes each one.
pub fn parse_store(data: &[u8]) -> StoreContents {
    let mut out = StoreContents::default();
    if !is_store(data) {
        out.error = Some(ElementError::NotAStore);
        return out;
    }
    let mut offset = STORE_MAGIC.len();
    let mut pending: Vec<Property<'_>> = Vec::new();
    while offset < data.len() {
        let prop = match property_at(data, offset) {
            Ok(Some((prop, next))) => {
                offset = next;
                prop
            }
            Ok(None) => break,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        match prop.id {
            CERT_PROP_ID => {
                pending.push(prop);
                match build(&pending) {
                    Ok(el) => out.elements.push(el),
                    Err(e) => {
                        out.error = Some(e);
                        return out;
                    }
                }
                pending.clear();
            }
            // CRLs and CTLs close their element too; certfleet has no use for them.
            CRL_PROP_ID | CTL_PROP_ID => pending.clear(),
            _ => {
                if pending.len() == MAX_PROPERTIES_PER_ELEMENT {
                    out.error = Some(ElementError::TooManyProperties);
                    return out;
                }
                pending.push(prop);
            }
        }
    }
    if let Some(first) = pending.first() {
        tracing::debug!(
            offset = first.offset,
            "serialized store ends with properties not followed by a certificate"
        );
    }
    out
}

/// What to put into a serialized element (the inverse of [`parse_element`]; used to build
/// fixtures and test data exactly as Windows lays them out).
#[derive(Debug, Clone, Default)]
pub struct ElementSpec<'a> {
    pub der: &'a [u8],
    /// Writes a KEY_PROV_INFO property naming this key container.
    pub key_container: Option<&'a str>,
    pub friendly_name: Option<&'a str>,
}

fn push_property(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let len = u32::try_from(data.len()).expect("property larger than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A CRYPT_KEY_PROV_INFO in its serialized (offset-based) layout: seven u32 fields, then the
/// container and provider names. Only its presence matters to certfleet.
fn key_prov_info(container: &str) -> Vec<u8> {
    const PROVIDER: &str = "Microsoft Software Key Storage Provider";
    let container = utf16z(container);
    let provider = utf16z(PROVIDER);
    let container_at = 28u32;
    let provider_at = container_at + container.len() as u32;
    let mut out = Vec::new();
    for field in [container_at, provider_at, 0, 0, 0, 0, 1] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend(container);
    out.extend(provider);
    out
}

/// Serializes one element the way Windows does: SHA-1 hash, optional KEY_PROV_INFO and
/// FRIENDLY_NAME, and the certificate last.
pub fn serialize_element(spec: &ElementSpec<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(spec.der.len() + 256);
    push_property(&mut out, SHA1_HASH_PROP_ID, &Sha1::digest(spec.der));
    if let Some(container) = spec.key_container {
        push_property(&mut out, KEY_PROV_INFO_PROP_ID, &key_prov_info(container));
    }
    if let Some(name) = spec.friendly_name {
        push_property(&mut out, FRIENDLY_NAME_PROP_ID, &utf16z(name));
    }
    push_property(&mut out, CERT_PROP_ID, spec.der);
    out
}

/// Serializes a whole store file: magic, elements, all-zero end marker.
pub fn serialize_store(specs: &[ElementSpec<'_>]) -> Vec<u8> {
    let mut out = STORE_MAGIC.to_vec();
    for spec in specs {
        out.extend(serialize_element(spec));
    }
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DER: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x01];

    #[test]
    fn round_trips_with_and_without_properties() {
        let plain = serialize_element(&ElementSpec {
            der: DER,
            ..Default::default()
        });
        assert_eq!(
            parse_element(&plain).unwrap(),
            Element {
                der: DER.to_vec(),
                has_key_prov_info: false,
                friendly_name: None,
                warning: None,
            }
        );
        let full = serialize_element(&ElementSpec {
            der: DER,
            key_container: Some("te-1234"),
            friendly_name: Some("事業所 1234567890"),
        });
        let el = parse_element(&full).unwrap();
        assert!(el.has_key_prov_info);
        assert_eq!(el.friendly_name.as_deref(), Some("事業所 1234567890"));
    }

    #[test]
    fn store_keeps_properties_with_their_certificate() {
        let other: &[u8] = &[0x30, 0x00];
        let store = serialize_store(&[
            ElementSpec {
                der: DER,
                key_container: Some("k"),
                friendly_name: Some("first"),
            },
            ElementSpec {
                der: other,
                ..Default::default()
            },
        ]);
        let got = parse_store(&store);
        assert_eq!(got.error, None);
        assert_eq!(got.elements.len(), 2);
        assert_eq!(got.elements[0].friendly_name.as_deref(), Some("first"));
        assert!(got.elements[0].has_key_prov_info);
        assert_eq!(got.elements[1].der, other);
        assert!(!got.elements[1].has_key_prov_info);
        assert_eq!(got.elements[1].friendly_name, None);
    }

    #[test]
    fn hostile_lengths_are_errors() {
        let mut el = serialize_element(&ElementSpec {
            der: DER,
            ..Default::default()
        });
        // Declare a 4 GiB SHA-1 property.
        el[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_element(&el),
            Err(ElementError::LengthOverrun { offset: 0, .. })
        ));
        assert_eq!(parse_element(&[]), Err(ElementError::Empty));
        assert_eq!(
            parse_element(&[0x20, 0, 0]),
            Err(ElementError::TruncatedHeader { offset: 0, have: 3 })
        );
        let mut bad_reserved = serialize_element(&ElementSpec {
            der: DER,
            ..Default::default()
        });
        bad_reserved[4] = 7;
        assert!(matches!(
            parse_element(&bad_reserved),
            Err(ElementError::BadReserved { value: 7, .. })
        ));
        let mut no_cert = Vec::new();
        push_property(&mut no_cert, SHA1_HASH_PROP_ID, &[0; 20]);
        assert_eq!(parse_element(&no_cert), Err(ElementError::NoCertificate));
        let mut many = Vec::new();
        for _ in 0..=MAX_PROPERTIES_PER_ELEMENT {
            push_property(&mut many, 99, &[]);
        }
        assert_eq!(parse_element(&many), Err(ElementError::TooManyProperties));
    }

    #[test]
    fn junk_after_the_certificate_keeps_it_with_a_warning() {
        let mut el = serialize_element(&ElementSpec {
            der: DER,
            key_container: Some("k"),
            friendly_name: Some("事業所"),
        });
        el.extend_from_slice(b"\x07\0\0\0junk");
        let got = parse_element(&el).unwrap();
        assert_eq!(got.der, DER);
        assert!(got.has_key_prov_info);
        assert_eq!(got.friendly_name.as_deref(), Some("事業所"));
        let warning = got.warning.expect("a warning about the junk");
        assert!(matches!(warning, ElementError::TruncatedHeader { .. }));
        // Junk before the certificate property is still an error: nothing was found yet.
        let mut early = b"\x07\0\0\0junk".to_vec();
        early.extend(serialize_element(&ElementSpec {
            der: DER,
            ..Default::default()
        }));
        assert!(parse_element(&early).is_err());
    }

    #[test]
    fn error_messages_never_quote_the_data() {
        // A text file (a node key, say) read as an element: its bytes must not come back in
        // the message, not even as numbers.
        let secret = b"3f9a1c2be4d5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";
        let message = parse_element(secret).unwrap_err().to_string();
        let as_u32 = u32::from_le_bytes([secret[0], secret[1], secret[2], secret[3]]);
        for leak in [
            as_u32.to_string(),
            format!("{as_u32:#x}"),
            format!("{as_u32:x}"),
            "3f9a".to_owned(),
        ] {
            assert!(!message.contains(&leak), "{message} contains {leak}");
        }
        let mut long = serialize_element(&ElementSpec {
            der: DER,
            ..Default::default()
        });
        long[8..12].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        let message = parse_element(&long).unwrap_err().to_string();
        assert!(
            !message.contains("305419896") && !message.contains("12345678"),
            "{message}"
        );
    }

    #[test]
    fn truncated_store_keeps_earlier_elements() {
        let store = serialize_store(&[
            ElementSpec {
                der: DER,
                ..Default::default()
            },
            ElementSpec {
                der: DER,
                ..Default::default()
            },
        ]);
        let cut = &store[..store.len() - 20];
        let got = parse_store(cut);
        assert_eq!(got.elements.len(), 1);
        assert!(got.error.is_some());
        assert_eq!(
            parse_store(b"garbage!").error,
            Some(ElementError::NotAStore)
        );
        assert!(parse_store(&STORE_MAGIC).elements.is_empty());
    }
}
