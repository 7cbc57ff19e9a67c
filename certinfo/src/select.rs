//! Office-certificate selection: which issuers count, and how the office number is taken.

use regex::Regex;

use crate::CertInfo;

/// Default issuer commonName of the Kanagawa federation's client certificates.
pub const DEFAULT_ISSUER_CN: &str = "KANAGAWA KOKUHOREN CA";
/// Default office-number rule: the subject CN is exactly ten digits.
pub const DEFAULT_OFFICE_PATTERN: &str = r"^\d{10}$";

/// A configuration value that cannot be used as a selection rule.
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    #[error("invalid office-number pattern {pattern:?}: {source}")]
    BadPattern {
        pattern: String,
        source: regex::Error,
    },
    #[error(
        "office-number pattern {0:?} has more than one capture group; use one group for the number"
    )]
    TooManyGroups(String),
    #[error("at least one issuer rule is required (or list every issuer)")]
    NoIssuer,
}

/// Matches a certificate's issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// The issuer commonName equals this value (ASCII case-insensitive, surrounding space ignored).
    CommonName(String),
    /// The full issuer DN (as printed in [`CertInfo::issuer`]) equals this value.
    DistinguishedName(String),
}

impl IssuerRule {
    fn matches(&self, cert: &CertInfo) -> bool {
        match self {
            IssuerRule::CommonName(cn) => cert
                .issuer_cn
                .as_deref()
                .is_some_and(|have| have.trim().eq_ignore_ascii_case(cn.trim())),
            IssuerRule::DistinguishedName(dn) => cert.issuer == *dn,
        }
    }
}

/// Takes the office number from the subject commonName with a regular expression. When the
/// pattern has a capture group, the group is the number; otherwise the whole match is.
#[derive(Debug, Clone)]
pub struct OfficeRule {
    pattern: Regex,
}

impl OfficeRule {
    pub fn new(pattern: &str) -> Result<Self, SelectorError> {
        let regex = Regex::new(pattern).map_err(|source| SelectorError::BadPattern {
            pattern: pattern.to_owned(),
            source,
        })?;
        if regex.captures_len() > 2 {
            return Err(SelectorError::TooManyGroups(pattern.to_owned()));
        }
        Ok(Self { pattern: regex })
    }

    fn office_number(&self, cert: &CertInfo) -> Option<String> {
        let cn = cert.subject_cn.as_deref()?.trim();
        let caps = self.pattern.captures(cn)?;
        let m = caps.get(1).or_else(|| caps.get(0))?;
        Some(m.as_str().to_owned())
    }
}

/// Decides which certificates are office certificates and what their office number is.
#[derive(Debug, Clone)]
pub struct Selector {
    issuers: Vec<IssuerRule>,
    office: OfficeRule,
}

impl Default for Selector {
    fn default() -> Self {
        Self {
            issuers: vec![IssuerRule::CommonName(DEFAULT_ISSUER_CN.to_owned())],
            office: OfficeRule::new(DEFAULT_OFFICE_PATTERN).expect("default pattern is valid"),
        }
    }
}

impl Selector {
    pub fn new(issuers: Vec<IssuerRule>, office: OfficeRule) -> Result<Self, SelectorError> {
        if issuers.is_empty() {
            return Err(SelectorError::NoIssuer);
        }
        Ok(Self { issuers, office })
    }

    /// True when the issuer is one of the configured federations.
    pub fn issuer_matches(&self, cert: &CertInfo) -> bool {
        self.issuers.iter().any(|rule| rule.matches(cert))
    }

    /// The office number when `cert` is an office certificate (issuer and subject rules both hold).
    pub fn office_number(&self, cert: &CertInfo) -> Option<String> {
        if !self.issuer_matches(cert) {
            return None;
        }
        self.office.office_number(cert)
    }
}
