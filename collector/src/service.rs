//! The `certfleet.v1.Inventory` gRPC service: enrollment and snapshot ingest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certfleet_certinfo::Selector;
use certfleet_proto::v1 as pb;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::admission::Guards;
use crate::error::ServiceError;
use crate::ingest::{Rules, validate, validate_facts};
use crate::metrics::Metrics;
use certfleet_config::{EnrollSecret, Limits, Settings, TrustSettings};
use certfleet_store::{EnrollAuthority, Enrollment, IngestOutcome, SharedStore};

/// How long a call waits for an ingest slot before the agent is told to come back later.
const INGEST_SLOT_WAIT: Duration = Duration::from_secs(2);

/// Hex SHA-256 of a node key: what the database stores instead of the key.
pub fn node_key_hash(node_key: &str) -> String {
    hex::encode(Sha256::digest(node_key.as_bytes()))
}

/// A fresh node key (or reset token): 256 random bits, hex encoded.
pub fn new_node_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// State shared by every request.
#[derive(Debug, Clone)]
pub struct InventoryService {
    store: SharedStore,
    enroll_secrets: Arc<[EnrollSecret]>,
    selector: Selector,
    limits: Limits,
    /// `[enroll] approval`: new terminals start pending.
    approval: bool,
    trust: Option<Arc<TrustSettings>>,
    ingest_slots: Arc<Semaphore>,
    guards: Arc<Guards>,
    metrics: Arc<Metrics>,
}

impl InventoryService {
    /// The service over `store` with the collector's settings; `guards` are shared with the
    /// [`crate::admission::Gate`] in front of it.
    pub fn new(
        store: SharedStore,
        settings: &Settings,
        guards: Arc<Guards>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            enroll_secrets: settings.enroll_secrets.clone().into(),
            selector: settings.selector.clone(),
            limits: settings.limits,
            approval: settings.enroll_approval,
            trust: settings.trust.clone().map(Arc::new),
            ingest_slots: Arc::new(Semaphore::new(settings.limits.max_concurrent_ingests)),
            guards,
            metrics,
        }
    }

    fn secret_accepted(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        // Every configured secret is compared, so timing reveals nothing about which matched.
        self.enroll_secrets
            .iter()
            .fold(false, |found, s| found | (s.sha256 == digest))
    }

    /// An ingest slot: every call holds one while it works with the database, so no number of
    /// clients can take more than `max_concurrent_ingests` connections' worth of work.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ServiceError> {
        match tokio::time::timeout(INGEST_SLOT_WAIT, self.ingest_slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ServiceError::Busy {
                retry_after_ms: 3_000,
            }),
        }
    }

    async fn enroll_inner(
        &self,
        peer: Option<SocketAddr>,
        presented_key: Option<String>,
        req: pb::EnrollRequest,
    ) -> Result<pb::EnrollResponse, ServiceError> {
        if !self.secret_accepted(&req.enroll_secret) {
            self.guards.failed_authentication(peer);
            return Err(ServiceError::Unauthenticated(
                "enroll secret not accepted".into(),
            ));
        }
        let facts = validate_facts(req.terminal)?;
        let node_key = new_node_key();
        // Re-enrolling an existing machine id needs its current node key (or the one-time token
        // of an operator reset), so the shared enroll secret does not let one terminal take
        // over another.
        let presented = presented_key.as_deref().map(node_key_hash);
        let peer_text = peer.map(|p| p.ip().to_canonical().to_string());
        let key_hash = node_key_hash(&node_key);
        let enrollment = Enrollment {
            facts: &facts,
            node_key_hash: &key_hash,
            authority: EnrollAuthority::Agent {
                presented_key_hash: presented.as_deref(),
            },
            pending: self.approval,
            peer: peer_text.as_deref(),
            now: chrono::Utc::now(),
        };
        let _slot = self.slot().await?;
        let id = self.store.enroll_terminal(&enrollment).await?;
        tracing::info!(terminal_id = id, machine_id = %facts.machine_id, hostname = %facts.hostname, peer = ?peer, "terminal enrolled");
        Ok(pb::EnrollResponse {
            node_key,
            terminal_id: id.to_string(),
        })
    }

    async fn report_inner(
        &self,
        peer: Option<SocketAddr>,
        node_key: Option<String>,
        req: pb::ReportRequest,
    ) -> Result<pb::ReportResponse, ServiceError> {
        let node_key = node_key.ok_or_else(|| {
            ServiceError::Unauthenticated(
                "missing node key (metadata authorization: Bearer …)".into(),
            )
        })?;
        // The slot comes first: the key lookup is database work too.
        let _slot = self.slot().await?;
        let terminal = match self.store.authenticate(&node_key_hash(&node_key)).await? {
            Some(t) if !t.revoked => t,
            found => {
                self.guards.failed_authentication(peer);
                return Err(ServiceError::Unauthenticated(match found {
                    Some(t) => format!("terminal {} is revoked", t.id),
                    None => "unknown node key; enroll again".into(),
                }));
            }
        };
        if let Err(wait) = self.guards.report_rate(terminal.id) {
            return Err(ServiceError::TooMany {
                message: format!(
                    "terminal {} reports more often than limits.reports_per_terminal_per_hour \
                     allows",
                    terminal.id
                ),
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            });
        }
        let rules = Rules {
            selector: &self.selector,
            limits: &self.limits,
            trust: self.trust.as_deref(),
        };
        let validated = validate(req, &terminal, &rules, chrono::Utc::now())?;
        let accepted = validated.snapshot.holdings.len();
        let outcome = self.store.ingest(terminal.id, &validated.snapshot).await?;
        tracing::debug!(terminal_id = terminal.id, report_id = %validated.snapshot.report_id, ?outcome, accepted, rejected = validated.rejected.len(), "report stored");
        Ok(pb::ReportResponse {
            terminal_id: terminal.id.to_string(),
            duplicate: outcome == IngestOutcome::Duplicate,
            superseded: outcome == IngestOutcome::Superseded,
            accepted_certificates: u32::try_from(accepted).unwrap_or(u32::MAX),
            rejected: validated.rejected,
        })
    }
}

/// The node key from `authorization: Bearer <key>` metadata.
fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(key.trim().to_owned()).filter(|k| !k.is_empty())
}

#[tonic::async_trait]
impl pb::inventory_server::Inventory for InventoryService {
    #[tracing::instrument(skip_all, fields(remote = ?request.remote_addr()))]
    async fn enroll(
        &self,
        request: Request<pb::EnrollRequest>,
    ) -> Result<Response<pb::EnrollResponse>, Status> {
        let peer = request.remote_addr();
        let presented_key = bearer(request.metadata());
        let result = self
            .enroll_inner(peer, presented_key, request.into_inner())
            .await;
        if let Err(e) = &result {
            tracing::info!(error = %e, "enroll refused");
        }
        Ok(Response::new(result?))
    }

    #[tracing::instrument(skip_all, fields(remote = ?request.remote_addr()))]
    async fn report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportResponse>, Status> {
        let started = Instant::now();
        let peer = request.remote_addr();
        let node_key = bearer(request.metadata());
        let result = self
            .report_inner(peer, node_key, request.into_inner())
            .await;
        let label = match &result {
            Ok(r) if r.duplicate => "duplicate",
            Ok(r) if r.superseded => "superseded",
            Ok(_) => "accepted",
            Err(ServiceError::InvalidArgument(_)) => "invalid",
            Err(ServiceError::Unauthenticated(_) | ServiceError::PermissionDenied(_)) => "denied",
            Err(ServiceError::Busy { .. }) => "busy",
            Err(ServiceError::TooMany { .. }) => "limited",
            Err(ServiceError::Store(_)) => "error",
        };
        self.metrics.observe_ingest(label, started.elapsed());
        if let Err(e) = &result {
            tracing::info!(error = %e, "report refused");
        }
        Ok(Response::new(result?))
    }
}
