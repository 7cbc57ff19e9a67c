//! `[alerts]`: thresholds, daily schedule, language and delivery channels (SMTP, webhooks) of
//! the expiry alerts, resolved into [`AlertSettings`].

use std::path::PathBuf;

use certfleet_model::Lang;
use chrono::NaiveTime;
use serde::Deserialize;

use crate::error::{ConfigError, invalid};
use crate::secrets::read_plain_secret;

/// `[alerts]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Run the daily schedule inside `serve` (default true when a channel is configured).
    pub enabled: Option<bool>,
    /// Local time (reports.time_zone) of the daily run, `HH:MM`.
    pub daily_at: Option<String>,
    /// Days before expiry at which a pair is alerted (plus "expired").
    pub thresholds: Option<Vec<u32>>,
    /// `ja` (default) or `en`.
    pub language: Option<String>,
    /// E-mail addresses that receive every alert (the registry's owners get their offices').
    #[serde(default)]
    pub default_recipients: Vec<String>,
    /// First retry delay of a failed delivery; doubles per failure up to a day.
    pub retry_base_minutes: Option<u64>,
    pub smtp: Option<SmtpSection>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
}

/// `[alerts.smtp]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub security: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `certfleet <certfleet@example.jp>`.
    pub from: String,
    /// Send the username and password even with `security = "none"`, i.e. in clear text. Only
    /// for a relay on the same host; refused otherwise.
    pub allow_plaintext_credentials: Option<bool>,
}

/// One `[[alerts.webhooks]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub name: String,
    pub url: String,
    /// `json` (default: the structured digest), `slack` or `teams` (a text payload).
    pub format: Option<String>,
    /// File holding a bearer token sent as `Authorization: Bearer …`.
    pub bearer_token_file: Option<PathBuf>,
    /// Send the bearer token to an `http://` URL, i.e. in clear text. Only for a receiver on
    /// the same host; refused otherwise.
    pub allow_plaintext_token: Option<bool>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    /// Plain SMTP: only for a relay on localhost or a trusted segment.
    None,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Payload style of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The structured digest as JSON.
    Json,
    /// `{"text": …}`: Slack incoming webhooks and Teams/Mattermost-compatible endpoints.
    Slack,
    /// Teams MessageCard-style `{"text": …, "title": …}`.
    Teams,
}

#[derive(Clone)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("name", &self.name)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The alert thresholds in days (default 60, 30, 14, 7, 3, 1), sorted ascending without
/// duplicates. Which threshold a pair has reached is the alerts' decision, not configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    days: Vec<u32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::new(vec![60, 30, 14, 7, 3, 1])
    }
}

impl Thresholds {
    /// Thresholds from configuration; order and duplicates do not matter.
    pub fn new(mut days: Vec<u32>) -> Self {
        days.sort_unstable();
        days.dedup();
        Self { days }
    }

    /// The thresholds, smallest (most urgent) first.
    pub fn days(&self) -> &[u32] {
        &self.days
    }

    /// The largest threshold: how far ahead alerts look.
    pub fn max_days(&self) -> u32 {
        self.days.last().copied().unwrap_or(0)
    }
}

/// Everything the alert runner needs from configuration.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub enabled: bool,
    pub daily_at: NaiveTime,
    pub time_zone: chrono_tz::Tz,
    pub thresholds: Thresholds,
    pub language: Lang,
    pub default_recipients: Vec<String>,
    pub retry_base: chrono::Duration,
    pub smtp: Option<SmtpSettings>,
    pub webhooks: Vec<WebhookSettings>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            daily_at: NaiveTime::from_hms_opt(9, 0, 0).expect("valid time"),
            time_zone: chrono_tz::Asia::Tokyo,
            thresholds: Thresholds::default(),
            language: Lang::Ja,
            default_recipients: Vec::new(),
            retry_base: chrono::Duration::minutes(10),
            smtp: None,
            webhooks: Vec::new(),
        }
    }
}

/// A plausible e-mail address (the SMTP server has the last word).
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == '<' || c == '>')
}

impl AlertSettings {
    /// The section with defaults filled in; times are in `time_zone` (`reports.time_zone`).
    pub fn resolve(section: &AlertsSection, time_zone: chrono_tz::Tz) -> Result<Self, ConfigError> {
        let mut s = AlertSettings {
            time_zone,
            ..Default::default()
        };
        if let Some(at) = &section.daily_at {
            // HH:MM for people; HH:MM:SS is accepted too (tests schedule a run seconds ahead).
            s.daily_at = NaiveTime::parse_from_str(at, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(at, "%H:%M"))
                .map_err(|_| {
                    invalid(
                        "alerts.daily_at",
                        format!("{at:?} is not a time like 09:00"),
                    )
                })?;
        }
        if let Some(t) = &section.thresholds {
            if t.is_empty() || t.iter().any(|d| *d > 3650) {
                return Err(invalid(
                    "alerts.thresholds",
                    "give 1 to 3650 days, e.g. [60, 30, 14, 7, 3, 1]",
                ));
            }
            s.thresholds = Thresholds::new(t.clone());
        }
        s.language = match section.language.as_deref() {
            None => Lang::Ja,
            Some(code) => Lang::parse(code).ok_or_else(|| {
                invalid("alerts.language", format!("{code:?}: use \"ja\" or \"en\""))
            })?,
        };
        for r in &section.default_recipients {
            if !looks_like_email(r) {
                return Err(invalid(
                    "alerts.default_recipients",
                    format!("{r:?} is not an e-mail address"),
                ));
            }
        }
        s.default_recipients = section.default_recipients.clone();
        if let Some(m) = section.retry_base_minutes {
            if m == 0 || m > 1440 {
                return Err(invalid("alerts.retry_base_minutes", "must be 1..=1440"));
            }
            s.retry_base = chrono::Duration::minutes(i64::try_from(m).unwrap_or(10));
        }
        if let Some(smtp) = &section.smtp {
            s.smtp = Some(resolve_smtp(smtp)?);
        }
        for hook in &section.webhooks {
            s.webhooks.push(resolve_webhook(hook)?);
        }
        if s.smtp.is_none() && !s.default_recipients.is_empty() {
            return Err(invalid(
                "alerts.default_recipients",
                "e-mail recipients need an [alerts.smtp] server",
            ));
        }
        let has_channel = s.smtp.is_some() || !s.webhooks.is_empty();
        s.enabled = section.enabled.unwrap_or(has_channel);
        if s.enabled && !has_channel {
            return Err(invalid(
                "alerts.enabled",
                "alerts are enabled but no [alerts.smtp] or [[alerts.webhooks]] is configured",
            ));
        }
        Ok(s)
    }
}

fn resolve_smtp(smtp: &SmtpSection) -> Result<SmtpSettings, ConfigError> {
    let security = match smtp.security.as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            return Err(invalid(
                "alerts.smtp.security",
                format!("{other:?}: use starttls, tls or none"),
            ));
        }
    };
    let port = smtp.port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::None => 25,
    });
    let credentials = match (&smtp.username, &smtp.password_file) {
        (Some(u), Some(p)) => Some((
            u.clone(),
            read_plain_secret("alerts.smtp.password_file", p)?,
        )),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "alerts.smtp",
                "username and password_file go together",
            ));
        }
    };
    if security == SmtpSecurity::None
        && credentials.is_some()
        && !smtp.allow_plaintext_credentials.unwrap_or(false)
    {
        return Err(invalid(
            "alerts.smtp.security",
            "\"none\" would send the username and password in clear text: use starttls or \
             tls, or set allow_plaintext_credentials = true for a relay on this host",
        ));
    }
    if smtp.from.trim().is_empty() {
        return Err(invalid("alerts.smtp.from", "is empty"));
    }
    Ok(SmtpSettings {
        host: smtp.host.clone(),
        port,
        security,
        credentials,
        from: smtp.from.clone(),
    })
}

fn resolve_webhook(hook: &WebhookSection) -> Result<WebhookSettings, ConfigError> {
    // The URL itself is never repeated in a message: for Slack and Teams it is a credential.
    let plaintext = hook.url.starts_with("http://");
    if !(hook.url.starts_with("https://") || plaintext) {
        return Err(invalid(
            "alerts.webhooks.url",
            format!(
                "the URL of webhook {:?} does not start with https:// (or http://)",
                hook.name
            ),
        ));
    }
    let format = match hook.format.as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some("teams") => WebhookFormat::Teams,
        Some(other) => {
            return Err(invalid(
                "alerts.webhooks.format",
                format!("{other:?}: use json, slack or teams"),
            ));
        }
    };
    let bearer_token = match &hook.bearer_token_file {
        Some(p) => Some(read_plain_secret("alerts.webhooks.bearer_token_file", p)?),
        None => None,
    };
    if plaintext && bearer_token.is_some() && !hook.allow_plaintext_token.unwrap_or(false) {
        return Err(invalid(
            "alerts.webhooks.bearer_token_file",
            format!(
                "webhook {:?} would send its bearer token over http:// in clear text: use an \
                 https:// URL, or set allow_plaintext_token = true for a receiver on this host",
                hook.name
            ),
        ));
    }
    Ok(WebhookSettings {
        name: hook.name.clone(),
        url: hook.url.clone(),
        format,
        bearer_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let none =
            AlertSettings::resolve(&AlertsSection::default(), chrono_tz::Asia::Tokyo).unwrap();
        assert!(!none.enabled);
        let section: AlertsSection = toml::from_str("daily_at = \"25:00\"").unwrap();
        assert!(
            AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo)
                .unwrap_err()
                .to_string()
                .starts_with("alerts.daily_at")
        );
        let section: AlertsSection = toml::from_str("default_recipients = [\"a@b.jp\"]").unwrap();
        assert!(
            AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).is_err(),
            "e-mail without SMTP"
        );
        let section: AlertsSection =
            toml::from_str("[[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"slack\"\n").unwrap();
        let s = AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo).unwrap();
        assert!(s.enabled);
        assert_eq!(s.webhooks[0].format, WebhookFormat::Slack);
        let section: AlertsSection = toml::from_str("language = \"fr\"").unwrap();
        assert!(
            AlertSettings::resolve(&section, chrono_tz::Asia::Tokyo)
                .unwrap_err()
                .to_string()
                .starts_with("alerts.language")
        );
    }

    #[test]
    fn secrets_in_clear_text_need_an_explicit_allowance() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "s3cret-value\n").unwrap();
        let secret = secret.to_string_lossy().replace('\\', "/");
        let tz = chrono_tz::Asia::Tokyo;
        let smtp = |extra: &str| {
            format!(
                "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"none\"\nusername = \"u\"\n\
                 password_file = \"{secret}\"\nfrom = \"a@b.jp\"\n{extra}"
            )
        };
        let section: AlertsSection = toml::from_str(&smtp("")).unwrap();
        let err = AlertSettings::resolve(&section, tz)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("alerts.smtp.security"), "{err}");
        assert!(err.contains("clear text"), "{err}");
        let section: AlertsSection =
            toml::from_str(&smtp("allow_plaintext_credentials = true\n")).unwrap();
        assert!(AlertSettings::resolve(&section, tz).is_ok());

        let hook = |url: &str, extra: &str| {
            format!(
                "[[webhooks]]\nname = \"chat\"\nurl = \"{url}\"\n\
                 bearer_token_file = \"{secret}\"\n{extra}"
            )
        };
        let section: AlertsSection = toml::from_str(&hook("http://10.0.0.5/hook", "")).unwrap();
        let err = AlertSettings::resolve(&section, tz)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("alerts.webhooks.bearer_token_file"),
            "{err}"
        );
        assert!(!err.contains("10.0.0.5"), "the URL is not repeated: {err}");
        let section: AlertsSection = toml::from_str(&hook(
            "http://127.0.0.1:9/hook",
            "allow_plaintext_token = true\n",
        ))
        .unwrap();
        assert!(AlertSettings::resolve(&section, tz).is_ok());
        let section: AlertsSection = toml::from_str(&hook("https://x.example/hook", "")).unwrap();
        assert!(AlertSettings::resolve(&section, tz).is_ok());
        let section: AlertsSection = toml::from_str(
            "[[webhooks]]\nname = \"chat\"\nurl = \"hooks.slack.com/services/T/B/SECRET\"\n",
        )
        .unwrap();
        let err = AlertSettings::resolve(&section, tz)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn thresholds_are_sorted_and_deduplicated() {
        let t = Thresholds::new(vec![7, 90, 7, 30]);
        assert_eq!(t.days(), [7, 30, 90]);
        assert_eq!(t.max_days(), 90);
    }
}
