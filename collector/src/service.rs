//! The `certfleet.v1.Inventory` gRPC service: enrollment and snapshot ingest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certfleet_certinfo::Selector;
use certfleet_proto::v1 as pb;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::error::ServiceError;
use crate::ingest::{validate_facts, validate_report};
use crate::metrics::Metrics;
use certfleet_config::{EnrollSecret, Limits};
use certfleet_store::{EnrollAuthority, IngestOutcome, SharedStore};

/// How long a report waits for an ingest slot before the agent is told to come back later.
const INGEST_SLOT_WAIT: Duration = Duration::from_secs(2);

/// Hex SHA-256 of a node key: what the database stores instead of the key.
pub fn node_key_hash(node_key: &str) -> String {
    hex::encode(Sha256::digest(node_key.as_bytes()))
}

/// A fresh node key: 256 random bits, hex encoded.
fn new_node_key() -> String {
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
    ingest_slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl InventoryService {
    pub fn new(
        store: SharedStore,
        enroll_secrets: Vec<EnrollSecret>,
        selector: Selector,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            enroll_secrets: enroll_secrets.into(),
            selector,
            ingest_slots: Arc::new(Semaphore::new(limits.max_concurrent_ingests)),
            limits,
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

    async fn enroll_inner(
        &self,
        presented_key: Option<String>,
        req: pb::EnrollRequest,
    ) -> Result<pb::EnrollResponse, ServiceError> {
        if !self.secret_accepted(&req.enroll_secret) {
            return Err(ServiceError::Unauthenticated(
                "enroll secret not accepted".into(),
            ));
        }
        let facts = validate_facts(req.terminal)?;
        let node_key = new_node_key();
        // Re-enrolling an existing machine id needs its current node key (or an operator reset),
        // so the shared enroll secret does not let one terminal take over another.
        let presented = presented_key.as_deref().map(node_key_hash);
        let authority = EnrollAuthority::Agent {
            presented_key_hash: presented.as_deref(),
        };
        let id = self
            .store
            .enroll(
                &facts,
                &node_key_hash(&node_key),
                authority,
                chrono::Utc::now(),
            )
            .await?;
        tracing::info!(terminal_id = id, machine_id = %facts.machine_id, hostname = %facts.hostname, "terminal enrolled");
        Ok(pb::EnrollResponse {
            node_key,
            terminal_id: id.to_string(),
        })
    }

    async fn report_inner(
        &self,
        node_key: Option<String>,
        req: pb::ReportRequest,
    ) -> Result<pb::ReportResponse, ServiceError> {
        let node_key = node_key.ok_or_else(|| {
            ServiceError::Unauthenticated(
                "missing node key (metadata authorization: Bearer …)".into(),
            )
        })?;
        let terminal = self
            .store
            .authenticate(&node_key_hash(&node_key))
            .await?
            .ok_or_else(|| {
                ServiceError::Unauthenticated("unknown node key; enroll again".into())
            })?;
        if terminal.revoked {
            return Err(ServiceError::Unauthenticated(format!(
                "terminal {} is revoked",
                terminal.id
            )));
        }
        let _slot = match tokio::time::timeout(INGEST_SLOT_WAIT, self.ingest_slots.acquire()).await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(ServiceError::Busy {
                    retry_after_ms: 3_000,
                });
            }
        };
        let validated = validate_report(
            req,
            &terminal,
            &self.selector,
            &self.limits,
            chrono::Utc::now(),
        )?;
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
        let presented_key = bearer(request.metadata());
        let result = self.enroll_inner(presented_key, request.into_inner()).await;
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
        let node_key = bearer(request.metadata());
        let result = self.report_inner(node_key, request.into_inner()).await;
        let label = match &result {
            Ok(r) if r.duplicate => "duplicate",
            Ok(r) if r.superseded => "superseded",
            Ok(_) => "accepted",
            Err(ServiceError::InvalidArgument(_)) => "invalid",
            Err(ServiceError::Unauthenticated(_) | ServiceError::PermissionDenied(_)) => "denied",
            Err(ServiceError::Busy { .. }) => "busy",
            Err(ServiceError::Store(_)) => "error",
        };
        self.metrics.observe_ingest(label, started.elapsed());
        if let Err(e) = &result {
            tracing::info!(error = %e, "report refused");
        }
        Ok(Response::new(result?))
    }
}
