//! Collector configuration: the TOML file, overridden by flags and `CERTFLEET_*` variables,
//! resolved and validated into [`Settings`] before any port is bound.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use certfleet_certinfo::{IssuerRule, OfficeRule, Selector};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Default gRPC listen address (agents connect here).
pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:50051";
/// Default HTTP listen address (API, metrics, dashboard). Loopback, so no login is needed
/// until an operator deliberately exposes it.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
/// Enroll secrets shorter than this are refused: they are the only barrier to enrollment.
pub const MIN_ENROLL_SECRET_LEN: usize = 16;

/// A configuration problem, naming the setting and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

pub(crate) fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

/// The config file as written by operators (`collector.toml`). Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub insecure_plaintext: Option<bool>,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub enroll: EnrollSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub selection: SelectionSection,
    #[serde(default)]
    pub reports: ReportsSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub dashboard: DashboardSection,
}

/// `[dashboard]`: who may log in off loopback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// Accounts; make a hash with `certfleet-collector hash-password`.
    #[serde(default)]
    pub users: Vec<DashboardUser>,
    /// File with the secret that signs session cookies; replicas must share it.
    pub session_key_file: Option<PathBuf>,
    /// Mark cookies `Secure` (set when a TLS proxy fronts the dashboard).
    pub secure_cookies: Option<bool>,
    /// Seconds the fleet-wide pages (overview, offices, multi-office and the unfiltered
    /// expiring table) reuse one load (and up to three times as long while a background task
    /// replaces it); 0 loads for every page. Default 10.
    pub fleet_cache_seconds: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardUser {
    pub username: String,
    /// argon2 PHC string (`$argon2id$…`).
    pub password_hash: String,
}

/// Resolved dashboard settings.
#[derive(Clone, Default)]
pub struct DashboardSettings {
    pub users: Vec<(String, String)>,
    pub session_key: Option<Vec<u8>>,
    pub secure_cookies: bool,
    /// How long the fleet-wide pages reuse one load of the fleet.
    pub fleet_cache: std::time::Duration,
}

/// Default of `dashboard.fleet_cache_seconds`: at 100k terminals loading the fleet takes a
/// few hundred milliseconds, which each page view would otherwise pay.
pub const DEFAULT_FLEET_CACHE_SECONDS: u32 = 10;

impl std::fmt::Debug for DashboardSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("DashboardSettings")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

fn resolve_dashboard(section: &DashboardSection) -> Result<DashboardSettings, ConfigError> {
    let mut users = Vec::new();
    for u in &section.users {
        if u.username.trim().is_empty() {
            return Err(invalid("dashboard.users", "a user has an empty username"));
        }
        if !u.password_hash.starts_with("$argon2") {
            return Err(invalid(
                "dashboard.users",
                format!(
                    "password_hash of {:?} is not an argon2 hash; use `certfleet-collector hash-password`",
                    u.username
                ),
            ));
        }
        users.push((u.username.clone(), u.password_hash.clone()));
    }
    let session_key = match &section.session_key_file {
        Some(p) => {
            let key = read_plain_secret("dashboard.session_key_file", p)?;
            if key.len() < 32 {
                return Err(invalid(
                    "dashboard.session_key_file",
                    "holds fewer than 32 characters",
                ));
            }
            Some(key.into_bytes())
        }
        None => None,
    };
    let cache_seconds = section
        .fleet_cache_seconds
        .unwrap_or(DEFAULT_FLEET_CACHE_SECONDS);
    if cache_seconds > 3600 {
        return Err(invalid(
            "dashboard.fleet_cache_seconds",
            "must be at most 3600 (one hour)",
        ));
    }
    Ok(DashboardSettings {
        users,
        session_key,
        secure_cookies: section.secure_cookies.unwrap_or(false),
        fleet_cache: std::time::Duration::from_secs(u64::from(cache_seconds)),
    })
}

/// `[alerts]`: thresholds, schedule, language and channels of the expiry alerts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Run the daily schedule inside `serve` (default true when a channel is configured).
    pub enabled: Option<bool>,
    /// Local time (reports.time_zone) of the daily run, `HH:MM`.
    pub daily_at: Option<String>,
    /// Days before expiry at which a pair is alerted (plus "expired").
    pub thresholds: Option<Vec<u32>>,
    /// `ja` (default) or `en`.
    pub language: Option<String>,
    /// E-mail addresses that receive every alert (the registry's owners get their offices').
    #[serde(default)]
    pub default_recipients: Vec<String>,
    /// First retry delay of a failed delivery; doubles per failure up to a day.
    pub retry_base_minutes: Option<u64>,
    pub smtp: Option<SmtpSection>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub security: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `certfleet <certfleet@example.jp>`.
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub name: String,
    pub url: String,
    /// `json` (default: the structured digest), `slack` or `teams` (a text payload).
    pub format: Option<String>,
    /// File holding a bearer token sent as `Authorization: Bearer …`.
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollSection {
    /// Files each holding one enroll secret. Several may be active; removing one revokes it.
    #[serde(default)]
    pub secret_files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_message_bytes: Option<usize>,
    pub max_certificates_per_report: Option<usize>,
    pub max_concurrent_ingests: Option<usize>,
    pub database_max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionSection {
    /// Issuer commonNames that make a certificate an office certificate.
    pub issuer_cns: Option<Vec<String>>,
    /// Full issuer distinguished names, as an alternative to commonNames.
    #[serde(default)]
    pub issuer_dns: Vec<String>,
    /// Regular expression over the subject commonName; its first group (or the whole match) is
    /// the office number.
    pub office_pattern: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsSection {
    pub time_zone: Option<String>,
    pub window_days: Option<u32>,
    pub lead_days: Option<u32>,
    pub stale_after_days: Option<u32>,
    pub billing_window_start_day: Option<u32>,
    pub billing_window_end_day: Option<u32>,
    pub office_registry: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// File holding the bearer token required for the API off loopback.
    pub api_token_file: Option<PathBuf>,
}

impl FileConfig {
    /// Reads a config file; relative paths inside it are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let mut config: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.data_dir.iter_mut().for_each(fix);
        self.tls.cert_file.iter_mut().for_each(fix);
        self.tls.key_file.iter_mut().for_each(fix);
        self.enroll.secret_files.iter_mut().for_each(fix);
        self.http.api_token_file.iter_mut().for_each(fix);
        self.reports.office_registry.iter_mut().for_each(fix);
        self.dashboard.session_key_file.iter_mut().for_each(fix);
        if let Some(smtp) = self.alerts.smtp.as_mut() {
            smtp.password_file.iter_mut().for_each(fix);
        }
        for hook in &mut self.alerts.webhooks {
            hook.bearer_token_file.iter_mut().for_each(fix);
        }
    }
}

/// Overrides from flags and environment variables (they win over the file).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub insecure_plaintext: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub enroll_secret_files: Vec<PathBuf>,
}

/// A configured enroll secret, kept only as its SHA-256 so it is compared in constant-size form.
#[derive(Clone)]
pub struct EnrollSecret {
    pub source: PathBuf,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for EnrollSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollSecret")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// TLS server identity as PEM text.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Bounds on what one agent may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_certificates_per_report: usize,
    pub max_concurrent_ingests: usize,
    pub database_max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_certificates_per_report: 1_000,
            max_concurrent_ingests: 64,
            database_max_connections: 16,
        }
    }
}

/// Report semantics settings (SPEC §5).
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub time_zone: chrono_tz::Tz,
    pub window_days: u32,
    pub lead_days: u32,
    pub stale_after_days: u32,
    pub billing_window_start_day: u32,
    pub billing_window_end_day: u32,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Asia::Tokyo,
            window_days: 60,
            lead_days: 14,
            stale_after_days: 7,
            billing_window_start_day: 1,
            billing_window_end_day: 10,
        }
    }
}

/// The resolved, validated configuration of one collector process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// `None` only with an explicit `--insecure-plaintext`.
    pub tls: Option<TlsIdentity>,
    pub enroll_secrets: Vec<EnrollSecret>,
    pub limits: Limits,
    pub selector: Selector,
    pub reports: ReportSettings,
    pub api_token: Option<String>,
    pub office_registry: Option<PathBuf>,
    pub alerts: crate::alerts::AlertSettings,
    pub dashboard: DashboardSettings,
}

/// Settings for commands that only touch the database (`migrate`, `terminal`, `report`…):
/// no TLS or secrets are required.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub max_connections: u32,
}

impl Settings {
    /// Combines file and overrides and checks everything a server needs.
    pub fn resolve(file: FileConfig, ov: Overrides) -> Result<Self, ConfigError> {
        let db = DatabaseSettings::resolve(&file, &ov)?;
        let grpc_listen = parse_addr(
            "grpc_listen",
            ov.grpc_listen
                .or(file.grpc_listen)
                .as_deref()
                .unwrap_or(DEFAULT_GRPC_LISTEN),
        )?;
        let http_listen = parse_addr(
            "http_listen",
            ov.http_listen
                .or(file.http_listen)
                .as_deref()
                .unwrap_or(DEFAULT_HTTP_LISTEN),
        )?;
        let plaintext = ov.insecure_plaintext || file.insecure_plaintext.unwrap_or(false);
        let tls = resolve_tls(
            ov.tls_cert.or(file.tls.cert_file),
            ov.tls_key.or(file.tls.key_file),
            plaintext,
        )?;

        let mut secret_files = file.enroll.secret_files;
        secret_files.extend(ov.enroll_secret_files);
        if secret_files.is_empty() {
            return Err(invalid(
                "enroll.secret_files",
                "no enroll secret configured; agents could never enroll (run `certfleet-collector init`)",
            ));
        }
        let enroll_secrets = secret_files
            .iter()
            .map(|p| read_enroll_secret(p))
            .collect::<Result<_, _>>()?;

        let mut limits = Limits::default();
        if let Some(v) = file.limits.max_message_bytes {
            limits.max_message_bytes =
                bounded("limits.max_message_bytes", v, 16 * 1024, 64 * 1024 * 1024)?;
        }
        if let Some(v) = file.limits.max_certificates_per_report {
            limits.max_certificates_per_report =
                bounded("limits.max_certificates_per_report", v, 1, 100_000)?;
        }
        if let Some(v) = file.limits.max_concurrent_ingests {
            limits.max_concurrent_ingests = bounded("limits.max_concurrent_ingests", v, 1, 10_000)?;
        }
        limits.database_max_connections = db.max_connections;

        let selector = resolve_selector(&file.selection)?;
        let reports = resolve_reports(&file.reports)?;
        let api_token = match &file.http.api_token_file {
            Some(path) => Some(read_secret_file("http.api_token_file", path)?),
            None => None,
        };
        let alerts = crate::alerts::AlertSettings::resolve(&file.alerts, reports.time_zone)?;
        let dashboard = resolve_dashboard(&file.dashboard)?;
        Ok(Settings {
            dashboard,
            alerts,
            data_dir: db.data_dir,
            database_url: db.database_url,
            grpc_listen,
            http_listen,
            tls,
            enroll_secrets,
            limits,
            selector,
            reports,
            api_token,
            office_registry: file.reports.office_registry,
        })
    }
}

impl DatabaseSettings {
    pub fn resolve(file: &FileConfig, ov: &Overrides) -> Result<Self, ConfigError> {
        let data_dir = ov
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("certfleet-data"));
        let database_url = ov
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .filter(|u| !u.is_empty());
        if let Some(url) = &database_url {
            let known = ["postgres://", "postgresql://", "sqlite:"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return Err(invalid(
                    "database_url",
                    "must start with postgres://, postgresql:// or sqlite:",
                ));
            }
        }
        let max_connections = match file.limits.database_max_connections {
            Some(v) => bounded("limits.database_max_connections", v as usize, 1, 1_000)? as u32,
            None => Limits::default().database_max_connections,
        };
        Ok(Self {
            data_dir,
            database_url,
            max_connections,
        })
    }
}

fn bounded(setting: &'static str, v: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
    if v < min || v > max {
        return Err(invalid(setting, format!("{v} is outside {min}..={max}")));
    }
    Ok(v)
}

fn parse_addr(setting: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            setting,
            format!("{value:?} is not an address like 0.0.0.0:50051"),
        )
    })
}

fn resolve_tls(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    plaintext: bool,
) -> Result<Option<TlsIdentity>, ConfigError> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read_to_string(&cert)
                .map_err(|e| invalid("tls.cert_file", format!("{}: {e}", cert.display())))?;
            let key_pem = std::fs::read_to_string(&key)
                .map_err(|e| invalid("tls.key_file", format!("{}: {e}", key.display())))?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("tls.cert_file", format!("{}: {e}", cert.display())))?;
            if certs.is_empty() {
                return Err(invalid(
                    "tls.cert_file",
                    format!("{} holds no certificate", cert.display()),
                ));
            }
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| invalid("tls.key_file", format!("{}: {e}", key.display())))?;
            Ok(Some(TlsIdentity { cert_pem, key_pem }))
        }
        (None, None) if plaintext => Ok(None),
        (None, None) => Err(invalid(
            "tls",
            "no TLS certificate configured: run `certfleet-collector init --dir DIR` and pass \
             --config DIR/collector.toml (plaintext only with --insecure-plaintext)",
        )),
        (Some(_), None) => Err(invalid(
            "tls.key_file",
            "a certificate was given without its key",
        )),
        (None, Some(_)) => Err(invalid(
            "tls.cert_file",
            "a key was given without its certificate",
        )),
    }
}

/// Reads a one-line secret file (password, token) without length rules.
pub(crate) fn read_plain_secret(setting: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(setting, format!("{}: {e}", path.display())))?;
    Ok(text.trim().to_owned())
}

fn read_secret_file(setting: &'static str, path: &Path) -> Result<String, ConfigError> {
    let secret = read_plain_secret(setting, path)?;
    if secret.len() < MIN_ENROLL_SECRET_LEN {
        return Err(invalid(
            setting,
            format!(
                "{} holds a secret shorter than {MIN_ENROLL_SECRET_LEN} characters",
                path.display()
            ),
        ));
    }
    Ok(secret)
}

fn read_enroll_secret(path: &Path) -> Result<EnrollSecret, ConfigError> {
    let secret = read_secret_file("enroll.secret_files", path)?;
    Ok(EnrollSecret {
        source: path.to_owned(),
        sha256: Sha256::digest(secret.as_bytes()).into(),
    })
}

fn resolve_selector(section: &SelectionSection) -> Result<Selector, ConfigError> {
    let mut issuers: Vec<IssuerRule> = match &section.issuer_cns {
        Some(cns) => cns
            .iter()
            .map(|cn| IssuerRule::CommonName(cn.clone()))
            .collect(),
        None if section.issuer_dns.is_empty() => {
            return Ok(match &section.office_pattern {
                None => Selector::default(),
                Some(p) => Selector::new(
                    vec![IssuerRule::CommonName("KANAGAWA KOKUHOREN CA".into())],
                    OfficeRule::new(p)
                        .map_err(|e| invalid("selection.office_pattern", e.to_string()))?,
                )
                .map_err(|e| invalid("selection", e.to_string()))?,
            });
        }
        None => Vec::new(),
    };
    issuers.extend(
        section
            .issuer_dns
            .iter()
            .map(|dn| IssuerRule::DistinguishedName(dn.clone())),
    );
    let pattern = section.office_pattern.as_deref().unwrap_or(r"^\d{10}$");
    let office =
        OfficeRule::new(pattern).map_err(|e| invalid("selection.office_pattern", e.to_string()))?;
    Selector::new(issuers, office).map_err(|e| invalid("selection.issuer_cns", e.to_string()))
}

/// Report and alert settings alone, for CLI commands that need no TLS or enroll secrets
/// (`report …`, `alerts run`).
pub fn report_and_alert_settings(
    file: &FileConfig,
) -> Result<(ReportSettings, crate::alerts::AlertSettings), ConfigError> {
    let reports = resolve_reports(&file.reports)?;
    let alerts = crate::alerts::AlertSettings::resolve(&file.alerts, reports.time_zone)?;
    Ok((reports, alerts))
}

/// Report settings alone, for `report …` and `offices …` (no alert or server settings needed).
pub fn report_settings(file: &FileConfig) -> Result<ReportSettings, ConfigError> {
    resolve_reports(&file.reports)
}

fn resolve_reports(section: &ReportsSection) -> Result<ReportSettings, ConfigError> {
    let mut r = ReportSettings::default();
    if let Some(tz) = &section.time_zone {
        r.time_zone = tz.parse().map_err(|_| {
            invalid(
                "reports.time_zone",
                format!("{tz:?} is not an IANA time zone like Asia/Tokyo"),
            )
        })?;
    }
    if let Some(v) = section.window_days {
        r.window_days = bounded("reports.window_days", v as usize, 1, 3650)? as u32;
    }
    if let Some(v) = section.lead_days {
        r.lead_days = bounded("reports.lead_days", v as usize, 0, 365)? as u32;
    }
    if let Some(v) = section.stale_after_days {
        r.stale_after_days = bounded("reports.stale_after_days", v as usize, 1, 3650)? as u32;
    }
    if let Some(v) = section.billing_window_start_day {
        r.billing_window_start_day =
            bounded("reports.billing_window_start_day", v as usize, 1, 28)? as u32;
    }
    if let Some(v) = section.billing_window_end_day {
        r.billing_window_end_day =
            bounded("reports.billing_window_end_day", v as usize, 1, 28)? as u32;
    }
    if r.billing_window_end_day < r.billing_window_start_day {
        return Err(invalid(
            "reports.billing_window_end_day",
            "ends before billing_window_start_day",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn missing_tls_is_refused_unless_plaintext_is_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let secret = write(dir.path(), "s.txt", "0123456789abcdef0123");
        let ov = Overrides {
            enroll_secret_files: vec![secret],
            ..Default::default()
        };
        let err = Settings::resolve(FileConfig::default(), ov.clone()).unwrap_err();
        assert!(err.to_string().contains("no TLS certificate"), "{err}");
        let ok = Settings::resolve(
            FileConfig::default(),
            Overrides {
                insecure_plaintext: true,
                ..ov
            },
        )
        .unwrap();
        assert!(ok.tls.is_none());
    }

    #[test]
    fn short_enroll_secret_and_bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let short = write(dir.path(), "s.txt", "short");
        let ov = Overrides {
            insecure_plaintext: true,
            enroll_secret_files: vec![short],
            ..Default::default()
        };
        let err = Settings::resolve(FileConfig::default(), ov).unwrap_err();
        assert!(err.to_string().starts_with("enroll.secret_files"), "{err}");

        let cfg = write(dir.path(), "c.toml", "grpc_listen = \"nowhere\"\n");
        let secret = write(dir.path(), "ok.txt", "0123456789abcdef0123");
        let ov = Overrides {
            insecure_plaintext: true,
            enroll_secret_files: vec![secret],
            ..Default::default()
        };
        let err = Settings::resolve(FileConfig::load(&cfg).unwrap(), ov.clone()).unwrap_err();
        assert!(err.to_string().starts_with("grpc_listen"), "{err}");

        let cfg = write(
            dir.path(),
            "tz.toml",
            "[reports]\ntime_zone = \"Mars/Olympus\"\n",
        );
        let err = Settings::resolve(FileConfig::load(&cfg).unwrap(), ov).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_and_relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "c.toml", "grpc_listn = \"1.2.3.4:5\"\n");
        let err = FileConfig::load(&cfg).unwrap_err();
        assert!(err.to_string().contains("grpc_listn"), "{err}");

        let cfg = write(dir.path(), "d.toml", "[tls]\ncert_file = \"server.pem\"\n");
        let file = FileConfig::load(&cfg).unwrap();
        assert_eq!(file.tls.cert_file.unwrap(), dir.path().join("server.pem"));
    }

    #[test]
    fn selection_rules_are_configurable() {
        let file: FileConfig = toml::from_str(
            "[selection]\nissuer_cns = [\"OSAKA CA\"]\noffice_pattern = '^(\\d{8})$'\n",
        )
        .unwrap();
        assert!(resolve_selector(&file.selection).is_ok());
        let file: FileConfig = toml::from_str("[selection]\noffice_pattern = '(('\n").unwrap();
        assert!(
            resolve_selector(&file.selection)
                .unwrap_err()
                .to_string()
                .starts_with("selection.office_pattern")
        );
    }
}
