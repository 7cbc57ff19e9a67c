//! The database: `data_dir` (embedded SQLite) or `database_url` (PostgreSQL), and the pool
//! size from `[limits]`. Commands that only read the database need nothing else.

use std::path::PathBuf;

use crate::error::{ConfigError, invalid};
use crate::secrets::{read_plain_secret, redact_url};
use crate::{FileConfig, Overrides};

/// Where the store is and how many connections it may use.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub data_dir: PathBuf,
    pub database_url: Option<DatabaseUrl>,
    pub max_connections: u32,
}

/// A database URL. It may hold a password, so its `Debug` shows it redacted
/// ([`redact_url`]); [`DatabaseUrl::expose`] gives the URL to the store.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The full URL, password included: for opening the database, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

/// `url` with `password` as the password of its user (percent-encoded). The URL must name a
/// user and carry no password of its own: two passwords would leave the reader guessing which
/// one is used.
fn with_password(url: &str, password: &str) -> Result<String, ConfigError> {
    let setting = "database_password_file";
    let Some(scheme_end) = url
        .find("://")
        .filter(|_| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    else {
        return Err(invalid(
            setting,
            "only a postgres:// database_url takes a password",
        ));
    };
    let rest_start = scheme_end + 3;
    let authority_end = url[rest_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| rest_start + i);
    let Some(at) = url[rest_start..authority_end].rfind('@') else {
        return Err(invalid(
            setting,
            "database_url names no user: write postgres://USER@HOST/DB",
        ));
    };
    let user_end = rest_start + at;
    if url[rest_start..user_end].contains(':') {
        return Err(invalid(
            setting,
            "database_url already holds a password; remove it from the URL",
        ));
    }
    if password.is_empty() {
        return Err(invalid(setting, "the file is empty"));
    }
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!(
        "{}:{encoded}{}",
        &url[..user_end],
        &url[user_end..]
    ))
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
        let password_file = ov
            .database_password_file
            .clone()
            .or_else(|| file.database_password_file.clone());
        let database_url = match (database_url, password_file) {
            (Some(url), Some(path)) => {
                let password = read_plain_secret("database_password_file", &path)?;
                Some(with_password(&url, &password)?)
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "database_password_file",
                    "needs a database_url (postgres://USER@HOST/DB) to put the password into",
                ));
            }
            (url, None) => url,
        };
        let max_connections = crate::limits::database_max_connections(&file.limits)?;
        Ok(Self {
            data_dir,
            database_url: database_url.map(DatabaseUrl),
            max_connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_file_goes_into_the_url() {
        assert_eq!(
            with_password("postgres://certfleet@postgres:5432/certfleet", "p@ss:w/rd").unwrap(),
            "postgres://certfleet:p%40ss%3Aw%2Frd@postgres:5432/certfleet"
        );
        assert_eq!(
            with_password("postgresql://u@h/db?sslmode=verify-full", "abc").unwrap(),
            "postgresql://u:abc@h/db?sslmode=verify-full"
        );
        for (url, expected) in [
            ("postgres://u:old@h/db", "already holds a password"),
            ("postgres://h/db", "names no user"),
            ("sqlite://x.db", "only a postgres"),
        ] {
            let err = with_password(url, "pw").unwrap_err().to_string();
            assert!(err.contains(expected), "{url}: {err}");
            assert!(err.starts_with("database_password_file"), "{err}");
        }
    }

    #[test]
    fn a_password_file_without_a_url_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let file = FileConfig {
            database_password_file: Some(pw),
            ..FileConfig::default()
        };
        let err = DatabaseSettings::resolve(&file, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("needs a database_url"), "{err}");
        let ov = Overrides {
            database_url: Some("postgres://certfleet@db/certfleet".into()),
            ..Overrides::default()
        };
        let db = DatabaseSettings::resolve(&file, &ov).unwrap();
        assert_eq!(
            db.database_url.unwrap().expose(),
            "postgres://certfleet:secret@db/certfleet"
        );
    }
}
