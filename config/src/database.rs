//! The database: `data_dir` (embedded SQLite) or `database_url` (PostgreSQL), and the pool
//! size from `[limits]`. Commands that only read the database need nothing else.

use std::path::PathBuf;

use crate::error::{ConfigError, invalid};
use crate::secrets::redact_url;
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
        let max_connections = crate::limits::database_max_connections(&file.limits)?;
        Ok(Self {
            data_dir,
            database_url: database_url.map(DatabaseUrl),
            max_connections,
        })
    }
}
