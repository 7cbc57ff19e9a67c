//! Source (d): files and directories given by path (`--path`, config `paths`).
//!
//! A file given by name is always read, whatever its name. A directory is walked recursively,
//! following symlinks (exports often live behind links) with walkdir's loop detection, so a
//! symlink loop ends as one error entry instead of an endless walk; only files with a
//! certificate extension are read there. Every file is size-capped before it is read, and
//! anything that is not a regular file (FIFO, device) is refused rather than opened, since
//! opening a FIFO would block the scan.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;

use walkdir::WalkDir;

use crate::formats::{self, KNOWN_EXTENSIONS};
use crate::inventory::Inventory;
use crate::model::{Location, Sighting, Source};

/// Default size cap per file. Certificate files are a few KiB; a PKCS#12 with a long chain
/// stays well under 100 KiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Options shared by the file-based sources.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub max_file_size: u64,
    pub pkcs12_password: Option<String>,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            pkcs12_password: None,
        }
    }
}

/// Reads a regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    if meta.len() > cap {
        return Err(format!(
            "file is {} bytes, larger than the {cap}-byte limit",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read: {e}"))?;
    if data.len() as u64 > cap {
        return Err(format!("file grew beyond the {cap}-byte limit while read"));
    }
    Ok(data)
}

fn has_known_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| KNOWN_EXTENSIONS.iter().any(|k| e.eq_ignore_ascii_case(k)))
}

/// Reads one file and adds what it holds (or one error entry) to the inventory.
pub fn scan_file(path: &Path, opts: &FileOptions, inv: &mut Inventory) {
    let shown = path.display().to_string();
    let data = match read_capped(path, opts.max_file_size) {
        Ok(d) => d,
        Err(e) => return inv.error(Source::File, shown, e),
    };
    let ext = path.extension().and_then(|e| e.to_str());
    let contents = formats::extract(&data, ext, opts.pkcs12_password.as_deref());
    if let Some(message) = contents.error {
        inv.error(Source::File, shown.clone(), message);
    }
    if let Some(message) = contents.warning {
        inv.warning(Source::File, shown.clone(), message);
    }
    for cert in contents.certs {
        inv.add(Sighting {
            der: cert.der,
            location: Location::unowned(Source::File, None, shown.clone()),
            has_private_key: cert.has_private_key,
            friendly_name: cert.friendly_name,
        });
    }
}

/// Scans one path: a file, or a directory tree.
pub fn scan_path(path: &Path, opts: &FileOptions, inv: &mut Inventory) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return inv.error(
                Source::File,
                path.display().to_string(),
                format!("cannot read: {e}"),
            );
        }
    };
    if !meta.is_dir() {
        return scan_file(path, opts, inv);
    }
    let walk = WalkDir::new(path).follow_links(true).sort_by_file_name();
    for entry in walk {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_file() && has_known_extension(entry.path()) {
                    scan_file(entry.path(), opts, inv);
                }
            }
            Err(e) => {
                let where_ = e
                    .path()
                    .map_or_else(|| path.display().to_string(), |p| p.display().to_string());
                let message = match e.loop_ancestor() {
                    Some(a) => format!("symlink loop back to {}; not followed", a.display()),
                    None => format!("cannot read: {e}"),
                };
                inv.error(Source::File, where_, message);
            }
        }
    }
}
