//! `[enroll]`: the enroll secrets agents present once to obtain a node key.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ConfigError, invalid};
use crate::secrets::read_strong_secret;

/// Enroll secrets shorter than this are refused: they are the only barrier to enrollment.
pub const MIN_ENROLL_SECRET_LEN: usize = crate::secrets::MIN_SECRET_LEN;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollSection {
    /// Files each holding one enroll secret. Several may be active; removing one revokes it.
    #[serde(default)]
    pub secret_files: Vec<PathBuf>,
    /// Approval mode: a newly enrolled terminal stays pending, counting in no report, metric or
    /// alert, until an operator approves it (`terminal approve`, or the dashboard). Default
    /// false.
    pub approval: Option<bool>,
}

/// A configured enroll secret, kept only as its SHA-256 so it is compared in constant-size form.
#[derive(Clone)]
pub struct EnrollSecret {
    pub source: PathBuf,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for EnrollSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollSecret")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Reads every secret file (from the file and `--enroll-secret-file`); at least one is needed.
pub(crate) fn resolve(files: &[PathBuf]) -> Result<Vec<EnrollSecret>, ConfigError> {
    if files.is_empty() {
        return Err(invalid(
            "enroll.secret_files",
            "no enroll secret configured; agents could never enroll (run `certfleet-collector init`)",
        ));
    }
    files.iter().map(|p| read_enroll_secret(p)).collect()
}

fn read_enroll_secret(path: &Path) -> Result<EnrollSecret, ConfigError> {
    let secret = read_strong_secret("enroll.secret_files", path)?;
    Ok(EnrollSecret {
        source: path.to_owned(),
        sha256: Sha256::digest(secret.as_bytes()).into(),
    })
}
