//! certfleet watches its own certificates (issue 16): a certificate-expiry tool whose own
//! server certificate lapses silently fails every agent at once, and the first signal would be
//! the stale-terminal alert a week later. At start the collector reads every certificate it
//! serves or trusts — the server certificate (and any chain in `server.pem`), the CA the
//! agents pin (`[tls] ca_file`), the CA that verifies PostgreSQL (`sslrootcert` in the
//! database URL) — and then:
//! - logs a warning for each that expires within [`WARN_DAYS`] (an error once expired);
//! - exports `certfleet_own_certificate_expiry_timestamp_seconds{role, subject}` on `/metrics`
//!   (the Prometheus rule `CertfleetOwnCertificateExpiresSoon` fires on it);
//! - gives the dashboard the same list, which shows a banner on every page within 60 days.
//!
//! The files are read once at start, like the TLS identity itself: replacing one (`certfleet-
//! collector reissue-server-cert`) ends with a restart, which also refreshes this list.

use std::fmt::Write as _;

use certfleet_config::Settings;
use chrono::{DateTime, Utc};
use rustls_pki_types::{CertificateDer, pem::PemObject};

/// Days before expiry from which the collector warns (start-up log, dashboard, the rule).
pub const WARN_DAYS: i64 = 60;

/// One certificate of the collector itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCertificate {
    /// `server` (the TLS certificate agents see), `server_chain` (more certificates in
    /// server.pem), `ca` (the CA agents pin) or `database_ca` (verifies PostgreSQL).
    pub role: &'static str,
    /// The subject commonName (or the whole subject when it has none).
    pub subject: String,
    pub not_after: DateTime<Utc>,
}

impl OwnCertificate {
    /// What an operator calls it, for logs and the dashboard.
    pub fn describe(&self) -> String {
        let what = match self.role {
            "server" => "server certificate (server.pem)",
            "server_chain" => "certificate in server.pem's chain",
            "ca" => "CA certificate the agents trust (ca.pem)",
            "database_ca" => "CA certificate that verifies PostgreSQL (sslrootcert)",
            other => other,
        };
        format!("{what} \"{}\"", self.subject)
    }
}

/// Every certificate in `pem`, as `role` (the first of a server chain is `server`).
fn parse_pem(pem: &str, role: &'static str, source: &str, out: &mut Vec<OwnCertificate>) {
    for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let parsed = der
            .map_err(|e| e.to_string())
            .and_then(|der| certfleet_certinfo::parse_der(&der).map_err(|e| e.to_string()));
        match parsed {
            Ok(info) => out.push(OwnCertificate {
                role: if role == "server" && i > 0 {
                    "server_chain"
                } else {
                    role
                },
                subject: info.subject_cn.unwrap_or(info.subject),
                not_after: info.not_after,
            }),
            Err(e) => {
                tracing::warn!(%source, error = %e, "cannot read a certificate to watch its expiry")
            }
        }
    }
}

/// The value of `sslrootcert=` in a PostgreSQL URL, if any.
fn sslrootcert(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "sslrootcert")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty() && v != "system")
}

/// The collector's certificates from its settings (see the module documentation).
pub fn load(settings: &Settings) -> Vec<OwnCertificate> {
    let mut out = Vec::new();
    if let Some(tls) = &settings.tls {
        parse_pem(&tls.cert_pem, "server", "tls.cert_file", &mut out);
    }
    if let Some(ca) = &settings.tls_ca {
        parse_pem(&ca.pem, "ca", &ca.path.display().to_string(), &mut out);
    }
    if let Some(path) = settings
        .database_url
        .as_ref()
        .and_then(|u| sslrootcert(u.expose()))
    {
        match std::fs::read_to_string(&path) {
            Ok(pem) => parse_pem(&pem, "database_ca", &path, &mut out),
            Err(e) => {
                tracing::warn!(%path, error = %e, "cannot read sslrootcert to watch its expiry")
            }
        }
    }
    out
}

/// Days from `now` until `not_after`, rounded down (negative once expired).
pub fn days_left(not_after: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (not_after - now).num_days()
}

/// Logs each certificate that expires within [`WARN_DAYS`] of `now`; a line per certificate.
pub fn warn_at_start(certs: &[OwnCertificate], now: DateTime<Utc>) {
    for c in certs {
        let days = days_left(c.not_after, now);
        let hint = if c.role.starts_with("server") {
            "re-issue it with `certfleet-collector reissue-server-cert` (docs/OPERATIONS.md)"
        } else {
            "plan its replacement (docs/OPERATIONS.md, \"Rotating secrets and certificates\")"
        };
        if c.not_after <= now {
            tracing::error!(certificate = %c.describe(), not_after = %c.not_after, "certificate EXPIRED: {hint}");
        } else if days < WARN_DAYS {
            tracing::warn!(certificate = %c.describe(), not_after = %c.not_after, days_left = days, "certificate expires soon: {hint}");
        } else {
            tracing::info!(certificate = %c.describe(), not_after = %c.not_after, days_left = days, "watching certificate expiry");
        }
    }
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends `certfleet_own_certificate_expiry_timestamp_seconds` in Prometheus text format.
pub fn render(certs: &[OwnCertificate], out: &mut String) {
    out.push_str(
        "# HELP certfleet_own_certificate_expiry_timestamp_seconds Not-after of each certificate \
         the collector serves or trusts (server, its chain, the agents' CA, the database CA).\n",
    );
    out.push_str("# TYPE certfleet_own_certificate_expiry_timestamp_seconds gauge\n");
    for c in certs {
        let _ = writeln!(
            out,
            "certfleet_own_certificate_expiry_timestamp_seconds{{role=\"{}\",subject=\"{}\"}} {}",
            c.role,
            label(&c.subject),
            c.not_after.timestamp()
        );
    }
}

/// The dashboard's view: what each certificate is and when it expires.
pub fn notices(certs: &[OwnCertificate]) -> Vec<certfleet_dashboard::OwnCertificateNotice> {
    certs
        .iter()
        .map(|c| certfleet_dashboard::OwnCertificateNotice {
            what: c.describe(),
            not_after: c.not_after,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_roles_metrics_and_the_database_ca() {
        let ca = crate::pki::generate_ca("certfleet \"test\" CA").unwrap();
        let server = crate::pki::generate_server_cert(&ca, &["collector.example".into()]).unwrap();
        let mut certs = Vec::new();
        parse_pem(
            &format!("{}{}", server.cert_pem, ca.cert_pem),
            "server",
            "x",
            &mut certs,
        );
        let roles: Vec<&str> = certs.iter().map(|c| c.role).collect();
        assert_eq!(roles, ["server", "server_chain"]);
        assert_eq!(certs[0].subject, "collector.example");
        let days = days_left(certs[0].not_after, Utc::now());
        assert!((823..=825).contains(&days), "{days}");
        let mut text = String::new();
        render(&certs, &mut text);
        assert!(
            text.contains(&format!(
                "certfleet_own_certificate_expiry_timestamp_seconds{{role=\"server_chain\",subject=\"certfleet \\\"test\\\" CA\"}} {}",
                certs[1].not_after.timestamp()
            )),
            "{text}"
        );
        assert_eq!(
            sslrootcert("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fdb-ca.pem")
                .as_deref(),
            Some("/etc/db-ca.pem")
        );
        assert_eq!(sslrootcert("postgres://u@h/db?sslrootcert=system"), None);
        assert_eq!(sslrootcert("postgres://u@h/db"), None);
    }
}
