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
    /// This client or terminal is over one of its rates; it may retry after the delay.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_ms: u64,
    },
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
            ServiceError::TooMany {
                message,
                retry_after_ms,
            } => {
                let retry_after_ms = retry_after_ms.max(1);
                let mut status = Status::new(
                    Code::ResourceExhausted,
                    format!("{message}; retry in {} s", retry_after_ms.div_ceil(1000)),
                );
                if let Ok(v) = retry_after_ms.to_string().parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, v);
                }
                status
            }
            // Whoever asks holds only the enroll secret, so the answer names no terminal: the
            // id is for the operator's log.
            ServiceError::Store(StoreError::AlreadyEnrolled(id)) => {
                tracing::info!(
                    terminal_id = id,
                    "enrollment refused: machine id already enrolled"
                );
                Status::permission_denied(
                    "this machine id is already enrolled; enroll from the installation that \
                     holds its node key, or have an operator run `certfleet-collector terminal \
                     reset` and give this PC the one-time token it prints",
                )
            }
            ServiceError::Store(StoreError::Revoked(id)) => {
                tracing::info!(terminal_id = id, "refused: terminal revoked");
                Status::permission_denied(
                    "this terminal was revoked by an operator and cannot report or enroll",
                )
            }
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
    fn already_enrolled_and_revoked_name_no_terminal() {
        for err in [StoreError::AlreadyEnrolled(4711), StoreError::Revoked(4711)] {
            let status = Status::from(ServiceError::Store(err));
            assert_eq!(status.code(), Code::PermissionDenied);
            assert!(!status.message().contains("4711"), "{}", status.message());
        }
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
