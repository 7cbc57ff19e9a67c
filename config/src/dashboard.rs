//! `[dashboard]`: who may log in, the session key replicas share, cookie flags and how long
//! the fleet-wide pages reuse one load of the fleet.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{ConfigError, invalid};
use crate::secrets::read_plain_secret;

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
    /// Name the session cookie `__Host-cf_session`, which browsers accept only over HTTPS,
    /// for this exact host and path `/` (no subdomain can set or shadow it). Needs
    /// `secure_cookies`.
    pub cookie_host_prefix: Option<bool>,
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
    /// The session cookie carries the `__Host-` prefix.
    pub cookie_host_prefix: bool,
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

impl DashboardSettings {
    /// Checks the accounts and reads the session key.
    pub fn resolve(section: &DashboardSection) -> Result<DashboardSettings, ConfigError> {
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
        let secure_cookies = section.secure_cookies.unwrap_or(false);
        let cookie_host_prefix = section.cookie_host_prefix.unwrap_or(false);
        if cookie_host_prefix && !secure_cookies {
            return Err(invalid(
                "dashboard.cookie_host_prefix",
                "needs secure_cookies = true (browsers drop __Host- cookies without Secure)",
            ));
        }
        Ok(DashboardSettings {
            users,
            session_key,
            secure_cookies,
            cookie_host_prefix,
            fleet_cache: std::time::Duration::from_secs(u64::from(cache_seconds)),
        })
    }
}
