//! Secret files named by the configuration (enroll secrets, API token, passwords, session
//! key): one line each, surrounding whitespace ignored. Errors name the setting, never the
//! secret.

use std::path::Path;

use crate::error::{ConfigError, invalid};

/// Shortest accepted enroll secret or API token: they are the only barrier to enrollment and
/// to the API.
pub const MIN_SECRET_LEN: usize = 16;

/// Reads a one-line secret file (password, token) without length rules.
pub fn read_plain_secret(setting: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(setting, format!("{}: {e}", path.display())))?;
    Ok(text.trim().to_owned())
}

/// Reads a secret that guards access and must be at least [`MIN_SECRET_LEN`] long.
pub fn read_strong_secret(setting: &'static str, path: &Path) -> Result<String, ConfigError> {
    let secret = read_plain_secret(setting, path)?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(invalid(
            setting,
            format!(
                "{} holds a secret shorter than {MIN_SECRET_LEN} characters",
                path.display()
            ),
        ));
    }
    Ok(secret)
}
