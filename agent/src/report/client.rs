//! Delivery of snapshots to the collector over gRPC+TLS: enrollment, the report call, retries
//! with backoff, re-enrollment when a node key is no longer known, and spooling on failure.
//! The connection goes directly or through an HTTP proxy's `CONNECT` tunnel ([`super::proxy`]
//! decides, [`super::tunnel`] opens it); everything above the connection is the same.

use std::path::PathBuf;
use std::time::Duration;

use certfleet_proto::v1 as pb;
use certfleet_proto::v1::inventory_client::InventoryClient;
use chrono::{DateTime, Utc};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use super::backoff::Backoff;
use super::facts::{self, FactOverrides, FactsError};
use super::proxy::{self, Bypass, ProxyConfig, ProxyError, Route};
use super::state::{StateDir, StateError};
use super::tunnel::{CollectorConnector, TunnelError};
use crate::model::{ScanResult, Source};

/// Metadata key in which the collector advises how long to wait before retrying.
const RETRY_AFTER_MS: &str = "retry-after-ms";

/// How to reach the collector and where to keep state.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// `https://host:port` of the collector's gRPC listener.
    pub collector: String,
    /// PEM CA certificate(s) trusted for the collector's TLS certificate.
    pub ca_file: Option<PathBuf>,
    /// Also trust the operating system's root store.
    pub os_trust_store: bool,
    /// File holding the enroll secret; needed only until a node key is stored.
    pub enroll_secret_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub facts: FactOverrides,
    /// Timeout of each RPC (and of connecting).
    pub rpc_timeout: Duration,
    /// Attempts before giving up and spooling.
    pub attempts: u32,
    pub backoff: Backoff,
    /// Allow `http://` collector URLs (tests behind a TLS-terminating proxy only).
    pub insecure_plaintext: bool,
    /// Delete the enroll secret file once a node key is stored: the fleet-wide secret then
    /// stays on a PC only until its first successful enrollment.
    pub remove_enroll_secret: bool,
    /// `--proxy` / `[collector] proxy`; `Auto` also consults the environment and the system.
    pub proxy: ProxyConfig,
    /// `--no-proxy` / `[collector] no_proxy`: replaces every other bypass list when given.
    pub no_proxy: Option<Bypass>,
}

impl ReportSettings {
    pub fn new(collector: impl Into<String>, state_dir: PathBuf) -> Self {
        Self {
            collector: collector.into(),
            ca_file: None,
            os_trust_store: false,
            enroll_secret_file: None,
            state_dir,
            facts: FactOverrides::default(),
            rpc_timeout: Duration::from_secs(30),
            attempts: 5,
            backoff: Backoff::default(),
            insecure_plaintext: false,
            remove_enroll_secret: false,
            proxy: ProxyConfig::Auto,
            no_proxy: None,
        }
    }
}

/// Why a snapshot was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid collector URL {url:?}: {message}")]
    BadUrl { url: String, message: String },
    #[error("collector URL {0:?} is not https:// (plaintext needs --insecure-plaintext)")]
    NotHttps(String),
    #[error(
        "no CA to trust: pass --ca FILE (the ca.pem from `certfleet-collector init`) or --os-trust-store"
    )]
    NoTrust,
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not enrolled yet and no --enroll-secret-file given")]
    NoEnrollSecret,
    #[error(
        "the collector needs this PC to enroll again, but the enroll secret {0} was removed after \
         the first enrollment; run the installer again with the enroll secret"
    )]
    EnrollSecretRemoved(PathBuf),
    #[error("the collector's TLS certificate is not trusted ({0}); check --ca")]
    UntrustedServer(String),
    #[error(
        "the collector's TLS certificate does not name the host in --collector ({0}); use a host name or IP from its SANs (`init --san`)"
    )]
    WrongServerName(String),
    #[error("collector refused enrollment ({code:?}): {message}")]
    EnrollRefused { code: Code, message: String },
    #[error("collector refused the report ({code:?}): {message}")]
    Refused { code: Code, message: String },
    #[error(
        "collector not reachable after {attempts} attempts (last error: {last}); snapshot spooled for the next run"
    )]
    GaveUp { attempts: u32, last: String },
    #[error("invalid proxy setting {0}")]
    ProxySetting(#[from] ProxyError),
    #[error("{0}; snapshot spooled for the next run")]
    ProxyRefused(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Facts(#[from] FactsError),
}

/// What the collector said about the delivered snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub terminal_id: String,
    pub report_id: String,
    pub duplicate: bool,
    pub superseded: bool,
    pub accepted_certificates: u32,
    /// (index, reason) of certificates the collector refused.
    pub rejected: Vec<(u32, String)>,
    /// A snapshot spooled by an earlier run was delivered first.
    pub delivered_spooled: bool,
    /// `http://proxy:port (from SOURCE)` when the report went through a proxy.
    pub via_proxy: Option<String>,
}

fn source_to_proto(source: Source) -> pb::Source {
    match source {
        Source::ProfileFile => pb::Source::ProfileFile,
        Source::Registry => pb::Source::Registry,
        Source::CryptoApi => pb::Source::Cryptoapi,
        Source::File => pb::Source::File,
    }
}

/// Turns a scan into the wire snapshot (DER, locations, key flag; never any key material).
pub fn build_request(
    scan: &ScanResult,
    terminal: pb::TerminalFacts,
    scanned_at: DateTime<Utc>,
) -> pb::ReportRequest {
    let certificates = scan
        .certificates
        .iter()
        .map(|c| pb::ReportedCertificate {
            der: c.der.clone(),
            locations: c
                .locations
                .iter()
                .map(|l| pb::Location {
                    source: source_to_proto(l.source) as i32,
                    store: l.store.clone().unwrap_or_default(),
                    user: l.user_label().unwrap_or_default(),
                    path: l.path.clone(),
                })
                .collect(),
            has_private_key: c.has_private_key,
            friendly_name: c.friendly_name.clone().unwrap_or_default(),
        })
        .collect();
    // The wire has no severity: warnings travel as scan errors whose message says so.
    let errors = scan
        .errors
        .iter()
        .map(|e| pb::ScanError {
            source: source_to_proto(e.source) as i32,
            path: e.path.clone(),
            message: e.message.clone(),
        })
        .chain(scan.warnings.iter().map(|w| pb::ScanError {
            source: source_to_proto(w.source) as i32,
            path: w.path.clone(),
            message: format!("warning: {}", w.message),
        }))
        .collect();
    pb::ReportRequest {
        report_id: uuid::Uuid::now_v7().to_string(),
        terminal: Some(terminal),
        scanned_at: Some(prost_types::Timestamp {
            seconds: scanned_at.timestamp(),
            nanos: i32::try_from(scanned_at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        certificates,
        errors,
    }
}

/// The system's proxy settings (Windows: WinHTTP, then the user's Internet Options).
fn system_proxies() -> Vec<proxy::SystemProxy> {
    #[cfg(any(windows, certfleet_check_windows))]
    {
        crate::windows::proxy::system_proxies()
    }
    #[cfg(not(any(windows, certfleet_check_windows)))]
    {
        Vec::new()
    }
}

/// A lazy channel to the collector, and the proxy it goes through (shown without credentials).
async fn channel(settings: &ReportSettings) -> Result<(Channel, Option<String>), ReportError> {
    let url = settings.collector.trim().to_owned();
    let bad = |message: String| ReportError::BadUrl {
        url: url.clone(),
        message,
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(settings.rpc_timeout)
        .timeout(settings.rpc_timeout)
        .http2_keep_alive_interval(Duration::from_secs(30));
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        match &settings.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| ReportError::ReadFile {
                    what: "CA file",
                    path: path.clone(),
                    source,
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            None if !settings.os_trust_store => return Err(ReportError::NoTrust),
            None => {}
        }
        if settings.os_trust_store {
            tls = tls.with_native_roots();
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| bad(e.to_string()))?;
    } else if url.starts_with("http://") {
        if !settings.insecure_plaintext {
            return Err(ReportError::NotHttps(url));
        }
        tracing::warn!("talking to the collector WITHOUT TLS (--insecure-plaintext)");
    } else {
        return Err(bad("expected https://HOST:PORT".into()));
    }
    let uri = endpoint.uri();
    let route = proxy::resolve(
        &settings.proxy,
        settings.no_proxy.as_ref(),
        uri.scheme_str().unwrap_or("https"),
        uri.host().unwrap_or_default(),
        &|name| std::env::var(name).ok(),
        &system_proxies,
    )?;
    let (connector, via) = match route {
        Route::Direct { reason } => {
            tracing::debug!(%reason, "connecting to the collector directly");
            (CollectorConnector::direct(settings.rpc_timeout), None)
        }
        Route::Proxy { proxy, source } => {
            let shown = format!("{proxy} (from {source})");
            tracing::info!(proxy = %shown, "connecting to the collector through a proxy");
            (
                CollectorConnector::through(proxy, settings.rpc_timeout),
                Some(shown),
            )
        }
    };
    // Lazy: connection failures surface as retryable RPC errors inside the retry loop.
    Ok((endpoint.connect_with_connector_lazy(connector), via))
}

/// How a failed call should be handled.
enum Failure {
    /// Worth retrying after a delay (with the server's advice, if any).
    Retry {
        advice: Option<Duration>,
        message: String,
    },
    /// The node key is unknown: enroll again, then retry.
    Reenroll,
    /// Retrying cannot help.
    Fatal(ReportError),
}

fn full_message(status: &Status) -> String {
    use std::error::Error;
    let mut msg = status.message().to_owned();
    let mut source = status.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// The proxy's refusal behind a failed call, if the tunnel is what failed.
fn tunnel_error(status: &Status) -> Option<&TunnelError> {
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        if let Some(tunnel) = s.downcast_ref::<TunnelError>() {
            return Some(tunnel);
        }
        source = s.source();
    }
    None
}

fn classify(status: &Status, enrolling: bool) -> Failure {
    if let Some(tunnel) = tunnel_error(status) {
        // The proxy said no for good (403, 407): retrying only delays the error an operator
        // must see. Anything else (unreachable, 502) is retried like an unreachable collector.
        return if tunnel.is_permanent() {
            Failure::Fatal(ReportError::ProxyRefused(tunnel.to_string()))
        } else {
            Failure::Retry {
                advice: None,
                message: tunnel.to_string(),
            }
        };
    }
    let message = full_message(status);
    if message.contains("NotValidForName") {
        return Failure::Fatal(ReportError::WrongServerName(message));
    }
    if message.contains("invalid peer certificate") || message.contains("UnknownIssuer") {
        return Failure::Fatal(ReportError::UntrustedServer(message));
    }
    let advice = status
        .metadata()
        .get(RETRY_AFTER_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    match status.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Unknown
        | Code::Internal
        | Code::Cancelled => Failure::Retry {
            advice,
            message: format!("{:?}: {message}", status.code()),
        },
        Code::Unauthenticated if !enrolling => Failure::Reenroll,
        code if enrolling => Failure::Fatal(ReportError::EnrollRefused { code, message }),
        code => Failure::Fatal(ReportError::Refused { code, message }),
    }
}

struct Session<'a> {
    settings: &'a ReportSettings,
    state: StateDir,
    client: InventoryClient<Channel>,
    facts: pb::TerminalFacts,
    node_key: Option<String>,
    /// The key the collector stopped accepting; presented when enrolling again so the
    /// collector can tell this installation from another one claiming the same machine id.
    previous_key: Option<String>,
    reenrolled: bool,
}

impl Session<'_> {
    async fn enroll(&mut self) -> Result<(), Failure> {
        let path = self
            .settings
            .enroll_secret_file
            .as_ref()
            .ok_or(Failure::Fatal(ReportError::NoEnrollSecret))?;
        let secret = std::fs::read_to_string(path).map_err(|source| {
            Failure::Fatal(
                if self.settings.remove_enroll_secret
                    && source.kind() == std::io::ErrorKind::NotFound
                {
                    ReportError::EnrollSecretRemoved(path.clone())
                } else {
                    ReportError::ReadFile {
                        what: "enroll secret",
                        path: path.clone(),
                        source,
                    }
                },
            )
        })?;
        let req = pb::EnrollRequest {
            enroll_secret: secret.trim().to_owned(),
            terminal: Some(self.facts.clone()),
        };
        let mut request = tonic::Request::new(req);
        if let Some(old) = &self.previous_key
            && let Ok(value) = format!("Bearer {old}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        let resp = self
            .client
            .enroll(request)
            .await
            .map_err(|s| classify(&s, true))?
            .into_inner();
        self.state
            .save_node_key(&resp.node_key)
            .map_err(|e| Failure::Fatal(e.into()))?;
        tracing::info!(terminal_id = %resp.terminal_id, "enrolled with the collector");
        if self.settings.remove_enroll_secret {
            remove_enroll_secret(path);
        }
        self.node_key = Some(resp.node_key);
        Ok(())
    }

    async fn send(&mut self, req: &pb::ReportRequest) -> Result<pb::ReportResponse, Failure> {
        loop {
            if self.node_key.is_none() {
                self.enroll().await?;
            }
            let key = self.node_key.clone().unwrap_or_default();
            let mut request = tonic::Request::new(req.clone());
            let value = format!("Bearer {key}").parse().map_err(|_| {
                Failure::Fatal(ReportError::Refused {
                    code: Code::InvalidArgument,
                    message: "stored node key is not valid text".into(),
                })
            })?;
            request.metadata_mut().insert("authorization", value);
            match self.client.report(request).await {
                Ok(resp) => return Ok(resp.into_inner()),
                Err(status) => match classify(&status, false) {
                    Failure::Reenroll
                        if !self.reenrolled && self.settings.enroll_secret_file.is_some() =>
                    {
                        tracing::warn!("collector no longer knows this node key; enrolling again");
                        self.reenrolled = true;
                        self.previous_key = self.node_key.take();
                    }
                    Failure::Reenroll => {
                        return Err(Failure::Fatal(ReportError::Refused {
                            code: status.code(),
                            message: full_message(&status),
                        }));
                    }
                    other => return Err(other),
                },
            }
        }
    }
}

/// Delivers a spooled snapshot (if any) and then `scan`, retrying with backoff. On failure the
/// newest snapshot is spooled in the state directory and an error is returned.
#[tracing::instrument(skip_all, fields(collector = %settings.collector))]
pub async fn deliver(
    settings: &ReportSettings,
    scan: &ScanResult,
) -> Result<Delivery, ReportError> {
    let state = StateDir::open(&settings.state_dir)?;
    let facts = facts::collect(&settings.facts)?;
    let request = build_request(scan, facts.clone(), Utc::now());
    let (client, via_proxy) = match channel(settings).await {
        Ok((ch, via)) => (
            InventoryClient::new(ch).max_decoding_message_size(4 * 1024 * 1024),
            via,
        ),
        Err(e) => {
            state.spool(&request)?;
            return Err(e);
        }
    };
    let node_key = state.node_key()?;
    // Enrolled by an earlier run (or an earlier version): the secret is no longer needed.
    if node_key.is_some()
        && settings.remove_enroll_secret
        && let Some(path) = &settings.enroll_secret_file
    {
        remove_enroll_secret(path);
    }
    // A key the collector rejected in an earlier run is presented when enrolling again.
    let previous_key = if node_key.is_none() {
        state.rejected_node_key()
    } else {
        None
    };
    let mut session = Session {
        settings,
        state: state.clone(),
        client,
        facts,
        node_key,
        previous_key,
        reenrolled: false,
    };
    let spooled = match state.spooled() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable spool");
            None
        }
    };

    let mut rng = rand::rng();
    let mut delivered_spooled = false;
    let mut pending_spool = spooled;
    let mut last = String::new();
    let mut advice: Option<Duration> = None;
    for attempt in 0..settings.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(settings.backoff.delay(attempt - 1, advice.take(), &mut rng)).await;
        }
        if let Some(old) = pending_spool.as_ref() {
            match session.send(old).await {
                Ok(_) => {
                    state.clear_spool()?;
                    delivered_spooled = true;
                    pending_spool = None;
                }
                Err(Failure::Retry {
                    advice: server_advice,
                    message,
                }) => {
                    last = message;
                    advice = server_advice;
                    continue;
                }
                Err(Failure::Fatal(e @ ReportError::Refused { .. })) => {
                    // The collector will never accept this old snapshot (e.g. it exceeds a
                    // limit); the fresh one supersedes it anyway.
                    tracing::warn!(error = %e, "dropping spooled snapshot the collector refused");
                    state.clear_spool()?;
                    pending_spool = None;
                }
                Err(Failure::Fatal(e)) => {
                    state.spool(&request)?;
                    return Err(fatal(&state, e));
                }
                Err(Failure::Reenroll) => unreachable_reenroll(),
            }
        }
        match session.send(&request).await {
            Ok(resp) => {
                let _ = state.clear_spool();
                return Ok(Delivery {
                    terminal_id: resp.terminal_id,
                    report_id: request.report_id.clone(),
                    duplicate: resp.duplicate,
                    superseded: resp.superseded,
                    accepted_certificates: resp.accepted_certificates,
                    rejected: resp
                        .rejected
                        .into_iter()
                        .map(|r| (r.index, r.reason))
                        .collect(),
                    delivered_spooled,
                    via_proxy,
                });
            }
            Err(Failure::Retry {
                advice: server_advice,
                message,
            }) => {
                tracing::info!(attempt, error = %message, "report not delivered; will retry");
                last = message;
                advice = server_advice;
            }
            Err(Failure::Fatal(e)) => {
                state.spool(&request)?;
                return Err(fatal(&state, e));
            }
            Err(Failure::Reenroll) => unreachable_reenroll(),
        }
    }
    state.spool(&request)?;
    Err(ReportError::GaveUp {
        attempts: settings.attempts.max(1),
        last,
    })
}

/// A delivery that cannot succeed. When the collector rejected the node key and the enroll
/// secret is gone, the key is set aside: the PC then counts as not enrolled, so running the
/// installer again stores the secret, and the next run enrolls presenting the old key.
fn fatal(state: &StateDir, error: ReportError) -> ReportError {
    if matches!(error, ReportError::EnrollSecretRemoved(_))
        && let Err(e) = state.set_aside_node_key()
    {
        tracing::warn!(error = %e, "cannot set the rejected node key aside");
    }
    error
}

/// Deletes the enroll secret file once a node key is stored. A failure is logged, not fatal:
/// the report itself succeeded, and the next run tries again.
fn remove_enroll_secret(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!(path = %path.display(), "enroll secret removed after enrollment"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the enroll secret")
        }
    }
}

/// `Session::send` resolves re-enrollment itself and never returns `Failure::Reenroll`.
fn unreachable_reenroll() -> ! {
    unreachable!("Session::send handles re-enrollment")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FoundCertificate, Location, ScanError};

    #[test]
    fn request_carries_der_locations_and_key_flag_only() {
        let info = certfleet_certinfo::CertInfo {
            subject: "CN=1234567890".into(),
            issuer: "CN=KANAGAWA KOKUHOREN CA".into(),
            subject_cn: Some("1234567890".into()),
            issuer_cn: Some("KANAGAWA KOKUHOREN CA".into()),
            serial: "01".into(),
            not_before: Utc::now(),
            not_after: Utc::now(),
            sha256: "aa".into(),
            sha1: "bb".into(),
            client_auth: true,
        };
        let scan = ScanResult {
            certificates: vec![FoundCertificate {
                der: vec![1, 2, 3],
                info,
                office_number: Some("1234567890".into()),
                has_private_key: Some(true),
                friendly_name: Some("kokuhoren".into()),
                locations: vec![Location {
                    source: Source::ProfileFile,
                    store: Some("My".into()),
                    user: Some("alice".into()),
                    sid: Some("S-1-5-21-1-2-3-1001".into()),
                    account: Some("PC01\\alice".into()),
                    path: "p".into(),
                }],
            }],
            errors: vec![ScanError {
                source: Source::File,
                path: "x".into(),
                message: "bad".into(),
            }],
            warnings: vec![ScanError {
                source: Source::ProfileFile,
                path: "y".into(),
                message: "damaged after the certificate".into(),
            }],
        };
        let facts = pb::TerminalFacts {
            machine_id: "m".into(),
            ..Default::default()
        };
        let req = build_request(&scan, facts, Utc::now());
        assert_eq!(req.certificates[0].der, vec![1, 2, 3]);
        assert_eq!(req.certificates[0].has_private_key, Some(true));
        assert_eq!(
            req.certificates[0].locations[0].source,
            pb::Source::ProfileFile as i32
        );
        assert_eq!(
            req.certificates[0].locations[0].user,
            "PC01\\alice (S-1-5-21-1-2-3-1001)"
        );
        assert_eq!(req.errors[0].source, pb::Source::File as i32);
        assert_eq!(
            req.errors[1].message,
            "warning: damaged after the certificate"
        );
        assert!(uuid::Uuid::parse_str(&req.report_id).is_ok());
        let again = build_request(&scan, pb::TerminalFacts::default(), Utc::now());
        assert_ne!(req.report_id, again.report_id);
    }

    #[test]
    fn statuses_are_classified_for_retry() {
        assert!(matches!(
            classify(&Status::unavailable("db down"), false),
            Failure::Retry { .. }
        ));
        assert!(matches!(
            classify(&Status::unauthenticated("who"), false),
            Failure::Reenroll
        ));
        assert!(matches!(
            classify(&Status::unauthenticated("bad secret"), true),
            Failure::Fatal(ReportError::EnrollRefused { .. })
        ));
        assert!(matches!(
            classify(&Status::permission_denied("other machine"), false),
            Failure::Fatal(ReportError::Refused { .. })
        ));
        let mut busy = Status::resource_exhausted("busy");
        busy.metadata_mut()
            .insert(RETRY_AFTER_MS, "1500".parse().unwrap());
        match classify(&busy, false) {
            Failure::Retry { advice, .. } => assert_eq!(advice, Some(Duration::from_millis(1500))),
            _ => panic!("busy must be retried"),
        }
    }
}
