//! The data a scan produces: where a certificate was seen, what was found, what failed.
//!
//! These types map one-to-one onto the `certfleet.v1` wire messages (`Source`, `Location`,
//! `ReportedCertificate`, `ScanError`), so the reporting code converts without losing
//! anything; the JSON output of `scan` is their serde form.
#![forbid(unsafe_code)]

use certfleet_certinfo::CertInfo;
use serde::Serialize;

/// Where a certificate was found; the variants are the proto's `Source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Source {
    /// A per-user Personal store file under a profile (`SOURCE_PROFILE_FILE`).
    #[serde(rename = "profile_file")]
    ProfileFile,
    /// A registry store value `Blob` (`SOURCE_REGISTRY`).
    #[serde(rename = "registry")]
    Registry,
    /// The CryptoAPI CurrentUser store (`SOURCE_CRYPTOAPI`).
    #[serde(rename = "cryptoapi")]
    CryptoApi,
    /// A plain file given by path (`SOURCE_FILE`).
    #[serde(rename = "file")]
    File,
}

impl Source {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ProfileFile => "profile_file",
            Source::Registry => "registry",
            Source::CryptoApi => "cryptoapi",
            Source::File => "file",
        }
    }
}

/// One place a certificate was seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    pub source: Source,
    /// Logical store name (`My`); `None` for plain files.
    pub store: Option<String>,
    /// Profile user name or SID; `None` when the location belongs to no user.
    pub user: Option<String>,
    /// File path or registry key path.
    pub path: String,
}

/// A certificate as one source saw it, before deduplication.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub der: Vec<u8>,
    pub location: Location,
    pub has_private_key: Option<bool>,
    pub friendly_name: Option<String>,
}

/// A unique certificate (by SHA-256) with every place it was found.
#[derive(Debug, Clone)]
pub struct FoundCertificate {
    /// The DER bytes exactly as found: what the collector receives and re-parses.
    pub der: Vec<u8>,
    /// The agent's own parse, for local display and selection.
    pub info: CertInfo,
    /// The office number when the selector accepts it as an office certificate.
    pub office_number: Option<String>,
    /// True if any location links a private key; false if a store says none; `None` when
    /// only plain files (which cannot say) held it.
    pub has_private_key: Option<bool>,
    /// The first friendly name any location gave.
    pub friendly_name: Option<String>,
    pub locations: Vec<Location>,
}

/// A per-item failure. A scan with errors still succeeds; they are reported, not fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanError {
    pub source: Source,
    /// File path, registry key or store the error is about.
    pub path: String,
    pub message: String,
}

/// Everything one scan found.
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    /// Unique certificates, sorted by expiry (then office number, then SHA-256).
    pub certificates: Vec<FoundCertificate>,
    pub errors: Vec<ScanError>,
}
