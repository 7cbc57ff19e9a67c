//! File ACLs of the agent's data directory: applying the private ACL (owner Administrators;
//! SYSTEM and Administrators full control, inherited; nothing inherited from above), making
//! existing children inherit it, and reading an ACL back to verify it.
//!
//! Accounts are SIDs throughout: their names are localized (a Japanese Windows has no group
//! called "Administrators").

use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_SUCCESS, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
    SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
    DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorDacl,
    GetSecurityDescriptorOwner, OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, UNPROTECTED_DACL_SECURITY_INFORMATION,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

use super::wide;
use crate::install::AclInfo;

/// The data directory's ACL in SDDL.
const PRIVATE_DIRECTORY: &str = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
/// Below it: owner Administrators, no explicit entries, inherit everything.
const INHERIT_ONLY: &str = "O:BAD:AI";

const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

/// True when this process runs under Wine, whose file systems keep no ACLs: a directory's
/// security descriptor is synthesized from Unix permissions whatever was set.
pub fn is_wine() -> bool {
    let ntdll = wide("ntdll.dll");
    // SAFETY: `ntdll` is NUL-terminated; ntdll.dll is loaded in every process and the handle
    // needs no release. The procedure name is a NUL-terminated byte string.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// A security descriptor allocated by the system (freed on drop).
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Drop for Descriptor {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the descriptor was allocated by the system with LocalAlloc.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

fn from_sddl(sddl: &str) -> std::io::Result<Descriptor> {
    let text = wide(sddl);
    let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `text` is NUL-terminated; the API allocates `sd` (freed by Descriptor).
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            1,
            &mut sd,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Descriptor(sd))
}

fn apply(path: &Path, sddl: &str, protection: u32) -> std::io::Result<()> {
    let sd = from_sddl(sddl)?;
    let mut owner: PSID = ptr::null_mut();
    let mut dacl: *mut ACL = ptr::null_mut();
    let mut present = 0;
    let mut defaulted = 0;
    // SAFETY: `sd.0` is a valid descriptor; the out-pointers point into it and live as long
    // as `sd`.
    unsafe {
        GetSecurityDescriptorOwner(sd.0, &mut owner, &mut defaulted);
        GetSecurityDescriptorDacl(sd.0, &mut present, &mut dacl, &mut defaulted);
    }
    let name = wide(&path.to_string_lossy());
    // SAFETY: `name` is NUL-terminated; `owner` and `dacl` point into `sd`, alive here.
    let rc = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | protection,
            owner,
            ptr::null_mut(),
            dacl,
            ptr::null(),
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    Ok(())
}

/// Gives `dir` the private ACL (nothing inherited from above).
pub fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    apply(dir, PRIVATE_DIRECTORY, PROTECTED_DACL_SECURITY_INFORMATION)
}

/// Makes `path` (below a private directory) inherit its parent's ACL only, with
/// Administrators as owner (what `icacls /reset` and `/setowner` do).
pub fn inherit_only(path: &Path) -> std::io::Result<()> {
    apply(path, INHERIT_ONLY, UNPROTECTED_DACL_SECURITY_INFORMATION)
}

/// Reads the owner and the allow entries of `path`.
pub fn read(path: &Path) -> std::io::Result<AclInfo> {
    let name = wide(&path.to_string_lossy());
    let mut owner: PSID = ptr::null_mut();
    let mut dacl: *mut ACL = ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; the API allocates `sd` and points `owner`/`dacl`
    // into it.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            ptr::null_mut(),
            &mut dacl,
            ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    let sd = Descriptor(sd);
    let owner = (!owner.is_null())
        .then(|| super::system::sid_string(owner))
        .flatten();
    if dacl.is_null() {
        drop(sd);
        return Ok(AclInfo {
            owner,
            allowed: None,
        });
    }
    let mut info = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    // SAFETY: `dacl` points into `sd`, alive; `info` has the size given.
    let ok = unsafe {
        GetAclInformation(
            dacl,
            (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
            std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut allowed = Vec::new();
    for index in 0..info.AceCount {
        let mut ace: *mut core::ffi::c_void = ptr::null_mut();
        // SAFETY: `index` is below the ACE count of this live ACL.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 || ace.is_null() {
            continue;
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { &*(ace as *const ACE_HEADER) };
        if header.AceType != ACCESS_ALLOWED_ACE_TYPE {
            continue;
        }
        // SAFETY: an ACCESS_ALLOWED_ACE holds the mask and the SID starting at SidStart.
        let entry = unsafe { &*(ace as *const ACCESS_ALLOWED_ACE) };
        let sid = (&entry.SidStart as *const u32)
            .cast_mut()
            .cast::<core::ffi::c_void>();
        if let Some(sid) = super::system::sid_string(sid) {
            allowed.push((sid, entry.Mask));
        }
    }
    drop(sd);
    Ok(AclInfo {
        owner,
        allowed: Some(allowed),
    })
}
