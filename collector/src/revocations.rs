//! `terminal export-revocations` / `terminal import-revocations` (issue 16): the list of
//! revoked terminals as a small JSON file kept next to the database backups, so that restoring
//! an older dump does not silently re-admit a terminal revoked after it. The store re-applies
//! the list ([`certfleet_store::RevocationStore`]); this module is the file format.

use certfleet_store::{ReapplySummary, RevocationRecord, SharedStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `format` field of the file; another value is refused.
pub const FORMAT: &str = "certfleet-revocations/1";

/// The exported file.
#[derive(Debug, Serialize, Deserialize)]
pub struct RevocationList {
    pub format: String,
    pub exported_at: DateTime<Utc>,
    pub revocations: Vec<RevocationRecord>,
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("not a certfleet revocation list: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("unsupported revocation list format {0:?} (expected {FORMAT:?})")]
    Format(String),
    #[error("entry {0} has an empty machine id")]
    EmptyMachineId(usize),
}

/// The current list, as JSON text.
pub async fn export(store: &SharedStore, now: DateTime<Utc>) -> anyhow::Result<String> {
    let list = RevocationList {
        format: FORMAT.to_owned(),
        exported_at: now,
        revocations: store.revocations().await?,
    };
    Ok(serde_json::to_string_pretty(&list)? + "\n")
}

/// Parses and checks a list (every entry, before anything is written).
pub fn parse(text: &str) -> Result<RevocationList, ListError> {
    let list: RevocationList = serde_json::from_str(text)?;
    if list.format != FORMAT {
        return Err(ListError::Format(list.format));
    }
    if let Some(i) = list
        .revocations
        .iter()
        .position(|r| r.machine_id.trim().is_empty())
    {
        return Err(ListError::EmptyMachineId(i + 1));
    }
    Ok(list)
}

/// Re-applies `text` (a list written by [`export`]).
pub async fn import(store: &SharedStore, text: &str) -> anyhow::Result<ReapplySummary> {
    let list = parse(text)?;
    Ok(store.reapply_revocations(&list.revocations).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_and_malformed_lists_are_refused() {
        assert!(matches!(parse("[]"), Err(ListError::Parse(_))));
        let other = r#"{"format":"x/2","exported_at":"2026-01-01T00:00:00Z","revocations":[]}"#;
        assert!(matches!(parse(other), Err(ListError::Format(_))));
        let empty = r#"{"format":"certfleet-revocations/1","exported_at":"2026-01-01T00:00:00Z",
            "revocations":[{"machine_id":" ","hostname":"h","revoked_at":"2026-01-01T00:00:00Z"}]}"#;
        assert!(matches!(parse(empty), Err(ListError::EmptyMachineId(1))));
    }
}
