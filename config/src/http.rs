//! `[http]`: what the HTTP listener (report API, metrics, dashboard) requires of clients.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::secrets::read_strong_secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// File holding the bearer token required for the API off loopback.
    pub api_token_file: Option<PathBuf>,
}

/// The API token, when one is configured.
pub(crate) fn resolve_api_token(section: &HttpSection) -> Result<Option<String>, ConfigError> {
    section
        .api_token_file
        .as_deref()
        .map(|path| read_strong_secret("http.api_token_file", path))
        .transpose()
}
