//! A minimal, bounded BER/DER TLV reader for the container formats (PKCS#7, PKCS#12).
//!
//! Why not a full ASN.1 library: the containers only need to be *walked*, and the certificates
//! inside must come out byte-for-byte (their SHA-256 is certfleet's identity), so re-encoding
//! decoded structures is not an option. Windows and Java export PKCS#12 with BER
//! indefinite lengths and constructed OCTET STRINGs, which strict DER decoders reject; this
//! reader accepts both, with a nesting limit so hostile input cannot recurse without bound.
#![forbid(unsafe_code)]

use std::borrow::Cow;

/// Deepest nesting accepted. Real PKCS#12 files nest about 10 levels.
const MAX_DEPTH: usize = 64;

/// Why bytes are not the expected BER structure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Asn1Error {
    #[error("truncated ASN.1 data")]
    Truncated,
    #[error("ASN.1 length field is malformed or larger than the data")]
    BadLength,
    #[error("multi-byte ASN.1 tags are not used by these formats")]
    HighTag,
    #[error("ASN.1 nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("expected {expected}, found tag {found:#04x}")]
    Unexpected { expected: &'static str, found: u8 },
    #[error("missing {0}")]
    Missing(&'static str),
}

/// Universal and context tags used by the container formats.
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0]` constructed (EXPLICIT wrappers, IMPLICIT SET OF).
    pub const CONTEXT_0: u8 = 0xa0;
    /// `[0]` primitive (IMPLICIT OCTET STRING).
    pub const CONTEXT_0_PRIMITIVE: u8 = 0x80;
}

/// One tag-length-value element borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet (class, constructed bit and tag number).
    pub tag: u8,
    /// Content octets (without the end-of-contents marker for indefinite lengths).
    pub value: &'a [u8],
    /// The whole element as it appears in the input, header included.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    pub fn constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }

    /// Fails unless the element has tag `want`.
    pub fn expect(self, want: u8, what: &'static str) -> Result<Self, Asn1Error> {
        if self.tag == want {
            Ok(self)
        } else {
            Err(Asn1Error::Unexpected {
                expected: what,
                found: self.tag,
            })
        }
    }

    /// The child elements of a constructed element.
    pub fn children(&self) -> Children<'a> {
        Children {
            rest: if self.constructed() { self.value } else { &[] },
            depth: 1,
        }
    }

    /// The content of an OCTET STRING (or an IMPLICIT one), joining the segments of the
    /// constructed BER form.
    pub fn octets(&self) -> Result<Cow<'a, [u8]>, Asn1Error> {
        if !self.constructed() {
            return Ok(Cow::Borrowed(self.value));
        }
        let mut out = Vec::with_capacity(self.value.len());
        collect_segments(self.value, 0, &mut out)?;
        Ok(Cow::Owned(out))
    }

    /// Small non-negative INTEGER value (versions, iteration counts).
    pub fn small_uint(&self) -> Result<u64, Asn1Error> {
        let v = self.value;
        if v.is_empty() || v.len() > 8 || v[0] & 0x80 != 0 {
            return Err(Asn1Error::BadLength);
        }
        Ok(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

fn collect_segments(mut data: &[u8], depth: usize, out: &mut Vec<u8>) -> Result<(), Asn1Error> {
    if depth > MAX_DEPTH {
        return Err(Asn1Error::TooDeep);
    }
    while !data.is_empty() {
        let (seg, rest) = read_at_depth(data, depth + 1)?;
        if seg.tag & 0x1f != tag::OCTET_STRING {
            return Err(Asn1Error::Unexpected {
                expected: "OCTET STRING segment",
                found: seg.tag,
            });
        }
        if seg.constructed() {
            collect_segments(seg.value, depth + 1, out)?;
        } else {
            out.extend_from_slice(seg.value);
        }
        data = rest;
    }
    Ok(())
}

/// Iterator over the children of a constructed element.
pub struct Children<'a> {
    rest: &'a [u8],
    depth: usize,
}

impl<'a> Children<'a> {
    /// The next child, failing with `Missing(what)` at the end.
    pub fn need(&mut self, what: &'static str) -> Result<Tlv<'a>, Asn1Error> {
        self.next().ok_or(Asn1Error::Missing(what))?
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, Asn1Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match read_at_depth(self.rest, self.depth) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Reads one element from the front of `data`, returning it and the bytes after it.
pub fn read(data: &[u8]) -> Result<(Tlv<'_>, &[u8]), Asn1Error> {
    read_at_depth(data, 0)
}

fn read_at_depth(data: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), Asn1Error> {
    if depth > MAX_DEPTH {
        return Err(Asn1Error::TooDeep);
    }
    let (&tag, after_tag) = data.split_first().ok_or(Asn1Error::Truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(Asn1Error::HighTag);
    }
    let (&first, mut rest) = after_tag.split_first().ok_or(Asn1Error::Truncated)?;
    let header_len;
    let value;
    if first == 0x80 {
        // Indefinite length: only valid for constructed elements; content runs until the
        // end-of-contents marker 00 00, found by walking the children.
        if tag & 0x20 == 0 {
            return Err(Asn1Error::BadLength);
        }
        let content = rest;
        let mut consumed = 0usize;
        loop {
            if rest.len() < 2 {
                return Err(Asn1Error::Truncated);
            }
            if rest[0] == 0 && rest[1] == 0 {
                break;
            }
            let (_, after) = read_at_depth(rest, depth + 1)?;
            consumed += rest.len() - after.len();
            rest = after;
        }
        value = &content[..consumed];
        header_len = 2;
        let total = header_len + consumed + 2;
        return Ok((
            Tlv {
                tag,
                value,
                raw: &data[..total],
            },
            &data[total..],
        ));
    }
    let len = if first & 0x80 == 0 {
        header_len = 2;
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(Asn1Error::BadLength);
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        rest = &rest[n..];
        header_len = 2 + n;
        len
    };
    if rest.len() < len {
        return Err(Asn1Error::BadLength);
    }
    value = &rest[..len];
    let total = header_len + len;
    Ok((
        Tlv {
            tag,
            value,
            raw: &data[..total],
        },
        &data[total..],
    ))
}

/// Dotted form of an OID's content octets, for error messages.
pub fn oid_to_string(value: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in value {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
        if acc > u64::MAX >> 8 {
            return "<malformed OID>".to_owned();
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definite_and_indefinite_lengths() {
        // SEQUENCE { INTEGER 5 } definite, then the same with indefinite length.
        let (t, rest) = read(&[0x30, 0x03, 0x02, 0x01, 0x05, 0xff]).unwrap();
        assert_eq!(t.value, &[0x02, 0x01, 0x05]);
        assert_eq!(rest, &[0xff]);
        let (t, rest) = read(&[0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00]).unwrap();
        assert_eq!(t.value, &[0x02, 0x01, 0x05]);
        assert_eq!(t.raw.len(), 7);
        assert!(rest.is_empty());
        let int = t.children().next().unwrap().unwrap();
        assert_eq!(int.small_uint().unwrap(), 5);
    }

    #[test]
    fn joins_constructed_octet_strings() {
        let data = [
            0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00,
        ];
        let (t, _) = read(&data).unwrap();
        assert_eq!(&*t.octets().unwrap(), b"abc");
    }

    #[test]
    fn rejects_hostile_lengths_and_depth() {
        assert_eq!(read(&[0x30]).unwrap_err(), Asn1Error::Truncated);
        assert_eq!(
            read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).unwrap_err(),
            Asn1Error::BadLength
        );
        assert_eq!(
            read(&[0x30, 0x85, 1, 1, 1, 1, 1]).unwrap_err(),
            Asn1Error::BadLength
        );
        assert_eq!(read(&[0x04, 0x80, 0, 0]).unwrap_err(), Asn1Error::BadLength);
        // 200 nested indefinite SEQUENCEs.
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep.extend([0x30, 0x80]);
        }
        assert_eq!(read(&deep).unwrap_err(), Asn1Error::TooDeep);
        // Indefinite without end-of-contents.
        assert_eq!(
            read(&[0x30, 0x80, 0x02, 0x01, 0x05]).unwrap_err(),
            Asn1Error::Truncated
        );
    }

    #[test]
    fn formats_oids() {
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
    }
}
