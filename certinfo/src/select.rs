//! Office-certificate selection: which issuers count, and how the office number is taken.
//! [`SelectionConfig`] is the `[selection]` table of both `agent.toml` and `collector.toml`,
//! so the agent and the collector read the same keys with the same defaults.

use regex::Regex;
use serde::Deserialize;

use crate::CertInfo;

/// Default issuer commonName of the Kanagawa federation's client certificates.
pub const DEFAULT_ISSUER_CN: &str = "KANAGAWA KOKUHOREN CA";
/// Default office-number rule: the subject CN is exactly ten ASCII digits. (`\d` would also
/// match full-width and other Unicode digits; [`OfficeRule`] refuses those anyway.)
pub const DEFAULT_OFFICE_PATTERN: &str = r"^[0-9]{10}$";

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

impl SelectorError {
    /// The `[selection]` key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            SelectorError::BadPattern { .. } | SelectorError::TooManyGroups(_) => "office_pattern",
            SelectorError::NoIssuer => "issuer_cns",
        }
    }
}

/// The `[selection]` table of `agent.toml` and `collector.toml`. Every key is optional:
///
/// ```toml
/// [selection]
/// issuer_cns = ["KANAGAWA KOKUHOREN CA"]  # issuer commonNames (ASCII case-insensitive)
/// issuer_dns = []                         # or full issuer DNs, as `scan --format json` prints them
/// office_pattern = '^[0-9]{10}$'          # office number from the subject CN (one group allowed)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionConfig {
    /// Issuer commonNames that make a certificate an office certificate. Default:
    /// [`DEFAULT_ISSUER_CN`] unless `issuer_dns` names issuers; an empty list is an error.
    pub issuer_cns: Option<Vec<String>>,
    /// Full issuer distinguished names, in addition to (or instead of) commonNames.
    #[serde(default)]
    pub issuer_dns: Vec<String>,
    /// Regular expression over the subject commonName; its one capture group (or the whole
    /// match) is the office number. Default: [`DEFAULT_OFFICE_PATTERN`].
    pub office_pattern: Option<String>,
}

impl SelectionConfig {
    /// The selection rules this table describes, with the defaults filled in.
    pub fn selector(&self) -> Result<Selector, SelectorError> {
        let cns = match &self.issuer_cns {
            Some(cns) => cns.clone(),
            None if self.issuer_dns.is_empty() => vec![DEFAULT_ISSUER_CN.to_owned()],
            None => Vec::new(),
        };
        let issuers = cns
            .into_iter()
            .map(IssuerRule::CommonName)
            .chain(
                self.issuer_dns
                    .iter()
                    .cloned()
                    .map(IssuerRule::DistinguishedName),
            )
            .collect();
        let pattern = self
            .office_pattern
            .as_deref()
            .unwrap_or(DEFAULT_OFFICE_PATTERN);
        Selector::new(issuers, OfficeRule::new(pattern)?)
    }
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
        is_office_number_text(m.as_str()).then(|| m.as_str().to_owned())
    }

    /// Whether `number` (e.g. from the office registry) is an office number under this rule:
    /// plain ASCII with no spaces, and a whole match of the pattern when the pattern has no
    /// capture group. (With a group the pattern describes the subject name around the number,
    /// so only the first check applies.) The error says what is wrong.
    pub fn check_number(&self, number: &str) -> Result<(), String> {
        if number.is_empty() {
            return Err("office number is empty".into());
        }
        if !is_office_number_text(number) {
            return Err(format!(
                "office number {number:?} must be ASCII letters, digits or punctuation \
                 (no spaces, no full-width characters)"
            ));
        }
        let whole_match = self
            .pattern
            .find(number)
            .is_some_and(|m| m.start() == 0 && m.end() == number.len());
        if self.pattern.captures_len() == 1 && !whole_match {
            return Err(format!(
                "office number {number:?} does not match the office pattern {}",
                self.pattern.as_str()
            ));
        }
        Ok(())
    }
}

/// Office numbers are ASCII, whatever the configured pattern: `\d` in a pattern also matches
/// full-width digits (０-９), and a number typed that way must not become a second office.
fn is_office_number_text(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic())
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

    /// The rule that takes office numbers from subject names (and checks registry numbers).
    pub fn office_rule(&self) -> &OfficeRule {
        &self.office
    }

    /// The office number when `cert` is an office certificate (issuer and subject rules both hold).
    pub fn office_number(&self, cert: &CertInfo) -> Option<String> {
        if !self.issuer_matches(cert) {
            return None;
        }
        self.office.office_number(cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(issuer_cn: &str, subject_cn: &str) -> CertInfo {
        CertInfo {
            subject: format!("CN={subject_cn}"),
            issuer: format!("CN={issuer_cn}"),
            subject_cn: Some(subject_cn.into()),
            issuer_cn: Some(issuer_cn.into()),
            serial: "01".into(),
            not_before: chrono::DateTime::UNIX_EPOCH,
            not_after: chrono::DateTime::UNIX_EPOCH,
            sha256: String::new(),
            sha1: String::new(),
            client_auth: true,
        }
    }

    #[test]
    fn office_numbers_are_ascii_digits_only_even_with_backslash_d() {
        let full_width = "１４１００００００１";
        for selector in [
            Selector::default(),
            SelectionConfig {
                office_pattern: Some(r"^\d{10}$".into()),
                ..SelectionConfig::default()
            }
            .selector()
            .unwrap(),
        ] {
            assert_eq!(
                selector.office_number(&cert(DEFAULT_ISSUER_CN, "1410000001")),
                Some("1410000001".into())
            );
            assert_eq!(
                selector.office_number(&cert(DEFAULT_ISSUER_CN, full_width)),
                None,
                "full-width digits are not an office number"
            );
            assert!(selector.office_rule().check_number(full_width).is_err());
            assert!(selector.office_rule().check_number("1410000001").is_ok());
            assert!(selector.office_rule().check_number("141000000").is_err());
        }
        // Arabic-Indic digits, too.
        assert_eq!(
            Selector::default().office_number(&cert(DEFAULT_ISSUER_CN, "١٤١٠٠٠٠٠٠١")),
            None
        );
    }

    #[test]
    fn selection_defaults_and_rules() {
        let default = SelectionConfig::default().selector().unwrap();
        assert!(default.issuer_matches(&cert("kanagawa kokuhoren ca", "1")));
        let by_dn: SelectionConfig = toml::from_str("issuer_dns = [\"CN=OSAKA CA\"]").unwrap();
        let s = by_dn.selector().unwrap();
        assert!(s.issuer_matches(&cert("OSAKA CA", "1")));
        assert!(
            !s.issuer_matches(&cert(DEFAULT_ISSUER_CN, "1")),
            "issuer_dns alone replaces the default issuer"
        );
        let none: SelectionConfig = toml::from_str("issuer_cns = []").unwrap();
        assert_eq!(none.selector().unwrap_err().key(), "issuer_cns");
        let bad: SelectionConfig = toml::from_str("office_pattern = '(('").unwrap();
        assert_eq!(bad.selector().unwrap_err().key(), "office_pattern");
        let typo = toml::from_str::<SelectionConfig>("issuer_cn = [\"X\"]").unwrap_err();
        assert!(typo.to_string().contains("issuer_cn"), "{typo}");
        let grouped: SelectionConfig =
            toml::from_str("office_pattern = '^OFFICE-([0-9]{4})$'").unwrap();
        let s = grouped.selector().unwrap();
        assert_eq!(
            s.office_number(&cert(DEFAULT_ISSUER_CN, "OFFICE-1234")),
            Some("1234".into())
        );
        assert!(s.office_rule().check_number("1234").is_ok());
    }
}
