//! Deduplication: one entry per certificate (SHA-256 of the DER), keeping every location.
//!
//! The same certificate routinely appears several times on one PC (a profile store file, the
//! CryptoAPI view of the same store, an exported `.pfx` on the desktop); the collector wants
//! one certificate with all its locations, and the selection rule decides once per certificate.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use certfleet_certinfo::{Selector, parse_der};

use crate::model::{FoundCertificate, Location, ScanError, ScanResult, Sighting, Source};

/// Accumulates sightings and errors during a scan.
#[derive(Debug)]
pub struct Inventory {
    selector: Selector,
    all_issuers: bool,
    /// Index into `certificates` by raw SHA-256 (32 bytes rather than the 64-char hex string:
    /// the map holds one entry per certificate, and the agent's memory budget is tight).
    by_sha256: HashMap<[u8; 32], usize>,
    certificates: Vec<FoundCertificate>,
    errors: Vec<ScanError>,
    warnings: Vec<ScanError>,
}

/// Merges two statements about a private key: any `true` wins (some location has the key);
/// otherwise a store's `false` beats a plain file's "unknown".
pub fn merge_private_key(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        (None, None) => None,
    }
}

impl Inventory {
    pub fn new(selector: Selector, all_issuers: bool) -> Self {
        Self {
            selector,
            all_issuers,
            by_sha256: HashMap::new(),
            certificates: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a per-item error.
    pub fn error(&mut self, source: Source, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ScanError {
            source,
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records a problem that cost nothing (the item was still read).
    pub fn warning(&mut self, source: Source, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ScanError {
            source,
            path: path.into(),
            message: message.into(),
        });
    }

    /// Adds one sighting: parses it, applies the selection, merges it with earlier sightings
    /// of the same certificate. An unparsable certificate becomes an error entry.
    pub fn add(&mut self, mut sighting: Sighting) {
        // One limit for every source, shared with the collector: a long name is cut with a
        // marker rather than costing the certificate at ingest.
        if let Some(name) = &sighting.friendly_name
            && name.len() > certfleet_certinfo::limits::MAX_FRIENDLY_NAME_BYTES
        {
            sighting.friendly_name =
                Some(certfleet_certinfo::limits::truncate_friendly_name(name).into_owned());
        }
        let info = match parse_der(&sighting.der) {
            Ok(info) => info,
            Err(e) => {
                let Location { source, path, .. } = sighting.location;
                self.error(source, path, format!("not a valid certificate: {e}"));
                return;
            }
        };
        let mut key = [0u8; 32];
        // `sha256` is always 64 lowercase hex digits from certinfo.
        if hex_to_key(&info.sha256, &mut key).is_err() {
            let Location { source, path, .. } = sighting.location;
            self.error(source, path, "internal error: malformed SHA-256");
            return;
        }
        if let Some(&i) = self.by_sha256.get(&key) {
            let found = &mut self.certificates[i];
            if !found.locations.contains(&sighting.location) {
                found.locations.push(sighting.location);
            }
            found.has_private_key =
                merge_private_key(found.has_private_key, sighting.has_private_key);
            if found.friendly_name.is_none() {
                found.friendly_name = sighting.friendly_name;
            }
            return;
        }
        let office_number = self.selector.office_number(&info);
        if office_number.is_none() && !self.all_issuers {
            // Not an office certificate: dropped without keeping its DER (memory stays flat
            // when a directory holds thousands of unrelated certificates).
            tracing::debug!(subject = %info.subject, "not an office certificate");
            return;
        }
        self.by_sha256.insert(key, self.certificates.len());
        self.certificates.push(FoundCertificate {
            der: sighting.der,
            info,
            office_number,
            has_private_key: sighting.has_private_key,
            friendly_name: sighting.friendly_name,
            locations: vec![sighting.location],
        });
    }

    /// The result, certificates sorted by expiry, then office number, then SHA-256.
    pub fn finish(self) -> ScanResult {
        let mut certificates = self.certificates;
        drop(self.by_sha256);
        // Unstable sort: no scratch buffer (the keys are unique anyway, SHA-256 included).
        certificates.sort_unstable_by(|a, b| {
            (a.info.not_after, &a.office_number, &a.info.sha256).cmp(&(
                b.info.not_after,
                &b.office_number,
                &b.info.sha256,
            ))
        });
        ScanResult {
            certificates,
            errors: self.errors,
            warnings: self.warnings,
        }
    }
}

fn hex_to_key(hex: &str, key: &mut [u8; 32]) -> Result<(), ()> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(()),
    };
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        key[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::merge_private_key;

    #[test]
    fn private_key_merge_rules() {
        assert_eq!(merge_private_key(None, None), None);
        assert_eq!(merge_private_key(None, Some(false)), Some(false));
        assert_eq!(merge_private_key(Some(false), None), Some(false));
        assert_eq!(merge_private_key(Some(false), Some(true)), Some(true));
        assert_eq!(merge_private_key(None, Some(true)), Some(true));
    }
}
