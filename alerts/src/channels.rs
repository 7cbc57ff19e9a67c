//! Delivery channels: SMTP e-mail (lettre, STARTTLS/TLS, authentication) and webhooks (generic
//! JSON or a Slack/Teams-compatible text payload).
//!
//! A Slack or Teams webhook URL is a credential: whoever has it can post into the channel. So
//! every failure is described by [`Redactor`], the one place that turns a transport error into
//! text: without URLs (`reqwest::Error::without_url`, then any `scheme://…` left in the error
//! chain) and without the configured secrets (webhook URLs and their paths, bearer tokens, the
//! SMTP password). That text is all that reaches `alert_deliveries.last_error`, the log, the
//! CLI and the dashboard.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use certfleet_config::{SmtpSecurity, SmtpSettings, WebhookFormat, WebhookSettings};

use crate::digest::Digest;

/// Why a delivery failed; the message is stored with the delivery and retried later.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("building the e-mail failed: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("webhook {name} failed: {message}")]
    Webhook { name: String, message: String },
    #[error("no channel is configured for recipient {0}")]
    NoChannel(String),
}

/// The configured channels of one collector.
#[derive(Debug, Clone)]
pub struct Channels {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    webhooks: Vec<WebhookSettings>,
    http: reqwest::Client,
    redactor: Redactor,
}

/// Longest piece of a webhook's error response kept in the failure text.
const MAX_RESPONSE_EXCERPT: usize = 200;

/// Describes delivery failures without URLs or configured secrets (see the module docs).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Literal texts never shown, longest first (a URL before its own path).
    secrets: Vec<String>,
}

// Hand-written: the secrets are what this type exists to hide.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for the secrets of these channels.
    pub fn new(smtp: Option<&SmtpSettings>, webhooks: &[WebhookSettings]) -> Self {
        let mut secrets = Vec::new();
        for hook in webhooks {
            secrets.push(hook.url.clone());
            // The path alone (`/services/T…/B…/XXXX`) is the secret part of a Slack URL, and
            // a receiver's error page may echo it.
            if let Some((_, rest)) = hook.url.split_once("://")
                && let Some(slash) = rest.find('/')
                && rest.len() - slash > 1
            {
                secrets.push(rest[slash..].to_owned());
            }
            secrets.extend(hook.bearer_token.clone());
        }
        if let Some((_, password)) = smtp.and_then(|s| s.credentials.as_ref()) {
            secrets.push(password.clone());
        }
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` without the configured secrets and without any URL.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        redact_urls(&out)
    }

    /// An error and its sources, one `: ` apart (a source already in its parent's text is not
    /// repeated), redacted.
    pub fn describe(&self, err: &(dyn std::error::Error + 'static)) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            let part = s.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            source = s.source();
        }
        self.redact(&text)
    }
}

/// `text` with every `scheme://…` up to the next whitespace replaced by `[URL redacted]` (a
/// closing parenthesis or quote that ended the URL in the text is kept).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest[at..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..scheme_start]);
        out.push_str("[URL redacted]");
        let tail: String = rest[scheme_start..end]
            .chars()
            .rev()
            .take_while(|c| matches!(c, ')' | ']' | '"' | '\'' | ',' | ';'))
            .collect();
        out.extend(tail.chars().rev());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl Channels {
    pub fn new(
        smtp: Option<&SmtpSettings>,
        webhooks: &[WebhookSettings],
    ) -> Result<Self, ChannelError> {
        let smtp_settings = smtp;
        let smtp = match smtp {
            Some(s) => {
                let builder = match s.security {
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host),
                    SmtpSecurity::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                    }
                    SmtpSecurity::None => Ok(
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                    ),
                }
                .map_err(|e| ChannelError::Smtp(Redactor::default().describe(&e)))?;
                let mut builder = builder.port(s.port).timeout(Some(Duration::from_secs(30)));
                if let Some((user, pass)) = &s.credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
                }
                let from: Mailbox = s
                    .from
                    .parse()
                    .map_err(|_| ChannelError::Address(s.from.clone()))?;
                Some((builder.build(), from))
            }
            None => None,
        };
        let redactor = Redactor::new(smtp_settings, webhooks);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ChannelError::Webhook {
                name: "client".into(),
                message: redactor.describe(&e.without_url()),
            })?;
        Ok(Self {
            smtp,
            webhooks: webhooks.to_vec(),
            http,
            redactor,
        })
    }

    /// Recipient ids for every webhook (`webhook:NAME`).
    pub fn webhook_recipients(&self) -> Vec<String> {
        self.webhooks
            .iter()
            .map(|w| format!("webhook:{}", w.name))
            .collect()
    }

    pub fn has_email(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends `digest` to a recipient id (`email:ADDRESS` or `webhook:NAME`).
    #[tracing::instrument(skip(self, digest), fields(subject = %digest.subject))]
    pub async fn send(&self, recipient: &str, digest: &Digest) -> Result<(), ChannelError> {
        if let Some(address) = recipient.strip_prefix("email:") {
            let (transport, from) = self
                .smtp
                .as_ref()
                .ok_or_else(|| ChannelError::NoChannel(recipient.to_owned()))?;
            let to: Mailbox = address
                .parse()
                .map_err(|_| ChannelError::Address(address.to_owned()))?;
            // lettre encodes the UTF-8 subject as RFC 2047 words and the body as base64/QP,
            // so Japanese text arrives intact.
            let message = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(digest.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(digest.text.clone())
                .map_err(|e| ChannelError::Build(self.redactor.describe(&e)))?;
            transport
                .send(message)
                .await
                .map_err(|e| ChannelError::Smtp(self.redactor.describe(&e)))?;
            return Ok(());
        }
        if let Some(name) = recipient.strip_prefix("webhook:") {
            let hook = self
                .webhooks
                .iter()
                .find(|w| w.name == name)
                .ok_or_else(|| ChannelError::NoChannel(recipient.to_owned()))?;
            let body = match hook.format {
                WebhookFormat::Json => serde_json::json!({
                    "subject": digest.subject,
                    "text": digest.text,
                    "generated_at": digest.generated_at,
                    "alerts": digest.items,
                }),
                WebhookFormat::Slack => serde_json::json!({
                    "text": format!("*{}*\n{}", digest.subject, digest.slack_text)
                }),
                WebhookFormat::Teams => {
                    serde_json::json!({ "title": digest.subject, "text": digest.teams_text })
                }
            };
            let mut req = self.http.post(&hook.url).json(&body);
            if let Some(token) = &hook.bearer_token {
                req = req.bearer_auth(token);
            }
            let fail = |message: String| ChannelError::Webhook {
                name: name.to_owned(),
                message,
            };
            let resp = req
                .send()
                .await
                .map_err(|e| fail(self.redactor.describe(&e.without_url())))?;
            let status = resp.status();
            if !status.is_success() {
                // The receiver's own words help ("invalid_token", "no_service"), redacted and on
                // one line: a receiver may echo the URL it was called on.
                let body = resp.text().await.unwrap_or_default();
                let excerpt: String = body.chars().take(MAX_RESPONSE_EXCERPT).collect();
                let excerpt = certfleet_model::text::printable(excerpt.trim()).into_owned();
                let message = if excerpt.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {}", self.redactor.redact(&excerpt))
                };
                return Err(fail(message));
            }
            return Ok(());
        }
        Err(ChannelError::NoChannel(recipient.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, token: Option<&str>) -> WebhookSettings {
        WebhookSettings {
            name: "chat".into(),
            url: url.into(),
            format: WebhookFormat::Slack,
            bearer_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn urls_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact_urls(
                "error sending request for url (https://hooks.slack.com/services/T0/B0/XyZ)"
            ),
            "error sending request for url ([URL redacted])"
        );
        assert_eq!(
            redact_urls("a http://x:1/p and svn+ssh://h/q, done"),
            "a [URL redacted] and [URL redacted], done"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("://"), "[URL redacted]");
    }

    #[test]
    fn configured_secrets_are_redacted_even_without_a_scheme() {
        let r = Redactor::new(
            None,
            &[hook(
                "https://hooks.slack.com/services/T0/B0/SECRETPATH",
                Some("tok-123456"),
            )],
        );
        let text = r.redact("404 no_service for /services/T0/B0/SECRETPATH; auth tok-123456");
        assert!(
            !text.contains("SECRETPATH") && !text.contains("tok-123456"),
            "{text}"
        );
        assert!(text.contains("no_service"), "{text}");
        assert!(!format!("{r:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn a_failed_webhook_names_no_url() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let url = "http://127.0.0.1:1/services/T0/B0/SECRETPATH";
        let channels = Channels::new(None, &[hook(url, None)]).unwrap();
        let digest = crate::digest::compose(
            &[],
            certfleet_model::Lang::En,
            chrono_tz::Asia::Tokyo,
            chrono::Utc::now(),
        );
        let err = channels
            .send("webhook:chat", &digest)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("webhook chat failed: "), "{err}");
        assert!(
            !err.contains("SECRETPATH") && !err.contains("127.0.0.1:1"),
            "{err}"
        );
        assert!(
            err.to_lowercase().contains("connect"),
            "the cause is kept: {err}"
        );
    }
}
