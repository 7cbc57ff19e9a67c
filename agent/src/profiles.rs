//! Source (a): the per-user Personal stores as files under every profile.
//!
//! `<profile>\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\<SHA1>` holds one
//! serialized certificate element per certificate. Reading the files (rather than asking
//! CryptoAPI) is the only way a service sees other users' stores, including users who are not
//! logged on (SPEC §4).
//!
//! Which profiles: the directories under the profiles root (`C:\Users`), merged on Windows with
//! the registry's `ProfileList` (which also names moved profiles and profiles on other drives,
//! and gives each one its SID and account). Where the user's loaded hive redirects `AppData`
//! (`User Shell Folders`), the redirected folder is read instead, and an unreadable one is an
//! error item, never silently skipped.
//!
//! The SYSTEM agent reads directories its users can write. Below the profile root (or the
//! redirected AppData folder) it follows no junction, symbolic link or other reparse point, and
//! on Windows it checks that each file it opened is really where it asked for it, so a user
//! cannot point it at files only SYSTEM may read (such as the agent's own node key).
//! Only "not found" means absent: every other failure is an error item.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::element;
use crate::files::FileOptions;
use crate::formats::element_warning;
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

/// Where a profile's roaming AppData folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppData {
    /// `<profile>\AppData\Roaming`. Also used when the user's hive is not loaded (the user is
    /// logged off), because the redirection is then not visible without loading their hive.
    Default,
    /// The `AppData` value of the user's `User Shell Folders`, as stored (unexpanded), when
    /// it is not the default.
    Redirected(String),
}

/// The `User Shell Folders` value that means "not redirected".
const DEFAULT_APPDATA: &str = "%USERPROFILE%\\AppData\\Roaming";

impl AppData {
    /// Classifies a `User Shell Folders\AppData` value.
    pub fn from_shell_folder(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() && !v.eq_ignore_ascii_case(DEFAULT_APPDATA) => {
                AppData::Redirected(v.to_owned())
            }
            _ => AppData::Default,
        }
    }
}

/// A profile as the registry's `ProfileList` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredProfile {
    pub sid: String,
    /// `ProfileImagePath`, expanded.
    pub dir: PathBuf,
    /// `DOMAIN\name` of the SID, when it resolves.
    pub account: Option<String>,
    pub appdata: AppData,
}

/// One profile to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub dir: PathBuf,
    /// The profile folder's name (the short user name shown in tables).
    pub user: String,
    pub sid: Option<String>,
    pub account: Option<String>,
    pub appdata: AppData,
}

/// Comparison key of a profile directory: Windows paths are case-insensitive, and the
/// registry and the directory listing may spell one differently (`C:\Users` and `C:\users`).
fn path_key(path: &Path) -> String {
    path.to_string_lossy()
        .trim_end_matches(['\\', '/'])
        .to_lowercase()
}

/// The profiles to scan: every directory under `root` (junctions and links there are aliases
/// such as `Default User`, not users) merged with the registry's profiles, which add their
/// SID, account and AppData location and may live elsewhere (a moved profile, `D:\Users`).
/// Sorted by directory.
pub fn collect_profiles(
    root: Option<&Path>,
    registered: Vec<RegisteredProfile>,
    inv: &mut Inventory,
) -> Vec<Profile> {
    let mut by_dir: BTreeMap<String, Profile> = BTreeMap::new();
    if let Some(root) = root {
        match fs::read_dir(root) {
            Ok(entries) => {
                for entry in entries {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            inv.error(
                                Source::ProfileFile,
                                root.display().to_string(),
                                format!("cannot list profiles: {e}"),
                            );
                            break;
                        }
                    };
                    match entry.file_type() {
                        Ok(t) if t.is_dir() && !t.is_symlink() => {}
                        Ok(_) => continue,
                        Err(e) => {
                            inv.error(
                                Source::ProfileFile,
                                entry.path().display().to_string(),
                                format!("cannot read: {e}"),
                            );
                            continue;
                        }
                    }
                    let dir = entry.path();
                    by_dir.insert(
                        path_key(&dir),
                        Profile {
                            user: entry.file_name().to_string_lossy().into_owned(),
                            dir,
                            sid: None,
                            account: None,
                            appdata: AppData::Default,
                        },
                    );
                }
            }
            // The root is configuration (`--profiles-root`, `C:\Users`): a missing one is
            // worth saying, unlike a profile without a store.
            Err(e) => inv.error(
                Source::ProfileFile,
                root.display().to_string(),
                format!("cannot list profiles: {e}"),
            ),
        }
    }
    for reg in registered {
        let user = reg
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| reg.sid.clone());
        // The registry's spelling of the path wins: it is what Windows itself uses.
        by_dir.insert(
            path_key(&reg.dir),
            Profile {
                dir: reg.dir,
                user,
                sid: Some(reg.sid),
                account: reg.account,
                appdata: reg.appdata,
            },
        );
    }
    by_dir.into_values().collect()
}

/// Scans every profile's Personal store files.
pub fn scan_profiles(profiles: &[Profile], opts: &FileOptions, inv: &mut Inventory) {
    for profile in profiles {
        scan_profile(profile, opts, inv);
    }
}

/// Refused below a profile: anything that would redirect the agent elsewhere.
const REPARSE_REFUSED: &str = "is a junction, symbolic link or other reparse point; not followed \
     (below a profile the agent reads only real directories and files)";

/// Is this (not followed) entry a symbolic link, junction or other reparse point?
fn is_reparse_point(meta: &Metadata) -> bool {
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
        if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return true;
        }
    }
    meta.file_type().is_symlink()
}

/// A path that stops the walk into a profile, and why.
struct Blocked {
    path: PathBuf,
    message: String,
}

/// Walks `parts` below `base` without following reparse points: `Ok(None)` when a component
/// does not exist (the store is absent), `Err` when one cannot be read or is not a real
/// directory.
fn descend(base: &Path, parts: &[&str]) -> Result<Option<PathBuf>, Blocked> {
    let mut path = base.to_path_buf();
    for part in parts {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if is_reparse_point(&meta) => {
                return Err(Blocked {
                    path,
                    message: REPARSE_REFUSED.to_owned(),
                });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Blocked {
                    path,
                    message: "is not a directory".to_owned(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Blocked {
                    path,
                    message: format!("cannot read: {e}"),
                });
            }
        }
    }
    Ok(Some(path))
}

/// Expands a redirected `AppData` value for one profile: `%USERPROFILE%` is the profile
/// directory and `%USERNAME%` the account's name; any other variable belongs to the user's
/// session and cannot be known here (an error, not a guess).
pub fn expand_redirected(value: &str, profile: &Profile) -> Result<String, String> {
    let user_name = profile
        .account
        .as_deref()
        .and_then(|a| a.rsplit('\\').next())
        .unwrap_or(&profile.user);
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else {
            return Err(format!("unbalanced % in {value}"));
        };
        let name = &after[..end];
        if name.eq_ignore_ascii_case("USERPROFILE") {
            out.push_str(&profile.dir.to_string_lossy());
        } else if name.eq_ignore_ascii_case("USERNAME") {
            out.push_str(user_name);
        } else {
            return Err(format!(
                "%{name}% is set only in the user's own session; cannot expand {value}"
            ));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// True for `\\server\share` and `\\?\UNC\...` paths.
fn is_network_path(path: &str) -> bool {
    let p = path.replace('/', "\\");
    (p.starts_with("\\\\") && !p.starts_with("\\\\?\\") && !p.starts_with("\\\\.\\"))
        || p.to_ascii_uppercase().starts_with("\\\\?\\UNC\\")
}

/// Scans one profile's Personal store files.
pub fn scan_profile(profile: &Profile, opts: &FileOptions, inv: &mut Inventory) {
    let location = |path: String| Location {
        source: Source::ProfileFile,
        store: Some("My".to_owned()),
        user: Some(profile.user.clone()),
        sid: profile.sid.clone(),
        account: profile.account.clone(),
        path,
    };
    let error = |inv: &mut Inventory, path: &Path, message: String| {
        inv.error(Source::ProfileFile, path.display().to_string(), message);
    };
    // The directory below which nothing is followed, and the parts from it to the store.
    let (base, parts): (PathBuf, &[&str]) = match &profile.appdata {
        AppData::Default => {
            match fs::metadata(&profile.dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return error(inv, &profile.dir, "is not a directory".to_owned()),
                // A ProfileList entry whose directory was deleted: nothing to read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    tracing::debug!(dir = %profile.dir.display(), "profile directory absent");
                    return;
                }
                Err(e) => {
                    return error(
                        inv,
                        &profile.dir,
                        format!("cannot read the profile directory: {e}"),
                    );
                }
            }
            (profile.dir.clone(), &PERSONAL_STORE_DIR[..])
        }
        AppData::Redirected(value) => {
            let shown = PathBuf::from(value);
            let expanded = match expand_redirected(value, profile) {
                Ok(p) => p,
                Err(e) => {
                    return error(inv, &shown, format!("AppData is redirected, but {e}"));
                }
            };
            let target = PathBuf::from(&expanded);
            // Never authenticate to a server a user chose: the machine account's credentials
            // would go with the request (and a user can edit their own User Shell Folders).
            if is_network_path(&expanded) {
                return error(
                    inv,
                    &target,
                    "AppData is redirected to a network path, which the agent does not read; \
                     the certificates there are not inventoried"
                        .to_owned(),
                );
            }
            match fs::symlink_metadata(&target) {
                Ok(meta) if is_reparse_point(&meta) => {
                    return error(inv, &target, REPARSE_REFUSED.to_owned());
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return error(
                        inv,
                        &target,
                        "AppData is redirected here, but this is not a directory".to_owned(),
                    );
                }
                // Redirected means "the certificates are here": a folder that cannot be read,
                // even one that is missing, is reported rather than taken for an empty store.
                Err(e) => {
                    return error(
                        inv,
                        &target,
                        format!("AppData is redirected here, but it cannot be read: {e}"),
                    );
                }
            }
            (target, &PERSONAL_STORE_DIR[2..])
        }
    };
    let dir = match descend(&base, parts) {
        Ok(Some(dir)) => dir,
        Ok(None) => {
            tracing::debug!(user = %profile.user, "no Personal store files");
            return;
        }
        Err(blocked) => return error(inv, &blocked.path, blocked.message),
    };
    let guard = match OpenGuard::new(&base, parts) {
        Ok(g) => g,
        Err(e) => return error(inv, &base, format!("cannot resolve: {e}")),
    };
    let mut files: Vec<fs::DirEntry> = match fs::read_dir(&dir).and_then(|d| d.collect()) {
        Ok(f) => f,
        Err(e) => {
            return error(
                inv,
                &dir,
                format!("cannot list the store of {}: {e}", profile.user),
            );
        }
    };
    files.sort_by_key(fs::DirEntry::file_name);
    for file in files {
        let path = file.path();
        match file.file_type() {
            Ok(t) if t.is_symlink() => {
                error(inv, &path, REPARSE_REFUSED.to_owned());
                continue;
            }
            // Windows keeps nothing but element files here; a subdirectory is not an error.
            Ok(t) if t.is_dir() => continue,
            Ok(_) => {}
            Err(e) => {
                error(inv, &path, format!("cannot read: {e}"));
                continue;
            }
        }
        let shown = path.display().to_string();
        let data = match guard.read(&path, &file.file_name(), opts.max_file_size) {
            Ok(d) => d,
            Err(e) => {
                error(inv, &path, e);
                continue;
            }
        };
        match element::parse_element(&data) {
            Ok(el) => {
                if let Some(damage) = &el.warning {
                    inv.warning(Source::ProfileFile, shown.clone(), element_warning(damage));
                }
                inv.add(Sighting {
                    der: el.der,
                    location: location(shown),
                    has_private_key: Some(el.has_key_prov_info),
                    friendly_name: el.friendly_name,
                });
            }
            Err(e) => error(inv, &path, format!("serialized certificate element: {e}")),
        }
    }
}

/// Opens store files so that no reparse point is followed, even one swapped in after
/// [`descend`] checked the directories.
struct OpenGuard {
    /// On Windows: the final (resolved) path of the store directory, lowercased; every file
    /// opened must resolve to a direct child of it.
    #[cfg(windows)]
    store_final: String,
}

impl OpenGuard {
    #[cfg(windows)]
    fn new(base: &Path, parts: &[&str]) -> io::Result<Self> {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_BACKUP_SEMANTICS opens a directory handle.
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        let base_handle = fs::OpenOptions::new()
            .read(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(base)?;
        let mut store_final = crate::windows::system::final_path(&base_handle)?;
        for part in parts {
            store_final.push('\\');
            store_final.push_str(part);
        }
        Ok(Self {
            store_final: store_final.to_lowercase(),
        })
    }

    #[cfg(not(windows))]
    fn new(_base: &Path, _parts: &[&str]) -> io::Result<Self> {
        Ok(Self {})
    }

    /// Reads one store file of at most `cap` bytes, refusing reparse points and any file that
    /// resolves outside the store directory. Error messages never quote the file's bytes.
    fn read(&self, path: &Path, name: &std::ffi::OsStr, cap: u64) -> Result<Vec<u8>, String> {
        let file = self.open(path, name)?;
        let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
        if !meta.is_file() {
            return Err("not a regular file".to_owned());
        }
        if meta.len() > cap {
            return Err(format!(
                "file is {} bytes, larger than the {cap}-byte limit",
                meta.len()
            ));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.take(cap + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read: {e}"))?;
        if data.len() as u64 > cap {
            return Err(format!("file grew beyond the {cap}-byte limit while read"));
        }
        Ok(data)
    }

    #[cfg(windows)]
    fn open(&self, path: &Path, name: &std::ffi::OsStr) -> Result<fs::File, String> {
        use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
        // Opens the reparse point itself rather than its target, if it is one.
        const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
        const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)
            .map_err(|e| format!("cannot open: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
        if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return Err(REPARSE_REFUSED.to_owned());
        }
        // A directory above the file may have been replaced by a junction since it was
        // checked: the file must still resolve to a child of the store directory.
        let resolved = crate::windows::system::final_path(&file)
            .map_err(|e| format!("cannot resolve: {e}"))?;
        let expected = format!(
            "{}\\{}",
            self.store_final,
            name.to_string_lossy().to_lowercase()
        );
        if resolved.to_lowercase() != expected {
            return Err(format!(
                "resolves to {resolved}, outside the store directory (a junction or link on the \
                 way); not read"
            ));
        }
        Ok(file)
    }

    #[cfg(not(windows))]
    fn open(&self, path: &Path, _name: &std::ffi::OsStr) -> Result<fs::File, String> {
        match fs::symlink_metadata(path) {
            Ok(meta) if is_reparse_point(&meta) => return Err(REPARSE_REFUSED.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
        fs::File::open(path).map_err(|e| format!("cannot open: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(dir: &str, user: &str, account: Option<&str>) -> Profile {
        Profile {
            dir: PathBuf::from(dir),
            user: user.to_owned(),
            sid: Some("S-1-5-21-1-2-3-1001".to_owned()),
            account: account.map(str::to_owned),
            appdata: AppData::Default,
        }
    }

    #[test]
    fn shell_folder_values_are_classified() {
        assert_eq!(AppData::from_shell_folder(None), AppData::Default);
        assert_eq!(
            AppData::from_shell_folder(Some("%userprofile%\\AppData\\Roaming")),
            AppData::Default
        );
        assert_eq!(
            AppData::from_shell_folder(Some("\\\\fs01\\redir\\%USERNAME%\\AppData\\Roaming")),
            AppData::Redirected("\\\\fs01\\redir\\%USERNAME%\\AppData\\Roaming".to_owned())
        );
    }

    #[test]
    fn redirected_values_expand_profile_and_user_only() {
        let p = profile("D:\\Profiles\\sato", "sato", Some("PC01\\佐藤"));
        assert_eq!(
            expand_redirected("%USERPROFILE%\\Roaming", &p).unwrap(),
            "D:\\Profiles\\sato\\Roaming"
        );
        assert_eq!(
            expand_redirected("E:\\Redirect\\%UserName%\\AppData", &p).unwrap(),
            "E:\\Redirect\\佐藤\\AppData"
        );
        let unknown = expand_redirected("%HOMESHARE%%HOMEPATH%\\AppData", &p).unwrap_err();
        assert!(unknown.contains("%HOMESHARE%"), "{unknown}");
        assert!(expand_redirected("C:\\%broken", &p).is_err());
    }

    #[test]
    fn network_paths_are_recognised() {
        assert!(is_network_path("\\\\fs01\\redir\\sato"));
        assert!(is_network_path("\\\\?\\UNC\\fs01\\redir"));
        assert!(is_network_path("//fs01/redir"));
        assert!(!is_network_path("D:\\Redirect\\sato"));
        assert!(!is_network_path("\\\\?\\D:\\Redirect"));
    }
}
