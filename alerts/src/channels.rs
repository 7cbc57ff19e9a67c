//! Delivery channels: SMTP e-mail (lettre, STARTTLS/TLS, authentication) and webhooks (generic
//! JSON or a Slack/Teams-compatible text payload).

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
}

impl Channels {
    pub fn new(
        smtp: Option<&SmtpSettings>,
        webhooks: &[WebhookSettings],
    ) -> Result<Self, ChannelError> {
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
                .map_err(|e| ChannelError::Smtp(e.to_string()))?;
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ChannelError::Webhook {
                name: "client".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            smtp,
            webhooks: webhooks.to_vec(),
            http,
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
                .map_err(|e| ChannelError::Build(e.to_string()))?;
            transport
                .send(message)
                .await
                .map_err(|e| ChannelError::Smtp(e.to_string()))?;
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
                WebhookFormat::Slack => {
                    serde_json::json!({ "text": format!("*{}*\n{}", digest.subject, digest.text) })
                }
                WebhookFormat::Teams => {
                    serde_json::json!({ "title": digest.subject, "text": digest.text })
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
            let resp = req.send().await.map_err(|e| fail(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(fail(format!("HTTP {}", resp.status())));
            }
            return Ok(());
        }
        Err(ChannelError::NoChannel(recipient.to_owned()))
    }
}
