//! Facts about this Windows machine and its accounts: MachineGuid, host name, OS version from
//! the registry, the SID of the account the agent runs as, account names of SIDs, the
//! registry's profile list and per-user AppData redirection, and the final path of an open
//! file (to detect junctions and symbolic links on the way to it).

use std::ptr;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{ConvertSidToStringSidW, ConvertStringSidToSidW};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountSidW, PSID, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_NAME_NORMALIZED, GetFinalPathNameByHandleW, VOLUME_NAME_DOS,
};
use windows_sys::Win32::System::Environment::ExpandEnvironmentStringsW;
use windows_sys::Win32::System::SystemInformation::{ComputerNameDnsHostname, GetComputerNameExW};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::registry::{Key, RegError, Root};
use super::{from_wide, wide};
use crate::report::WindowsVersion;

const CURRENT_VERSION: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
const PROFILE_LIST: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList";

/// `HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid`: the identity Windows gives this
/// installation (what osquery and Intune use too).
pub fn machine_guid() -> Result<Option<String>, RegError> {
    let Some(key) = Key::open(Root::LocalMachine, "SOFTWARE\\Microsoft\\Cryptography")? else {
        return Ok(None);
    };
    Ok(key
        .string_value("MachineGuid")?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// The DNS host name of this computer (what `hostname` prints), not an environment variable.
pub fn computer_name() -> Option<String> {
    let mut buf = [0u16; 256];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` has room for `len` UTF-16 units, and the API updates `len`.
    let ok = unsafe { GetComputerNameExW(ComputerNameDnsHostname, buf.as_mut_ptr(), &mut len) };
    if ok == 0 {
        return None;
    }
    let name = String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]);
    Some(name).filter(|n| !n.is_empty())
}

/// The version values of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`.
pub fn windows_version() -> Result<WindowsVersion, RegError> {
    let Some(key) = Key::open(Root::LocalMachine, CURRENT_VERSION)? else {
        return Ok(WindowsVersion::default());
    };
    Ok(WindowsVersion {
        product_name: key.string_value("ProductName")?,
        display_version: match key.string_value("DisplayVersion")? {
            Some(v) => Some(v),
            None => key.string_value("ReleaseId")?,
        },
        major: key.dword_value("CurrentMajorVersionNumber")?,
        minor: key.dword_value("CurrentMinorVersionNumber")?,
        current_version: key.string_value("CurrentVersion")?,
        build: match key.string_value("CurrentBuildNumber")? {
            Some(b) => Some(b),
            None => key.string_value("CurrentBuild")?,
        },
        ubr: key.dword_value("UBR")?,
    })
}

/// Frees memory the system allocated with LocalAlloc.
struct LocalMemory(HLOCAL);

impl Drop for LocalMemory {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to allocate with LocalAlloc and
            // is freed once.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

/// The `S-1-…` text of a SID the caller keeps alive.
pub(crate) fn sid_string(sid: PSID) -> Option<String> {
    let mut text: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` is a valid SID owned by the caller; the API allocates `text`.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return None;
    }
    let _free = LocalMemory(text.cast());
    // SAFETY: on success `text` is a NUL-terminated UTF-16 string.
    let len = unsafe { (0..).take_while(|&i| *text.add(i) != 0).count() };
    // SAFETY: `len` units before the NUL are readable.
    Some(String::from_utf16_lossy(unsafe {
        std::slice::from_raw_parts(text, len)
    }))
}

/// The SID of the account this process runs as (S-1-5-18 for SYSTEM).
pub fn current_user_sid() -> Option<String> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo handle of the current process needs no closing; `token` receives a
    // handle that is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let mut buf = vec![0u64; 64]; // 512 bytes, 8-byte aligned for TOKEN_USER.
    let mut len = 0u32;
    // SAFETY: `buf` has `buf.len() * 8` writable bytes; `token` is open.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    let sid = if ok != 0 {
        // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into it.
        let user = unsafe { &*(buf.as_ptr().cast::<TOKEN_USER>()) };
        sid_string(user.User.Sid)
    } else {
        None
    };
    // SAFETY: `token` was opened above and is closed once.
    unsafe {
        CloseHandle(token);
    }
    sid
}

/// `DOMAIN\name` of a SID (LookupAccountSidW); `None` when the SID is unknown here (a deleted
/// account, a domain controller out of reach) or malformed. Each SID is looked up once per
/// process: the same SIDs label profiles, registry hives and CryptoAPI, and a domain account's
/// lookup can wait on an unreachable domain controller.
pub fn account_name(sid: &str) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(known) = cache.lock().ok().and_then(|c| c.get(sid).cloned()) {
        return known;
    }
    let name = lookup_account_sid(sid);
    if let Ok(mut c) = cache.lock() {
        c.insert(sid.to_owned(), name.clone());
    }
    name
}

fn lookup_account_sid(sid: &str) -> Option<String> {
    let text = wide(sid);
    let mut psid: PSID = ptr::null_mut();
    // SAFETY: `text` is NUL-terminated; the API allocates `psid` (freed by LocalMemory).
    if unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut psid) } == 0 {
        return None;
    }
    let _free = LocalMemory(psid);
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let mut name_len = name.len() as u32;
    let mut domain_len = domain.len() as u32;
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: both buffers have room for the lengths given; `psid` is a valid SID.
    let ok = unsafe {
        LookupAccountSidW(
            ptr::null(),
            psid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    let name = from_wide(&name);
    let domain = from_wide(&domain);
    Some(if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    })
    .filter(|n| !n.is_empty())
}

/// Expands `%SystemDrive%`-style variables with this process's environment.
pub fn expand_environment(text: &str) -> String {
    let source = wide(text);
    let mut buf = vec![0u16; 1024];
    loop {
        // SAFETY: `source` is NUL-terminated; `buf` has `buf.len()` writable units.
        let needed = unsafe {
            ExpandEnvironmentStringsW(source.as_ptr(), buf.as_mut_ptr(), buf.len() as u32)
        };
        if needed == 0 {
            return text.to_owned();
        }
        if needed as usize <= buf.len() {
            return from_wide(&buf);
        }
        if needed > 32 * 1024 {
            return text.to_owned();
        }
        buf.resize(needed as usize, 0);
    }
}

/// One entry of `HKLM\...\ProfileList`: a SID and its `ProfileImagePath`, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileListEntry {
    pub sid: String,
    pub image_path: String,
}

/// The profile list: its readable entries and, per unreadable entry, its key and the error,
/// so that one unreadable entry does not hide the others.
#[derive(Debug, Default)]
pub struct ProfileList {
    pub entries: Vec<ProfileListEntry>,
    pub errors: Vec<(String, RegError)>,
}

/// Every profile the registry knows.
pub fn profile_list() -> Result<ProfileList, RegError> {
    let Some(list) = Key::open(Root::LocalMachine, PROFILE_LIST)? else {
        return Ok(ProfileList::default());
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for sid in list.subkeys()? {
        let path = match list
            .open_sub(&sid)
            .and_then(|k| k.map(|k| k.string_value("ProfileImagePath")).transpose())
        {
            Ok(p) => p.flatten(),
            Err(e) => {
                errors.push((format!("HKLM\\{PROFILE_LIST}\\{sid}"), e));
                continue;
            }
        };
        if let Some(path) = path.filter(|p| !p.trim().is_empty()) {
            entries.push(ProfileListEntry {
                sid,
                image_path: expand_environment(path.trim()),
            });
        }
    }
    Ok(ProfileList { entries, errors })
}

/// The user's `AppData` entry of `User Shell Folders`, unexpanded (for example
/// `%USERPROFILE%\AppData\Roaming`, or `\\server\share\%USERNAME%\AppData` when redirected).
/// `Ok(None)` when the user's hive is not loaded (the user is logged off) or has no entry.
pub fn shell_folder_appdata(sid: &str) -> Result<Option<String>, RegError> {
    let path = format!(
        "{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders"
    );
    match Key::open(Root::Users, &path)? {
        Some(key) => key.string_value("AppData"),
        None => Ok(None),
    }
}

/// The path the system resolves an open file to, after every junction and symbolic link,
/// without the `\\?\` prefix (`\\?\UNC\server\share` becomes `\\server\share`).
#[cfg(windows)]
pub fn final_path(file: &std::fs::File) -> std::io::Result<String> {
    use std::os::windows::io::AsRawHandle;
    final_path_of_handle(file.as_raw_handle() as HANDLE)
}

/// [`final_path`] of a raw handle, which must be an open file or directory handle.
#[cfg_attr(not(windows), allow(dead_code))]
fn final_path_of_handle(handle: HANDLE) -> std::io::Result<String> {
    let mut buf = vec![0u16; 512];
    loop {
        // SAFETY: the caller passes an open handle; `buf` has `buf.len()` writable units.
        let len = unsafe {
            GetFinalPathNameByHandleW(
                handle,
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        };
        if len == 0 {
            return Err(std::io::Error::last_os_error());
        }
        if (len as usize) < buf.len() {
            let path = String::from_utf16_lossy(&buf[..len as usize]);
            return Ok(if let Some(rest) = path.strip_prefix("\\\\?\\UNC\\") {
                format!("\\\\{rest}")
            } else if let Some(rest) = path.strip_prefix("\\\\?\\") {
                rest.to_owned()
            } else {
                path
            });
        }
        if len > 32 * 1024 {
            return Err(std::io::Error::other(
                "final path longer than 32K characters",
            ));
        }
        buf.resize(len as usize + 1, 0);
    }
}
