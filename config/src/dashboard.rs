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
    /// More accounts, one `username:$argon2id$…` line each (`#` comments): a file that can be
    /// a Kubernetes Secret or a compose secret, so adding a user needs no edit of
    /// collector.toml. `certfleet-collector hash-password --user NAME` prints such a line.
    pub users_file: Option<PathBuf>,
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
        let mut users: Vec<(String, String)> = Vec::new();
        let mut add = |setting: &'static str, username: &str, hash: &str| {
            if username.trim().is_empty() {
                return Err(invalid(setting, "a user has an empty username"));
            }
            if !hash.starts_with("$argon2") {
                return Err(invalid(
                    setting,
                    format!(
                        "password_hash of {username:?} is not an argon2 hash; use `certfleet-collector hash-password`"
                    ),
                ));
            }
            if users.iter().any(|(u, _)| u == username) {
                return Err(invalid(
                    setting,
                    format!("user {username:?} is listed twice"),
                ));
            }
            users.push((username.to_owned(), hash.to_owned()));
            Ok(())
        };
        for u in &section.users {
            add("dashboard.users", &u.username, &u.password_hash)?;
        }
        if let Some(path) = &section.users_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid("dashboard.users_file", format!("{}: {e}", path.display())))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((username, hash)) = line.split_once(':') else {
                    // The line may hold a hash: never quote it.
                    return Err(invalid(
                        "dashboard.users_file",
                        format!(
                            "{} line {}: expected username:$argon2id$… (from `certfleet-collector hash-password --user NAME`)",
                            path.display(),
                            n + 1
                        ),
                    ));
                };
                add("dashboard.users_file", username.trim(), hash.trim())?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_come_from_the_file_and_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.txt");
        std::fs::write(
            &file,
            "# dashboard accounts\nalice:$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA\n\n bob : $argon2id$x\n",
        )
        .unwrap();
        let section = DashboardSection {
            users: vec![DashboardUser {
                username: "admin".into(),
                password_hash: "$argon2id$y".into(),
            }],
            users_file: Some(file.clone()),
            ..DashboardSection::default()
        };
        let s = DashboardSettings::resolve(&section).unwrap();
        let names: Vec<&str> = s.users.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(names, ["admin", "alice", "bob"]);
        assert_eq!(s.users[2].1, "$argon2id$x");

        std::fs::write(&file, "admin:$argon2id$z\n").unwrap();
        let err = DashboardSettings::resolve(&section)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listed twice"), "{err}");
        std::fs::write(&file, "carol $argon2id$secret-hash\n").unwrap();
        let err = DashboardSettings::resolve(&section)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && !err.contains("secret-hash"),
            "{err}"
        );
        std::fs::write(&file, "dave:plaintext\n").unwrap();
        let err = DashboardSettings::resolve(&section)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("dashboard.users_file") && err.contains("argon2"),
            "{err}"
        );
    }
}
