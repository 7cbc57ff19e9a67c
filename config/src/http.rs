//! `[http]`: what the HTTP listener (report API, metrics, dashboard) requires of clients, who
//! may stand between them and the collector, and how long a connection may take.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::{ConfigError, invalid};
use crate::secrets::{Secret, read_strong_secret};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// File holding the bearer token of the report API (and of `/metrics` and the dashboard
    /// for scripts).
    pub api_token_file: Option<PathBuf>,
    /// File holding a bearer token that opens `/metrics` only, for Prometheus.
    pub metrics_token_file: Option<PathBuf>,
    /// Host names (without port) browsers may use to reach the listener, besides IP literals
    /// and `localhost`; any other `Host` is refused (DNS rebinding).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Addresses or networks (`10.0.0.0/8`) of reverse proxies in front of the listener:
    /// their requests are never local, and their `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has to send a request's headers (default 10).
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a connection may stay without reading or writing a byte (default 120).
    pub idle_timeout_seconds: Option<u64>,
    /// Seconds a response write may wait for a client that stopped reading (default 60).
    pub write_timeout_seconds: Option<u64>,
    /// Connections served at once; further ones wait in the kernel's backlog (default 1024).
    pub max_connections: Option<usize>,
}

/// Resolved `[http]`.
#[derive(Clone)]
pub struct HttpSettings {
    pub api_token: Option<Secret>,
    pub metrics_token: Option<Secret>,
    /// Lower-case host names, no port.
    pub allowed_hosts: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
}

// Hand-written so that the tokens never reach a log (`Secret` redacts itself as well).
impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("api_token", &self.api_token)
            .field("metrics_token", &self.metrics_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Default of `http.header_read_timeout_seconds`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `http.idle_timeout_seconds`: longer than common reverse proxies keep idle
/// upstream connections (nginx: 60 s), so the proxy closes first and never reuses a closed one.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default of `http.write_timeout_seconds`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `http.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            api_token: None,
            metrics_token: None,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpSettings {
    /// Reads the token files and checks every value, naming the setting at fault.
    pub fn resolve(section: &HttpSection) -> Result<HttpSettings, ConfigError> {
        let token = |setting, path: &Option<PathBuf>| {
            path.as_deref()
                .map(|p| read_strong_secret(setting, p).map(Secret::new))
                .transpose()
        };
        let api_token = token("http.api_token_file", &section.api_token_file)?;
        let metrics_token = token("http.metrics_token_file", &section.metrics_token_file)?;
        let mut allowed_hosts = Vec::new();
        for host in &section.allowed_hosts {
            allowed_hosts.push(host_name(host)?);
        }
        let mut trusted_proxies = Vec::new();
        for proxy in &section.trusted_proxies {
            trusted_proxies.push(proxy_net(proxy)?);
        }
        let seconds = |setting, v: Option<u64>, default: Duration, max: u64| match v {
            None => Ok(default),
            Some(s) if (1..=max).contains(&s) => Ok(Duration::from_secs(s)),
            Some(s) => Err(invalid(setting, format!("{s} is outside 1..={max}"))),
        };
        Ok(HttpSettings {
            api_token,
            metrics_token,
            allowed_hosts,
            trusted_proxies,
            header_read_timeout: seconds(
                "http.header_read_timeout_seconds",
                section.header_read_timeout_seconds,
                DEFAULT_HEADER_READ_TIMEOUT,
                300,
            )?,
            idle_timeout: seconds(
                "http.idle_timeout_seconds",
                section.idle_timeout_seconds,
                DEFAULT_IDLE_TIMEOUT,
                3600,
            )?,
            write_timeout: seconds(
                "http.write_timeout_seconds",
                section.write_timeout_seconds,
                DEFAULT_WRITE_TIMEOUT,
                3600,
            )?,
            max_connections: match section.max_connections {
                Some(v) => crate::bounded("http.max_connections", v, 1, 100_000)?,
                None => DEFAULT_MAX_CONNECTIONS,
            },
        })
    }

    /// Whether requests from `peer` come through a declared reverse proxy.
    pub fn is_trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

/// An `allowed_hosts` entry: a DNS name, lower-cased, without port or scheme.
fn host_name(entry: &str) -> Result<String, ConfigError> {
    let name = entry.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(invalid(
            "http.allowed_hosts",
            format!(
                "{entry:?} is not a host name like certfleet.example.org (no scheme, port or path; IP addresses are always allowed)"
            ),
        ));
    }
    Ok(name)
}

/// A `trusted_proxies` entry: an IP address or a network in CIDR notation.
fn proxy_net(entry: &str) -> Result<IpNet, ConfigError> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid(
                "http.trusted_proxies",
                format!("{entry:?} is not an IP address or a network like 10.0.0.0/8"),
            )
        })
}

/// A plain-HTTP listener on loopback with `Secure` cookies only makes sense behind a TLS
/// reverse proxy on the same host. Such a proxy makes every visitor look like a local client,
/// so it must be declared in `trusted_proxies` before the collector starts.
pub(crate) fn check_secure_cookies_behind_proxy(
    http_listen: SocketAddr,
    secure_cookies: bool,
    http: &HttpSettings,
) -> Result<(), ConfigError> {
    if secure_cookies && http_listen.ip().is_loopback() && http.trusted_proxies.is_empty() {
        return Err(invalid(
            "dashboard.secure_cookies",
            format!(
                "is true but the HTTP listener {http_listen} is plain HTTP on loopback, so a TLS \
                 reverse proxy on this host must front it: list the proxy's address in \
                 [http] trusted_proxies (e.g. [\"127.0.0.1\", \"::1\"]), or set \
                 secure_cookies = false"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_proxies_are_checked_and_named() {
        let section = HttpSection {
            allowed_hosts: vec!["Certfleet.Example.ORG.".into()],
            trusted_proxies: vec!["127.0.0.1".into(), "10.0.0.0/8".into(), "::1".into()],
            ..HttpSection::default()
        };
        let s = HttpSettings::resolve(&section).unwrap();
        assert_eq!(s.allowed_hosts, ["certfleet.example.org"]);
        assert!(s.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(s.is_trusted_proxy("::1".parse().unwrap()));
        assert!(!s.is_trusted_proxy("192.0.2.1".parse().unwrap()));
        for (section, setting) in [
            (
                HttpSection {
                    allowed_hosts: vec!["https://x.example".into()],
                    ..HttpSection::default()
                },
                "http.allowed_hosts",
            ),
            (
                HttpSection {
                    allowed_hosts: vec!["x.example:8080".into()],
                    ..HttpSection::default()
                },
                "http.allowed_hosts",
            ),
            (
                HttpSection {
                    trusted_proxies: vec!["proxy.example".into()],
                    ..HttpSection::default()
                },
                "http.trusted_proxies",
            ),
            (
                HttpSection {
                    idle_timeout_seconds: Some(0),
                    ..HttpSection::default()
                },
                "http.idle_timeout_seconds",
            ),
            (
                HttpSection {
                    max_connections: Some(0),
                    ..HttpSection::default()
                },
                "http.max_connections",
            ),
        ] {
            let err = HttpSettings::resolve(&section).unwrap_err().to_string();
            assert!(err.starts_with(setting), "{err}");
        }
    }

    #[test]
    fn secure_cookies_on_a_loopback_listener_need_a_declared_proxy() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let none = HttpSettings::default();
        let err = check_secure_cookies_behind_proxy(loopback, true, &none).unwrap_err();
        assert!(
            err.to_string().starts_with("dashboard.secure_cookies")
                && err.to_string().contains("trusted_proxies"),
            "{err}"
        );
        assert!(check_secure_cookies_behind_proxy(loopback, false, &none).is_ok());
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(check_secure_cookies_behind_proxy(v6, true, &none).is_err());
        let exposed: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_secure_cookies_behind_proxy(exposed, true, &none).is_ok());
        let proxied = HttpSettings {
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..HttpSettings::default()
        };
        assert!(check_secure_cookies_behind_proxy(loopback, true, &proxied).is_ok());
    }
}
