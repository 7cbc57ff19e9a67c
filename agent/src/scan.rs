//! The scan: runs every configured source into one deduplicated, selected inventory.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use certfleet_certinfo::Selector;

use crate::files::{self, FileOptions};
use crate::inventory::Inventory;
use crate::model::ScanResult;
use crate::profiles;

/// What to scan and how to select.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Files and directories (recursive) to read.
    pub paths: Vec<PathBuf>,
    /// Root of the user profiles (`C:\Users`); `None` skips the listing of profiles.
    pub profiles_root: Option<PathBuf>,
    /// Also take profiles from the registry's ProfileList (moved profiles, other drives), with
    /// their SIDs, accounts and AppData redirection. Ignored where the Windows module is not
    /// compiled.
    pub profile_registry: bool,
    /// Read the registry stores and the CryptoAPI CurrentUser store. Ignored where the
    /// Windows module is not compiled (non-Windows builds).
    pub windows_stores: bool,
    pub selector: Selector,
    /// Keep every certificate, not only office certificates.
    pub all_issuers: bool,
    pub pkcs12_password: Option<String>,
    /// Size cap per file and per registry blob.
    pub max_file_size: u64,
}

impl ScanConfig {
    /// What `certfleet-agent scan` does without options on this platform: on Windows the
    /// profile store files under `C:\Users`, the registry and CryptoAPI stores; elsewhere
    /// nothing until paths or a profiles root are given.
    pub fn platform_default() -> Self {
        Self {
            paths: Vec::new(),
            profiles_root: profiles::default_profiles_root(),
            profile_registry: cfg!(windows),
            windows_stores: cfg!(windows),
            selector: Selector::default(),
            all_issuers: false,
            pkcs12_password: None,
            max_file_size: files::DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// Only the given paths (what `--path` means).
    pub fn paths_only(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            profiles_root: None,
            profile_registry: false,
            windows_stores: false,
            ..Self::platform_default()
        }
    }
}

/// Runs the scan. Never fails as a whole: everything that goes wrong with one file, key or
/// store is an entry in [`ScanResult::errors`].
pub fn scan(config: &ScanConfig) -> ScanResult {
    let mut inv = Inventory::new(config.selector.clone(), config.all_issuers);
    let opts = FileOptions {
        max_file_size: config.max_file_size,
        pkcs12_password: config.pkcs12_password.clone(),
    };
    #[cfg(any(windows, certfleet_check_windows))]
    let registered = if config.profile_registry {
        crate::windows::stores::registered_profiles(&mut inv)
    } else {
        Vec::new()
    };
    #[cfg(not(any(windows, certfleet_check_windows)))]
    let registered = Vec::new();
    if config.profiles_root.is_some() || !registered.is_empty() {
        let profiles =
            profiles::collect_profiles(config.profiles_root.as_deref(), registered, &mut inv);
        profiles::scan_profiles(&profiles, &opts, &mut inv);
    }
    #[cfg(any(windows, certfleet_check_windows))]
    if config.windows_stores {
        crate::windows::scan_registry(&mut inv);
        crate::windows::scan_cryptoapi(&mut inv);
    }
    #[cfg(not(any(windows, certfleet_check_windows)))]
    if config.windows_stores {
        tracing::debug!("Windows stores requested but this build has no Windows support");
    }
    for path in &config.paths {
        files::scan_path(path, &opts, &mut inv);
    }
    inv.finish()
}
