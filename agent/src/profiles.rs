//! Source (a): the per-user Personal stores as files under every profile.
//!
//! `<root>\<user>\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\<SHA1>` holds
//! one serialized certificate element per certificate. Reading the files (rather than asking
//! CryptoAPI) is the only way a service sees other users' stores, including users who are not
//! logged on (SPEC §4). The root is configurable so the logic runs against a fake tree on Linux.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::element;
use crate::files::{FileOptions, read_capped};
use crate::inventory::Inventory;
use crate::model::{Location, Sighting, Source};

/// The store directory below a profile.
pub const PERSONAL_STORE_DIR: [&str; 6] = [
    "AppData",
    "Roaming",
    "Microsoft",
    "SystemCertificates",
    "My",
    "Certificates",
];

/// `<profile>/AppData/Roaming/Microsoft/SystemCertificates/My/Certificates`.
pub fn personal_store_dir(profile: &Path) -> PathBuf {
    PERSONAL_STORE_DIR
        .iter()
        .fold(profile.to_path_buf(), |acc, part| acc.join(part))
}

/// The default profiles root: `%SystemDrive%\Users` on Windows, none elsewhere.
pub fn default_profiles_root() -> Option<PathBuf> {
    if cfg!(windows) {
        let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".to_owned());
        Some(PathBuf::from(format!("{drive}\\Users")))
    } else {
        None
    }
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    Ok(entries)
}

/// Scans every profile under `root`.
pub fn scan_profiles(root: &Path, opts: &FileOptions, inv: &mut Inventory) {
    let profiles = match sorted_entries(root) {
        Ok(p) => p,
        Err(e) => {
            return inv.error(
                Source::ProfileFile,
                root.display().to_string(),
                format!("cannot list profiles: {e}"),
            );
        }
    };
    for profile in profiles {
        let user = profile.file_name().to_string_lossy().into_owned();
        // Symlinked profiles ("All Users", "Default User" junctions) are aliases, not users.
        match profile.file_type() {
            Ok(t) if t.is_dir() => {}
            _ => continue,
        }
        let dir = personal_store_dir(&profile.path());
        if !dir.is_dir() {
            tracing::debug!(user, "no Personal store files");
            continue;
        }
        let files = match sorted_entries(&dir) {
            Ok(f) => f,
            Err(e) => {
                inv.error(
                    Source::ProfileFile,
                    dir.display().to_string(),
                    format!("cannot list the store of {user}: {e}"),
                );
                continue;
            }
        };
        for file in files {
            // Windows keeps nothing but element files here; a subdirectory is not an error.
            if file.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            scan_store_file(&file.path(), &user, opts, inv);
        }
    }
}

fn scan_store_file(path: &Path, user: &str, opts: &FileOptions, inv: &mut Inventory) {
    let shown = path.display().to_string();
    let parsed = read_capped(path, opts.max_file_size).and_then(|data| {
        element::parse_element(&data).map_err(|e| format!("serialized certificate element: {e}"))
    });
    match parsed {
        Ok(el) => inv.add(Sighting {
            der: el.der,
            location: Location {
                source: Source::ProfileFile,
                store: Some("My".to_owned()),
                user: Some(user.to_owned()),
                path: shown,
            },
            has_private_key: Some(el.has_key_prov_info),
            friendly_name: el.friendly_name,
        }),
        Err(e) => inv.error(Source::ProfileFile, shown, e),
    }
}
