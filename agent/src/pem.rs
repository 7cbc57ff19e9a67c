//! PEM text: every certificate (and PKCS#7 bundle) block in a file, in order.
//!
//! Deliberately tolerant of what real exports contain around the blocks (openssl's
//! "Bag Attributes" lines, comments, CRLF), and deliberately blind to key blocks: a
//! `PRIVATE KEY` block is skipped without even base64-decoding it, because the agent never
//! reads private keys.
#![forbid(unsafe_code)]

use base64ct::{Base64, Encoding};

/// What one PEM block holds, for the blocks certfleet reads.
#[derive(Debug, PartialEq, Eq)]
pub enum PemItem {
    /// A DER certificate.
    Certificate(Vec<u8>),
    /// A PKCS#7 (`-----BEGIN PKCS7-----`) bundle, DER.
    Pkcs7(Vec<u8>),
}

/// The result of scanning PEM text.
#[derive(Debug, Default)]
pub struct PemContents {
    pub items: Vec<PemItem>,
    /// Blocks of other kinds (keys, CSRs, CRLs) that were skipped.
    pub skipped: usize,
    /// Per-block problems, e.g. "block 2 (CERTIFICATE, line 30): invalid base64".
    pub errors: Vec<String>,
}

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

/// True when `data` contains a PEM begin line (checked on the first 64 KiB only).
pub fn looks_like_pem(data: &[u8]) -> bool {
    let head = &data[..data.len().min(64 * 1024)];
    head.windows(BEGIN.len()).any(|w| w == BEGIN)
}

fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

fn label_of<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(prefix)?;
    rest.strip_suffix(DASHES)
}

/// Length of the first DER element of `der` (a `TRUSTED CERTIFICATE` is a certificate
/// followed by OpenSSL trust settings, which are not part of the certificate).
fn first_element(der: &[u8]) -> &[u8] {
    match crate::asn1::read(der) {
        Ok((tlv, _)) => tlv.raw,
        Err(_) => der,
    }
}

/// Finds every block in `data`.
pub fn parse(data: &[u8]) -> PemContents {
    let mut out = PemContents::default();
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').map(trim).collect();
    let mut block_no = 0usize;
    let mut i = 0usize;
    while i < lines.len() {
        let begin_line = i;
        i += 1;
        let Some(label) = label_of(lines[begin_line], BEGIN) else {
            continue;
        };
        block_no += 1;
        let wanted = matches!(
            label,
            b"CERTIFICATE"
                | b"X509 CERTIFICATE"
                | b"TRUSTED CERTIFICATE"
                | b"PKCS7"
                | b"PKCS #7 SIGNED DATA"
        );
        let mut body = Vec::new();
        let mut ended = false;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with(BEGIN) {
                // The next block starts before this one ended: leave it for the outer loop.
                break;
            }
            i += 1;
            if let Some(end_label) = label_of(line, b"-----END ") {
                ended = end_label == label;
                break;
            }
            if wanted {
                body.extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace()));
            }
        }
        let place = format!(
            "PEM block {block_no} ({}, line {})",
            String::from_utf8_lossy(label),
            begin_line + 1
        );
        if !ended {
            out.errors.push(format!("{place}: no matching END line"));
            continue;
        }
        if !wanted {
            out.skipped += 1;
            continue;
        }
        let der = match std::str::from_utf8(&body)
            .ok()
            .and_then(|b64| Base64::decode_vec(b64).ok())
        {
            Some(der) => der,
            None => {
                out.errors.push(format!("{place}: invalid base64"));
                continue;
            }
        };
        out.items.push(match label {
            b"PKCS7" | b"PKCS #7 SIGNED DATA" => PemItem::Pkcs7(der),
            b"TRUSTED CERTIFICATE" => PemItem::Certificate(first_element(&der).to_vec()),
            _ => PemItem::Certificate(der),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_certificates_and_skips_keys() {
        let text = b"Bag Attributes\r\n    friendlyName: x\r\n-----BEGIN CERTIFICATE-----\r\nMAMCAQE=\r\n-----END CERTIFICATE-----\r\n\
-----BEGIN PRIVATE KEY-----\nnot even base64 !!\n-----END PRIVATE KEY-----\n\
-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let got = parse(text);
        assert_eq!(
            got.items,
            vec![
                PemItem::Certificate(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
                PemItem::Certificate(vec![0x30, 0x00])
            ]
        );
        assert_eq!(got.skipped, 1);
        assert!(got.errors.is_empty());
    }

    #[test]
    fn reports_bad_blocks() {
        let got = parse(b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMAA=\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        assert_eq!(got.items, vec![PemItem::Certificate(vec![0x30, 0x00])]);
        assert_eq!(got.errors.len(), 2);
        assert!(got.errors[0].contains("invalid base64"), "{:?}", got.errors);
        assert!(
            got.errors[1].contains("no matching END"),
            "{:?}",
            got.errors
        );
    }
}
