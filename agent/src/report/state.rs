//! The agent's state directory: the node key it received at enrollment, the latest snapshot
//! that could not be delivered, and the run status and log (`status`). All files are private
//! to the agent's account.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use certfleet_proto::v1 as pb;
use prost::Message;

const NODE_KEY: &str = "node-key";
/// A node key the collector stopped accepting, kept while the PC cannot enroll again (its
/// enroll secret was removed): it is presented at the next enrollment.
const REJECTED_NODE_KEY: &str = "node-key.rejected";
const SPOOL: &str = "pending-report.pb";

/// State-directory failures, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spooled report {path} is corrupt ({source}); it was set aside as {path}.corrupt")]
    CorruptSpool {
        path: PathBuf,
        source: prost::DecodeError,
    },
}

/// Files the agent keeps between runs.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating when needed) the state directory.
    pub fn open(root: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(root).map_err(|source| StateError::Io {
            path: root.to_owned(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o700));
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file in the state directory.
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn node_key(&self) -> Result<Option<String>, StateError> {
        let path = self.root.join(NODE_KEY);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_owned()).filter(|k| !k.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    pub fn save_node_key(&self, key: &str) -> Result<(), StateError> {
        self.write_private(NODE_KEY, key.as_bytes())?;
        self.remove(REJECTED_NODE_KEY)
    }

    /// Moves the node key aside as rejected: the PC counts as not enrolled (so the installer
    /// stores the enroll secret again), and the key is presented at the next enrollment.
    pub fn set_aside_node_key(&self) -> Result<(), StateError> {
        let from = self.root.join(NODE_KEY);
        match fs::rename(&from, self.root.join(REJECTED_NODE_KEY)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io { path: from, source }),
        }
    }

    /// The node key set aside by [`set_aside_node_key`](Self::set_aside_node_key), if any.
    pub fn rejected_node_key(&self) -> Option<String> {
        fs::read_to_string(self.root.join(REJECTED_NODE_KEY))
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        let path = self.root.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// The undelivered snapshot, if any. A corrupt file is moved aside (never silently lost).
    pub fn spooled(&self) -> Result<Option<pb::ReportRequest>, StateError> {
        let path = self.root.join(SPOOL);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        match pb::ReportRequest::decode(bytes.as_slice()) {
            Ok(req) => Ok(Some(req)),
            Err(source) => {
                let _ = fs::rename(&path, path.with_extension("pb.corrupt"));
                Err(StateError::CorruptSpool { path, source })
            }
        }
    }

    /// Keeps `req` for the next run, replacing any older spooled snapshot: only the newest
    /// state of the terminal matters to the collector.
    pub fn spool(&self, req: &pb::ReportRequest) -> Result<(), StateError> {
        self.write_private(SPOOL, &req.encode_to_vec())
    }

    pub fn clear_spool(&self) -> Result<(), StateError> {
        self.remove(SPOOL)
    }

    /// Atomic write (temp file + rename) with owner-only permissions from creation on.
    pub(super) fn write_private(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.root.join(name);
        let tmp = self.root.join(format!(".{name}.tmp"));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let _ = fs::remove_file(&tmp);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_key_and_spool_round_trip_privately() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("state")).unwrap();
        assert_eq!(state.node_key().unwrap(), None);
        state.save_node_key("abc123").unwrap();
        assert_eq!(state.node_key().unwrap().as_deref(), Some("abc123"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("state/node-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let req = pb::ReportRequest {
            report_id: "r1".into(),
            ..Default::default()
        };
        state.spool(&req).unwrap();
        let newer = pb::ReportRequest {
            report_id: "r2".into(),
            ..Default::default()
        };
        state.spool(&newer).unwrap();
        assert_eq!(state.spooled().unwrap().unwrap().report_id, "r2");
        state.clear_spool().unwrap();
        assert!(state.spooled().unwrap().is_none());
    }

    #[test]
    fn a_rejected_node_key_is_set_aside_until_the_next_enrollment() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state.save_node_key("old").unwrap();
        state.set_aside_node_key().unwrap();
        assert_eq!(state.node_key().unwrap(), None, "not enrolled any more");
        assert_eq!(state.rejected_node_key().as_deref(), Some("old"));
        state.save_node_key("new").unwrap();
        assert_eq!(state.rejected_node_key(), None);
        state.set_aside_node_key().unwrap();
        state.set_aside_node_key().unwrap();
    }

    #[test]
    fn corrupt_spool_is_set_aside_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        fs::write(dir.path().join(SPOOL), [0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(
            state.spooled(),
            Err(StateError::CorruptSpool { .. })
        ));
        assert!(dir.path().join("pending-report.pb.corrupt").exists());
        assert!(state.spooled().unwrap().is_none());
    }
}
