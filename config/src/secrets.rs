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

/// A secret read from a file (API token, metrics token). Its `Debug` never shows the value, so
/// settings can be logged; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself, for comparing and passing on; never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A database URL as logs may show it: the password of `scheme://user:password@host/…`
/// replaced by `***` (and a `password=` query parameter too).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_passwords_are_redacted() {
        assert_eq!(
            format!("{:?}", Some(Secret::new("tok".into()))),
            "Some(<redacted>)"
        );
        assert_eq!(
            redact_url(
                "postgres://certfleet:s3cr%40t@db.example.org:5432/certfleet?sslmode=verify-full"
            ),
            "postgres://certfleet:***@db.example.org:5432/certfleet?sslmode=verify-full"
        );
        assert_eq!(
            redact_url("postgres://db.example.org/cf?user=u&password=pw&sslmode=require"),
            "postgres://db.example.org/cf?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:data/x.db"), "sqlite:data/x.db");
    }
}
