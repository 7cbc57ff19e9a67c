//! The agent's TOML configuration file (`--config FILE`) and how it becomes a [`ScanConfig`].
//!
//! Example:
//! ```toml
//! issuers = ["KANAGAWA KOKUHOREN CA"]        # issuer commonNames (case-insensitive)
//! issuer_dns = []                             # or full issuer DNs, as `scan --format json` prints them
//! office_pattern = '^\d{10}$'                 # office number from the subject CN (one group allowed)
//! paths = ['D:\exports']                      # extra files/directories to scan
//! profiles_root = 'C:\Users'
//! pkcs12_password_env = "CERTFLEET_PKCS12_PASSWORD"
//! ```
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use certfleet_certinfo::{IssuerRule, OfficeRule, Selector, SelectorError};
use serde::Deserialize;

/// The config file. Unknown keys are rejected so a typo does not silently change selection.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Issuer commonNames that mark office certificates.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Full issuer distinguished names that mark office certificates.
    #[serde(default)]
    pub issuer_dns: Vec<String>,
    /// Regular expression on the subject CN; its one capture group (or whole match) is the
    /// office number.
    pub office_pattern: Option<String>,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    pub profiles_root: Option<PathBuf>,
    /// Name of the environment variable that holds the PKCS#12 password (never the password
    /// itself, so config files can be shared).
    pub pkcs12_password_env: Option<String>,
    #[serde(default)]
    pub all_issuers: bool,
    /// Where and how `report` / `run` deliver snapshots.
    #[serde(default)]
    pub collector: CollectorSection,
}

/// The `[collector]` table: the reporting settings a deployment writes once per PC.
///
/// ```toml
/// [collector]
/// url = "https://collector.example:50051"
/// ca_file = 'C:\ProgramData\certfleet\ca.pem'
/// enroll_secret_file = 'C:\ProgramData\certfleet\enroll-secret.txt'
/// state_dir = 'C:\ProgramData\certfleet\state'
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    pub url: Option<String>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub os_trust_store: bool,
    pub enroll_secret_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// `run` only: minutes between reports.
    pub interval_minutes: Option<u64>,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(transparent)]
    Selector(#[from] SelectorError),
    #[error("environment variable {0} (PKCS#12 password) is not set or not valid UTF-8")]
    PasswordEnv(String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The selection rules; defaults where the file says nothing.
    pub fn selector(&self) -> Result<Selector, ConfigError> {
        if self.issuers.is_empty() && self.issuer_dns.is_empty() && self.office_pattern.is_none() {
            return Ok(Selector::default());
        }
        let mut rules: Vec<IssuerRule> = self
            .issuers
            .iter()
            .cloned()
            .map(IssuerRule::CommonName)
            .collect();
        rules.extend(
            self.issuer_dns
                .iter()
                .cloned()
                .map(IssuerRule::DistinguishedName),
        );
        if rules.is_empty() {
            rules.push(IssuerRule::CommonName(
                certfleet_certinfo::DEFAULT_ISSUER_CN.to_owned(),
            ));
        }
        let pattern = self
            .office_pattern
            .as_deref()
            .unwrap_or(certfleet_certinfo::DEFAULT_OFFICE_PATTERN);
        Ok(Selector::new(rules, OfficeRule::new(pattern)?)?)
    }
}

/// Reads the PKCS#12 password from the environment variable `var`.
pub fn password_from_env(var: &str) -> Result<String, ConfigError> {
    std::env::var(var).map_err(|_| ConfigError::PasswordEnv(var.to_owned()))
}
