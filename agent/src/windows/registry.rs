//! Registry access: an owning key handle, subkey listing and typed value reads.
//!
//! Only "not found" means absent (`Ok(None)`); access denied or any other failure is a
//! [`RegError`] that callers turn into a scan error item, so an unreadable store is never
//! mistaken for an empty one.

use std::fmt;
use std::ptr;

use windows_sys::Win32::Foundation::{
    ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_PATH_NOT_FOUND, ERROR_SUCCESS,
};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_64KEY, REG_DWORD, REG_EXPAND_SZ,
    REG_SZ, RegCloseKey, RegEnumKeyExW, RegOpenKeyExW, RegQueryValueExW,
};

use super::{from_wide, wide};

/// Longest registry key name (the documented limit is 255 characters).
const MAX_KEY_NAME: usize = 256;
/// Most subkeys listed under one key; a real certificate store holds a handful.
pub const MAX_SUBKEYS: usize = 100_000;
/// Largest value read.
pub const MAX_VALUE: u32 = 1024 * 1024;

/// A registry call that failed for another reason than "not found".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegError(pub u32);

impl fmt::Display for RegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The system's message ("Access is denied.") with its code.
        let io = std::io::Error::from_raw_os_error(self.0 as i32);
        write!(f, "{io}")
    }
}

impl std::error::Error for RegError {}

fn not_found(rc: u32) -> bool {
    rc == ERROR_FILE_NOT_FOUND || rc == ERROR_PATH_NOT_FOUND
}

/// The predefined keys the agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `HKEY_LOCAL_MACHINE`.
    LocalMachine,
    /// `HKEY_USERS`: every loaded user hive, by SID.
    Users,
}

impl Root {
    fn handle(self) -> HKEY {
        match self {
            Root::LocalMachine => HKEY_LOCAL_MACHINE,
            Root::Users => HKEY_USERS,
        }
    }
}

/// An open registry key, closed on drop.
#[derive(Debug)]
pub struct Key(HKEY);

impl Key {
    /// Opens `subkey` of a predefined key for reading, in the 64-bit view. `Ok(None)` when it
    /// does not exist; an empty `subkey` opens the predefined key itself.
    pub fn open(root: Root, subkey: &str) -> Result<Option<Key>, RegError> {
        Self::open_in(root.handle(), subkey)
    }

    fn open_in(parent: HKEY, subkey: &str) -> Result<Option<Key>, RegError> {
        let name = wide(subkey);
        let mut out: HKEY = ptr::null_mut();
        // SAFETY: `name` is a NUL-terminated UTF-16 string that outlives the call, `out` is a
        // valid place for the result handle, and `parent` is a predefined or open key.
        let rc = unsafe {
            RegOpenKeyExW(
                parent,
                name.as_ptr(),
                0,
                KEY_READ | KEY_WOW64_64KEY,
                &mut out,
            )
        };
        match rc {
            ERROR_SUCCESS => Ok(Some(Key(out))),
            rc if not_found(rc) => Ok(None),
            rc => Err(RegError(rc)),
        }
    }

    /// Opens a subkey of this key.
    pub fn open_sub(&self, subkey: &str) -> Result<Option<Key>, RegError> {
        Self::open_in(self.0, subkey)
    }

    /// Names of the direct subkeys (at most [`MAX_SUBKEYS`]).
    pub fn subkeys(&self) -> Result<Vec<String>, RegError> {
        let mut names = Vec::new();
        let mut buf = [0u16; MAX_KEY_NAME];
        for index in 0u32.. {
            let mut len = buf.len() as u32;
            // SAFETY: `buf` has room for `len` UTF-16 units; the optional out-pointers are null
            // as the API allows; `self.0` is an open key.
            let rc = unsafe {
                RegEnumKeyExW(
                    self.0,
                    index,
                    buf.as_mut_ptr(),
                    &mut len,
                    ptr::null(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            match rc {
                ERROR_SUCCESS => {
                    let used = (len as usize).min(buf.len());
                    names.push(String::from_utf16_lossy(&buf[..used]));
                }
                ERROR_NO_MORE_ITEMS => break,
                other => return Err(RegError(other)),
            }
            if names.len() >= MAX_SUBKEYS {
                break;
            }
        }
        Ok(names)
    }

    /// A value's type and bytes (at most [`MAX_VALUE`] bytes). `Ok(None)` when absent.
    pub fn value(&self, value: &str) -> Result<Option<(u32, Vec<u8>)>, RegError> {
        let name = wide(value);
        let mut size = 0u32;
        // A value can grow between the size query and the read: retry a few times.
        for _ in 0..4 {
            let mut kind = 0u32;
            // SAFETY: size query: null data pointer with a valid `size`; `name` is
            // NUL-terminated; `self.0` is an open key.
            let rc = unsafe {
                RegQueryValueExW(
                    self.0,
                    name.as_ptr(),
                    ptr::null(),
                    &mut kind,
                    ptr::null_mut(),
                    &mut size,
                )
            };
            match rc {
                ERROR_SUCCESS | ERROR_MORE_DATA => {}
                rc if not_found(rc) => return Ok(None),
                rc => return Err(RegError(rc)),
            }
            if size > MAX_VALUE {
                return Err(RegError(ERROR_MORE_DATA));
            }
            let mut data = vec![0u8; size as usize];
            let mut got = size;
            // SAFETY: `data` has `got` writable bytes; the API writes at most that many and
            // updates `got`.
            let rc = unsafe {
                RegQueryValueExW(
                    self.0,
                    name.as_ptr(),
                    ptr::null(),
                    &mut kind,
                    data.as_mut_ptr(),
                    &mut got,
                )
            };
            match rc {
                ERROR_SUCCESS => {
                    data.truncate((got as usize).min(data.len()));
                    return Ok(Some((kind, data)));
                }
                ERROR_MORE_DATA => size = got,
                rc if not_found(rc) => return Ok(None),
                rc => return Err(RegError(rc)),
            }
        }
        Err(RegError(ERROR_MORE_DATA))
    }

    /// A REG_BINARY (or any) value's bytes.
    pub fn binary_value(&self, value: &str) -> Result<Option<Vec<u8>>, RegError> {
        Ok(self.value(value)?.map(|(_, data)| data))
    }

    /// A REG_SZ or REG_EXPAND_SZ value as text, *not* expanded. Other types count as absent.
    pub fn string_value(&self, value: &str) -> Result<Option<String>, RegError> {
        Ok(match self.value(value)? {
            Some((kind, data)) if kind == REG_SZ || kind == REG_EXPAND_SZ => {
                let units: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Some(from_wide(&units))
            }
            _ => None,
        })
    }

    /// A REG_DWORD value. Other types count as absent.
    pub fn dword_value(&self, value: &str) -> Result<Option<u32>, RegError> {
        Ok(match self.value(value)? {
            Some((kind, data)) if kind == REG_DWORD && data.len() >= 4 => {
                Some(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            _ => None,
        })
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: `self.0` was opened by RegOpenKeyExW and is closed exactly once.
        unsafe {
            RegCloseKey(self.0);
        }
    }
}
