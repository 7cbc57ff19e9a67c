//! certfleet collector configuration: the `collector.toml` schema (serde, unknown keys
//! rejected) and its resolution, with flags and `CERTFLEET_*` variables on top, into validated
//! settings before any port is bound. A leaf crate: it knows no store, server or channel, and
//! every section's file type sits next to the settings it resolves to, in one module per
//! section. The `[selection]` table is `certinfo`'s, shared with the agent.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod dashboard;
pub mod database;
pub mod enroll;
pub mod error;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod reports;
pub mod retention;
pub mod secrets;
pub mod tls;
pub mod tracking;
pub mod trust;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use certfleet_certinfo::{SelectionConfig, Selector};
use serde::Deserialize;

pub use alerts::{
    AlertSettings, AlertsSection, SmtpSecurity, SmtpSettings, Thresholds, WebhookFormat,
    WebhookSettings,
};
pub use dashboard::{DEFAULT_FLEET_CACHE_SECONDS, DashboardSection, DashboardSettings};
pub use database::{DatabaseSettings, DatabaseUrl};
pub use enroll::{EnrollSecret, MIN_ENROLL_SECRET_LEN};
pub use error::ConfigError;
pub use grpc::GrpcSettings;
pub use http::HttpSettings;
pub use limits::Limits;
pub use reports::ReportSettings;
pub use retention::{RetentionSection, RetentionSettings};
pub use secrets::Secret;
pub use tls::{PemFile, TlsIdentity};
pub use trust::TrustSettings;

use error::invalid;

/// Default gRPC listen address (agents connect here).
pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:50051";
/// Default HTTP listen address (API, metrics, dashboard). Loopback, so no login is needed
/// until an operator deliberately exposes it.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";

/// The config file as written by operators (`collector.toml`). Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// File holding the PostgreSQL password, put into `database_url` (which then names the
    /// user without a password): the URL can sit in a ConfigMap or compose file.
    pub database_password_file: Option<PathBuf>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub insecure_plaintext: Option<bool>,
    #[serde(default)]
    pub tls: tls::TlsSection,
    #[serde(default)]
    pub enroll: enroll::EnrollSection,
    #[serde(default)]
    pub limits: limits::LimitsSection,
    #[serde(default)]
    pub selection: SelectionConfig,
    #[serde(default)]
    pub reports: reports::ReportsSection,
    #[serde(default)]
    pub http: http::HttpSection,
    #[serde(default)]
    pub alerts: alerts::AlertsSection,
    #[serde(default)]
    pub dashboard: dashboard::DashboardSection,
    #[serde(default)]
    pub retention: retention::RetentionSection,
    #[serde(default)]
    pub grpc: grpc::GrpcSection,
    #[serde(default)]
    pub trust: trust::TrustSection,
    #[serde(default)]
    pub tracking: tracking::TrackingSection,
}

impl FileConfig {
    /// Reads a config file; relative paths inside it are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses config text (paths stay as written).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.data_dir.iter_mut().for_each(fix);
        self.database_password_file.iter_mut().for_each(fix);
        self.tls.ca_file.iter_mut().for_each(fix);
        self.dashboard.users_file.iter_mut().for_each(fix);
        self.tls.cert_file.iter_mut().for_each(fix);
        self.tls.key_file.iter_mut().for_each(fix);
        self.enroll.secret_files.iter_mut().for_each(fix);
        self.http.api_token_file.iter_mut().for_each(fix);
        self.http.metrics_token_file.iter_mut().for_each(fix);
        self.reports.office_registry.iter_mut().for_each(fix);
        self.dashboard.session_key_file.iter_mut().for_each(fix);
        self.trust.issuer_ca_file.iter_mut().for_each(fix);
        if let Some(smtp) = self.alerts.smtp.as_mut() {
            smtp.password_file.iter_mut().for_each(fix);
        }
        for hook in &mut self.alerts.webhooks {
            hook.bearer_token_file.iter_mut().for_each(fix);
        }
    }

    /// The office-certificate selection rules of `[selection]`.
    pub fn selector(&self) -> Result<Selector, ConfigError> {
        selector(&self.selection)
    }

    /// `[reports]` alone, for commands that need no server settings (`report …`).
    pub fn report_settings(&self) -> Result<ReportSettings, ConfigError> {
        let mut reports = ReportSettings::resolve(&self.reports)?;
        reports.tracking = tracking::TrackingSettings::resolve(&self.tracking)?;
        Ok(reports)
    }

    /// `[reports]` and `[retention]`, for `retention run`.
    pub fn report_and_retention_settings(
        &self,
    ) -> Result<(ReportSettings, RetentionSettings), ConfigError> {
        let reports = self.report_settings()?;
        let retention = RetentionSettings::resolve(&self.retention, reports.time_zone)?;
        Ok((reports, retention))
    }

    /// `[reports]` and `[alerts]`, for `alerts run` (no TLS or enroll secrets needed).
    pub fn report_and_alert_settings(
        &self,
    ) -> Result<(ReportSettings, AlertSettings), ConfigError> {
        let reports = self.report_settings()?;
        let alerts = AlertSettings::resolve(&self.alerts, reports.time_zone)?;
        Ok((reports, alerts))
    }
}

fn selector(section: &SelectionConfig) -> Result<Selector, ConfigError> {
    section.selector().map_err(|e| ConfigError::Invalid {
        setting: match e.key() {
            "issuer_cns" => "selection.issuer_cns",
            _ => "selection.office_pattern",
        },
        message: e.to_string(),
    })
}

/// Overrides from flags and environment variables (they win over the file).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_password_file: Option<PathBuf>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub insecure_plaintext: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub enroll_secret_files: Vec<PathBuf>,
}

/// The resolved, validated configuration of one collector process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<DatabaseUrl>,
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// `None` only with an explicit `--insecure-plaintext`.
    pub tls: Option<TlsIdentity>,
    /// `[tls] ca_file`: the CA the agents pin, watched for expiry like the server certificate.
    pub tls_ca: Option<PemFile>,
    pub enroll_secrets: Vec<EnrollSecret>,
    /// `[enroll] approval`: new terminals wait for an operator.
    pub enroll_approval: bool,
    pub grpc: GrpcSettings,
    /// `[trust]`: the pinned issuer CAs, if any.
    pub trust: Option<TrustSettings>,
    pub limits: Limits,
    pub selector: Selector,
    pub reports: ReportSettings,
    /// `[http]`: tokens, proxies, allowed hosts, timeouts.
    pub http: HttpSettings,
    pub office_registry: Option<PathBuf>,
    pub alerts: AlertSettings,
    pub dashboard: DashboardSettings,
    pub retention: RetentionSettings,
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
        let tls = tls::resolve(
            ov.tls_cert.or(file.tls.cert_file),
            ov.tls_key.or(file.tls.key_file),
            plaintext,
        )?;
        let tls_ca = file
            .tls
            .ca_file
            .as_deref()
            .map(|p| tls::read_certificates("tls.ca_file", p))
            .transpose()?;
        let mut secret_files = file.enroll.secret_files;
        secret_files.extend(ov.enroll_secret_files);
        let enroll_secrets = enroll::resolve(&secret_files)?;
        let enroll_approval = file.enroll.approval.unwrap_or(false);
        let grpc = GrpcSettings::resolve(&file.grpc)?;
        let trust = TrustSettings::resolve(&file.trust)?;
        let mut limits = Limits::resolve(&file.limits)?;
        limits.database_max_connections = db.max_connections;
        let selector = selector(&file.selection)?;
        let mut reports = ReportSettings::resolve(&file.reports)?;
        reports.tracking = tracking::TrackingSettings::resolve(&file.tracking)?;
        let http = HttpSettings::resolve(&file.http)?;
        let alerts = AlertSettings::resolve(&file.alerts, reports.time_zone)?;
        let dashboard = DashboardSettings::resolve(&file.dashboard)?;
        let retention = RetentionSettings::resolve(&file.retention, reports.time_zone)?;
        http::check_secure_cookies_behind_proxy(http_listen, dashboard.secure_cookies, &http)?;
        Ok(Settings {
            dashboard,
            alerts,
            retention,
            tls_ca,
            data_dir: db.data_dir,
            database_url: db.database_url,
            grpc_listen,
            http_listen,
            tls,
            enroll_secrets,
            enroll_approval,
            grpc,
            trust,
            limits,
            selector,
            reports,
            http,
            office_registry: file.reports.office_registry,
        })
    }

    /// The database part, for opening the store.
    pub fn database(&self) -> DatabaseSettings {
        DatabaseSettings {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            max_connections: self.limits.database_max_connections,
        }
    }
}

/// `v` when it lies in `min..=max`, else an error naming the setting and the range.
pub(crate) fn bounded(
    setting: &'static str,
    v: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
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
    fn debug_of_settings_shows_no_token_and_no_database_password() {
        let dir = tempfile::tempdir().unwrap();
        let secret = write(dir.path(), "s.txt", "0123456789abcdef0123");
        write(dir.path(), "t.txt", "api-token-0123456789");
        write(dir.path(), "m.txt", "metrics-token-0123456789");
        let cfg = write(
            dir.path(),
            "c.toml",
            "database_url = \"postgres://certfleet:db-password-42@db.example.org/certfleet?sslmode=verify-full\"\n\
             [http]\napi_token_file = \"t.txt\"\nmetrics_token_file = \"m.txt\"\n",
        );
        let settings = Settings::resolve(
            FileConfig::load(&cfg).unwrap(),
            Overrides {
                insecure_plaintext: true,
                enroll_secret_files: vec![secret],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            settings.http.api_token.as_ref().unwrap().expose(),
            "api-token-0123456789"
        );
        for text in [
            format!("{settings:?}"),
            format!("{:?}", settings.database()),
        ] {
            for secret in [
                "api-token-0123456789",
                "metrics-token-0123456789",
                "db-password-42",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(
                text.contains("postgres://certfleet:***@db.example.org"),
                "{text}"
            );
        }
    }

    #[test]
    fn selection_rules_are_configurable() {
        let file = FileConfig::parse(
            "[selection]\nissuer_cns = [\"OSAKA CA\"]\noffice_pattern = '^(\\d{8})$'\n",
        )
        .unwrap();
        assert!(file.selector().is_ok());
        let file = FileConfig::parse("[selection]\noffice_pattern = '(('\n").unwrap();
        assert!(
            file.selector()
                .unwrap_err()
                .to_string()
                .starts_with("selection.office_pattern")
        );
        let file = FileConfig::parse("[selection]\nissuer_cns = []\n").unwrap();
        assert!(
            file.selector()
                .unwrap_err()
                .to_string()
                .starts_with("selection.issuer_cns")
        );
    }
}
