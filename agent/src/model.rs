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
    /// Short user name: the profile folder for store files, the account name (or the SID when
    /// it does not resolve) for registry and CryptoAPI stores; `None` when the location
    /// belongs to no user (LocalMachine, plain files).
    pub user: Option<String>,
    /// The account's SID, when known (ProfileList, `HKEY_USERS\<SID>`, the agent's token).
    pub sid: Option<String>,
    /// `DOMAIN\name` of that SID (LookupAccountSidW), when it resolves on this PC.
    pub account: Option<String>,
    /// File path or registry key path.
    pub path: String,
}

impl Location {
    /// A location that belongs to no user (LocalMachine, plain files).
    pub fn unowned(source: Source, store: Option<&str>, path: impl Into<String>) -> Self {
        Self {
            source,
            store: store.map(str::to_owned),
            user: None,
            sid: None,
            account: None,
            path: path.into(),
        }
    }

    /// The user as one label, the same way for files, registry and CryptoAPI:
    /// `PC01\yamada (S-1-5-21-…-1001)`, `yamada (S-1-5-21-…-1001)` when the SID does not
    /// resolve, or just the folder name or SID that is known. Cut to the collector's limit
    /// (`certfleet_certinfo::limits::MAX_LOCATION_USER_BYTES`). This is what the wire's
    /// `Location.user` carries.
    pub fn user_label(&self) -> Option<String> {
        let label = match (&self.account, &self.sid, &self.user) {
            (Some(account), Some(sid), _) => format!("{account} ({sid})"),
            (None, Some(sid), Some(user)) if user != sid => format!("{user} ({sid})"),
            (None, Some(sid), _) => sid.clone(),
            (Some(account), None, _) => account.clone(),
            (None, None, Some(user)) => user.clone(),
            (None, None, None) => return None,
        };
        Some(
            certfleet_certinfo::limits::truncate_with_marker(
                &label,
                certfleet_certinfo::limits::MAX_LOCATION_USER_BYTES,
            )
            .into_owned(),
        )
    }
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
    /// Problems that cost nothing: the certificate concerned was still read (for example
    /// damaged data after a complete certificate in a store element).
    pub warnings: Vec<ScanError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(user: Option<&str>, sid: Option<&str>, account: Option<&str>) -> Location {
        Location {
            source: Source::ProfileFile,
            store: Some("My".into()),
            user: user.map(str::to_owned),
            sid: sid.map(str::to_owned),
            account: account.map(str::to_owned),
            path: "p".into(),
        }
    }

    #[test]
    fn user_labels_combine_account_and_sid() {
        let sid = "S-1-5-21-1-2-3-1001";
        assert_eq!(
            location(Some("yamada"), Some(sid), Some("PC01\\yamada")).user_label(),
            Some(format!("PC01\\yamada ({sid})"))
        );
        assert_eq!(
            location(Some("日本語の名前"), Some(sid), None).user_label(),
            Some(format!("日本語の名前 ({sid})"))
        );
        assert_eq!(
            location(Some(sid), Some(sid), None).user_label(),
            Some(sid.to_owned())
        );
        assert_eq!(
            location(Some("bob"), None, None).user_label(),
            Some("bob".into())
        );
        assert_eq!(location(None, None, None).user_label(), None);
        let long = location(Some(&"名".repeat(200)), Some(sid), None)
            .user_label()
            .unwrap();
        assert!(long.len() <= certfleet_certinfo::limits::MAX_LOCATION_USER_BYTES);
    }
}
