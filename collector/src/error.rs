//! The collector's service errors and the one place they become gRPC statuses. Internal details
//! are logged here and never sent to clients.

use tonic::{Code, Status};

use certfleet_store::StoreError;

/// What went wrong while serving an agent, in terms the agent can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// Too much concurrent work: the agent should retry after the given delay.
    #[error("collector busy, retry in {retry_after_ms} ms")]
    Busy { retry_after_ms: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Metadata key carrying the delay an agent should wait before retrying.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidArgument(m) => Status::invalid_argument(m),
            ServiceError::Unauthenticated(m) => Status::unauthenticated(m),
            ServiceError::PermissionDenied(m) => Status::permission_denied(m),
            ServiceError::Busy { retry_after_ms } => {
                let mut status = Status::new(
                    Code::ResourceExhausted,
                    format!("collector busy, retry in {retry_after_ms} ms"),
                );
                if let Ok(v) = retry_after_ms.to_string().parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, v);
                }
                status
            }
            ServiceError::Store(StoreError::AlreadyEnrolled(id)) => {
                Status::permission_denied(format!(
                    "this machine id is already enrolled as terminal {id}; enroll from that installation \
                 (it holds the node key) or have an operator run `certfleet-collector terminal reset {id}`"
                ))
            }
            ServiceError::Store(StoreError::Revoked(id)) => Status::permission_denied(format!(
                "terminal {id} was revoked by an operator and cannot report or enroll"
            )),
            ServiceError::Store(err @ StoreError::Unavailable(_)) => {
                tracing::warn!(error = %err, "database unavailable");
                let mut status =
                    Status::unavailable("database temporarily unavailable, retry later");
                if let Ok(v) = "5000".parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, v);
                }
                status
            }
            ServiceError::Store(err) => {
                tracing::error!(error = %err, "store failure");
                Status::internal("internal error (logged on the collector)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_not_leaked() {
        let err = ServiceError::Store(StoreError::NoSuchTerminal("secret detail".into()));
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret detail"));
    }

    #[test]
    fn busy_carries_retry_advice() {
        let status = Status::from(ServiceError::Busy {
            retry_after_ms: 1500,
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.metadata().get(RETRY_AFTER_MS).unwrap(), "1500");
    }
}
