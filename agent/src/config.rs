//! The agent's TOML configuration file (`--config FILE`) and how it becomes a [`ScanConfig`].
//!
//! Example:
//! ```toml
//! paths = ['D:\exports']                      # extra files/directories to scan
//! profiles_root = 'C:\Users'
//! pkcs12_password_env = "CERTFLEET_PKCS12_PASSWORD"
//!
//! [selection]                                 # the same table as the collector's
//! issuer_cns = ["KANAGAWA KOKUHOREN CA"]      # issuer commonNames (case-insensitive)
//! issuer_dns = []                             # or full issuer DNs, as `scan --format json` prints them
//! office_pattern = '^[0-9]{10}$'              # office number from the subject CN (one group allowed)
//! ```
//!
//! Files written before `[selection]` existed keep working: the top-level `issuers`,
//! `issuer_dns` and `office_pattern` are read as `[selection]`'s `issuer_cns`, `issuer_dns`
//! and `office_pattern`, with a deprecation warning.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use certfleet_certinfo::{SelectionConfig, Selector, SelectorError};
use serde::Deserialize;

/// The config file. Unknown keys are rejected so a typo does not silently change selection.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[selection]`: which certificates are office certificates (the collector's table).
    #[serde(default)]
    pub selection: SelectionConfig,
    /// Deprecated top-level spelling of `[selection] issuer_cns`.
    pub issuers: Option<Vec<String>>,
    /// Deprecated top-level spelling of `[selection] issuer_dns`.
    pub issuer_dns: Option<Vec<String>>,
    /// Deprecated top-level spelling of `[selection] office_pattern`.
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
/// proxy = "http://proxy.example:8080"          # or "none"; default: environment, then Windows
/// no_proxy = "collector.corp.example"          # hosts reached without the proxy
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
    /// HTTP proxy, `http://[USER:PASSWORD@]HOST:PORT`, or `none`. This file is the place for a
    /// proxy password: the installer keeps it in the private data directory, whereas a task's
    /// command line is shown by Task Scheduler.
    pub proxy: Option<String>,
    /// Hosts reached without the proxy (the `NO_PROXY` syntax); replaces every other list.
    pub no_proxy: Option<String>,
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
    #[error("[selection] {key}: {err}", key = .0.key(), err = .0)]
    Selector(#[from] SelectorError),
    #[error("{old} and [selection] {new} are both set; keep only [selection] {new}")]
    Deprecated {
        old: &'static str,
        new: &'static str,
    },
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
        Ok(self.selection_config()?.selector()?)
    }

    /// `[selection]` with the deprecated top-level keys folded in (each with a warning).
    pub fn selection_config(&self) -> Result<SelectionConfig, ConfigError> {
        let mut selection = self.selection.clone();
        if let Some(issuers) = &self.issuers {
            deprecated("issuers", "issuer_cns");
            if selection.issuer_cns.is_some() {
                return Err(ConfigError::Deprecated {
                    old: "issuers",
                    new: "issuer_cns",
                });
            }
            // `issuers = []` used to mean "the default issuer" (the list had a default).
            selection.issuer_cns = Some(issuers.clone()).filter(|i| !i.is_empty());
        }
        if let Some(dns) = &self.issuer_dns {
            deprecated("issuer_dns", "issuer_dns");
            if !selection.issuer_dns.is_empty() {
                return Err(ConfigError::Deprecated {
                    old: "issuer_dns",
                    new: "issuer_dns",
                });
            }
            selection.issuer_dns = dns.clone();
        }
        if let Some(pattern) = &self.office_pattern {
            deprecated("office_pattern", "office_pattern");
            if selection.office_pattern.is_some() {
                return Err(ConfigError::Deprecated {
                    old: "office_pattern",
                    new: "office_pattern",
                });
            }
            selection.office_pattern = Some(pattern.clone());
        }
        Ok(selection)
    }
}

fn deprecated(old: &str, new: &str) {
    tracing::warn!(
        "agent config: top-level `{old}` is deprecated; write it as `{new}` under [selection] \
         (the collector's table)"
    );
}

/// Reads the PKCS#12 password from the environment variable `var`.
pub fn password_from_env(var: &str) -> Result<String, ConfigError> {
    std::env::var(var).map_err(|_| ConfigError::PasswordEnv(var.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn selection_table_and_deprecated_keys_mean_the_same() {
        let new =
            parse("[selection]\nissuer_cns = [\"OSAKA CA\"]\noffice_pattern = '^([0-9]{4})$'\n");
        let old = parse("issuers = [\"OSAKA CA\"]\noffice_pattern = '^([0-9]{4})$'\n");
        assert_eq!(
            new.selection_config().unwrap(),
            old.selection_config().unwrap()
        );
        let s = old.selection_config().unwrap();
        assert_eq!(s.issuer_cns, Some(vec!["OSAKA CA".to_owned()]));
        assert!(new.selector().is_ok());
        // `issuers = []` kept its old meaning: the default issuer.
        let empty = parse("issuers = []\nissuer_dns = []\n");
        assert_eq!(
            empty.selection_config().unwrap(),
            SelectionConfig::default()
        );
    }

    #[test]
    fn both_spellings_at_once_and_unknown_keys_are_errors() {
        let both = parse("issuers = [\"A\"]\n[selection]\nissuer_cns = [\"B\"]\n");
        let err = both.selector().unwrap_err().to_string();
        assert!(
            err.contains("issuers") && err.contains("issuer_cns"),
            "{err}"
        );
        let typo = toml::from_str::<Config>("[selection]\nissuer = [\"A\"]\n").unwrap_err();
        assert!(typo.to_string().contains("issuer"), "{typo}");
        let bad = parse("[selection]\noffice_pattern = '(('\n");
        let err = bad.selector().unwrap_err().to_string();
        assert!(err.starts_with("[selection] office_pattern"), "{err}");
    }
}
