//! `certfleet-collector init`: writes what a first deployment needs into one directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::pki::{self, PkiError};

/// Names of the files `init` creates (scripts and docs rely on them).
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";
pub const ENROLL_SECRET: &str = "enroll-secret.txt";
pub const API_TOKEN: &str = "api-token.txt";
pub const SESSION_KEY: &str = "session-key.txt";
pub const CONFIG: &str = "collector.toml";

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; init never overwrites (remove it or choose another --dir)")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// What `init` created.
#[derive(Debug)]
pub struct InitOutput {
    pub config: PathBuf,
    pub ca_cert: PathBuf,
    /// Where the CA key went (`--ca-key-dir`, or `DIR` itself).
    pub ca_key: PathBuf,
    pub enroll_secret: PathBuf,
    /// The absolute `data_dir` written into the config.
    pub data_dir: PathBuf,
}

/// A random secret of 32 bytes as hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates CA, server certificate, enroll secret, API token and a commented config in `dir`.
///
/// `data_dir` (default `DIR/data`) is written into the config as an absolute path, the one
/// place `serve` and every other command look for the embedded database (issue 16: the CLI and
/// the service must never open different files). `ca_key_dir` puts `ca-key.pem` elsewhere —
/// removable media, or a directory that is not mounted into the running collector — so the CA
/// key is offline from the start.
pub fn init(
    dir: &Path,
    sans: &[String],
    data_dir: Option<&Path>,
    ca_key_dir: Option<&Path>,
) -> Result<InitOutput, InitError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let data_dir = std::path::absolute(data_dir.map_or_else(|| dir.join("data"), Path::to_owned))
        .map_err(write_error(dir))?;
    let ca_key = ca_key_dir.unwrap_or(dir).join(CA_KEY);
    if let Some(key_dir) = ca_key_dir {
        std::fs::create_dir_all(key_dir).map_err(write_error(key_dir))?;
    }
    if ca_key.exists() {
        return Err(InitError::Exists(ca_key));
    }
    let names = [
        CA_CERT,
        SERVER_CERT,
        SERVER_KEY,
        ENROLL_SECRET,
        API_TOKEN,
        SESSION_KEY,
        CONFIG,
    ];
    if let Some(existing) = names.iter().map(|n| dir.join(n)).find(|p| p.exists()) {
        return Err(InitError::Exists(existing));
    }
    let ca = pki::generate_ca("certfleet collector CA")?;
    let server = pki::generate_server_cert(&ca, sans)?;
    write_file(&dir.join(CA_CERT), &ca.cert_pem, false)?;
    write_file(&ca_key, &ca.key_pem, true)?;
    write_file(&dir.join(SERVER_CERT), &server.cert_pem, false)?;
    write_file(&dir.join(SERVER_KEY), &server.key_pem, true)?;
    write_file(
        &dir.join(ENROLL_SECRET),
        &format!("{}\n", random_secret()),
        true,
    )?;
    write_file(
        &dir.join(API_TOKEN),
        &format!("{}\n", random_secret()),
        true,
    )?;
    write_file(
        &dir.join(SESSION_KEY),
        &format!("{}\n", random_secret()),
        true,
    )?;
    write_file(&dir.join(CONFIG), &config_text(sans, &data_dir), true)?;
    Ok(InitOutput {
        config: dir.join(CONFIG),
        ca_cert: dir.join(CA_CERT),
        ca_key,
        enroll_secret: dir.join(ENROLL_SECRET),
        data_dir,
    })
}

/// Writes a new file; secrets get mode 0600 from the moment they exist.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), InitError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let _ = secret;
    let mut file = options.open(path).map_err(|source| InitError::Write {
        path: path.to_owned(),
        source,
    })?;
    file.write_all(text.as_bytes())
        .map_err(|source| InitError::Write {
            path: path.to_owned(),
            source,
        })
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    let text = path.display().to_string();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn config_text(sans: &[String], data_dir: &Path) -> String {
    format!(
        r#"# certfleet collector configuration, written by `certfleet-collector init`.
# Relative paths are resolved against this file's directory. Every setting can also be given
# as a flag or a CERTFLEET_* environment variable (see `certfleet-collector serve --help`).

# Where the embedded SQLite database lives when database_url is not set. Absolute, and the
# one place every command looks: `serve` and the CLI (`terminal list`, `offices import`, …)
# given this file open the same database; commands other than serve/migrate never create one.
data_dir = {data_dir}

# Production: one PostgreSQL shared by every collector replica, its server certificate
# verified against the CA that issued it:
# database_url = "postgres://certfleet:PASSWORD@db.example/certfleet?sslmode=verify-full&sslrootcert=/etc/certfleet/db-ca.pem"
# or the URL without the password and the password in a file of its own:
# database_url = "postgres://certfleet@db.example/certfleet?sslmode=verify-full&sslrootcert=/etc/certfleet/db-ca.pem"
# database_password_file = "db-password.txt"

# Agents connect here (gRPC over TLS). The server certificate is valid for: {sans}
grpc_listen = "0.0.0.0:50051"

# API, metrics and dashboard (plain HTTP). Whatever the address, every request needs a
# credential as soon as a dashboard user or a token is configured (api-token.txt below is):
# a dashboard login, or the API token as a bearer token for /api/v1 and /metrics. Behind a TLS
# reverse proxy see docs/OPERATIONS.md, "Reverse proxy".
http_listen = "127.0.0.1:8080"

[tls]
cert_file = "server.pem"
key_file = "server-key.pem"
# The CA the agents pin: the collector watches its expiry and the server certificate's
# (/metrics, start-up log, dashboard). Re-issue with `certfleet-collector reissue-server-cert`.
ca_file = "ca.pem"

[enroll]
# Each file holds one secret; agents present it once to obtain their own node key.
# Several may be active during a rotation; removing one from this list revokes it.
secret_files = ["enroll-secret.txt"]
# Approval mode: a new terminal waits, counted in no report or alert, until an operator runs
# `certfleet-collector terminal approve` (or approves it on the dashboard's Pending page).
# approval = false

[http]
# Bearer token of the report API; it also opens /metrics and, for scripts, the dashboard.
api_token_file = "api-token.txt"
# A token that opens /metrics only, for Prometheus:
# metrics_token_file = "metrics-token.txt"
# Names browsers use for the dashboard (IP addresses and localhost always work); any other
# Host is refused, which stops DNS rebinding:
# allowed_hosts = ["certfleet.example.org"]
# Addresses (or networks) of a reverse proxy in front; its requests are never local:
# trusted_proxies = ["127.0.0.1", "::1"]

[dashboard]
# Accounts, with a hash from `certfleet-collector hash-password`. Until one exists the
# dashboard opens only with the API token:
# users = [{{ username = "admin", password_hash = "$argon2id$..." }}]
# or one `username:hash` line each in a file (`hash-password --user NAME` prints one):
# users_file = "dashboard-users.txt"
# Signs session cookies; every replica must use the same file.
session_key_file = "session-key.txt"
# Seconds the overview, offices, multi-office and unfiltered expiring pages reuse one load
# of the fleet (0: none).
# fleet_cache_seconds = 10

[limits]
max_message_bytes = 4194304
max_certificates_per_report = 1000
max_concurrent_ingests = 64
database_max_connections = 16
# Budgets per agent (0 = no limit): reports per terminal and hour; enrollments and failed
# authentications per client address and minute; scan-error bytes kept per report.
# reports_per_terminal_per_hour = 12
# enroll_per_peer_per_minute = 120
# unauthenticated_per_peer_per_minute = 60
# max_scan_error_bytes = 16384

[grpc]
# The reflection service lists the API to anyone who connects (handy with grpcurl); the
# production example turns it off.
# reflection = true
# max_connections = 2048
# tls_handshake_timeout_seconds = 10
# max_inflight_requests = 256

[selection]
# Which certificates are office certificates: issuer commonName(s), and a pattern over the
# subject commonName whose match (or first group) is the office number.
issuer_cns = ["{issuer}"]
office_pattern = '{pattern}'

[reports]
time_zone = "Asia/Tokyo"
window_days = 60
lead_days = 14
stale_after_days = 7
billing_window_start_day = 1
billing_window_end_day = 10
# office_registry = "offices.csv"

# [retention]
# enabled = true                # daily, on one replica
# daily_at = "03:30"
# reports_days = 90             # each terminal's newest report is always kept
# removed_holdings_days = 365
# alert_history_days = 365

# [trust]
# The federation CA's certificate (PEM): an office certificate it did not sign is refused,
# however its issuer is named.
# issuer_ca_file = "kokuhoren-ca.pem"
"#,
        data_dir = toml_string(data_dir),
        sans = sans.join(", "),
        issuer = certfleet_certinfo::DEFAULT_ISSUER_CN,
        pattern = certfleet_certinfo::DEFAULT_OFFICE_PATTERN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use certfleet_config::{FileConfig, Overrides, Settings};

    #[test]
    fn init_writes_a_config_that_serve_accepts_and_protects_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let out = init(
            dir.path(),
            &["localhost".into(), "127.0.0.1".into()],
            None,
            None,
        )
        .unwrap();
        let settings =
            Settings::resolve(FileConfig::load(&out.config).unwrap(), Overrides::default())
                .unwrap();
        assert!(settings.tls.is_some());
        assert_eq!(settings.enroll_secrets.len(), 1);
        assert!(settings.http.api_token.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in [CA_KEY, SERVER_KEY, ENROLL_SECRET, API_TOKEN, SESSION_KEY] {
                let mode = std::fs::metadata(dir.path().join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
        }
        let again = init(dir.path(), &["localhost".into()], None, None).unwrap_err();
        assert!(matches!(again, InitError::Exists(_)));
        // The data directory is absolute, so the CLI finds it from any working directory.
        assert!(settings.data_dir.is_absolute(), "{:?}", settings.data_dir);
        assert_eq!(settings.data_dir, out.data_dir);
        assert!(settings.tls_ca.is_some(), "ca_file is written and read");
    }

    #[test]
    fn the_ca_key_can_go_elsewhere_and_paths_are_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc \"q\"");
        let offline = dir.path().join("offline");
        let data = dir.path().join("var").join("lib");
        let out = init(&etc, &["localhost".into()], Some(&data), Some(&offline)).unwrap();
        assert_eq!(out.ca_key, offline.join(CA_KEY));
        assert!(out.ca_key.exists());
        assert!(
            !etc.join(CA_KEY).exists(),
            "the CA key is not next to the config"
        );
        let file = FileConfig::load(&out.config).unwrap();
        assert_eq!(file.data_dir.unwrap(), data);
        // A second init finds the key in its directory and stops before writing anything.
        let other = dir.path().join("etc2");
        assert!(matches!(
            init(&other, &["localhost".into()], None, Some(&offline)),
            Err(InitError::Exists(_))
        ));
        assert!(!other.join(CONFIG).exists());
    }
}
