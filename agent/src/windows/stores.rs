//! Sources (b) and (c): the registry stores and the CryptoAPI CurrentUser store.
//!
//! Registry blobs are serialized certificate elements and go through the same pure-Rust parser
//! as profile files. From CryptoAPI only the encoded certificate and the *presence* of
//! KEY_PROV_INFO are read; the key is never opened.

use std::ptr;

use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_FRIENDLY_NAME_PROP_ID, CERT_KEY_PROV_INFO_PROP_ID,
    CERT_STORE_OPEN_EXISTING_FLAG, CERT_STORE_PROV_SYSTEM_W, CERT_STORE_READONLY_FLAG,
    CERT_SYSTEM_STORE_CURRENT_USER, CertCloseStore, CertEnumCertificatesInStore,
    CertGetCertificateContextProperty, CertOpenStore,
};

use std::path::PathBuf;

use super::registry::{Key, MAX_SUBKEYS, Root};
use super::{system, wide};
use crate::element;
use crate::formats::element_warning;
use crate::inventory::Inventory;
use crate::model::{Location, Sighting, Source};
use crate::profiles::{AppData, RegisteredProfile};

/// Most certificates read from one store; a real Personal store holds a handful.
const MAX_STORE_ENTRIES: usize = MAX_SUBKEYS;

const MY_CERTIFICATES: &str = "Microsoft\\SystemCertificates\\My\\Certificates";

/// Who owns a store: the SID of a user hive (or of the agent's own token) and its account.
#[derive(Debug, Clone, Default)]
struct Owner {
    sid: Option<String>,
    account: Option<String>,
}

impl Owner {
    fn of_sid(sid: &str) -> Self {
        Owner {
            sid: Some(sid.to_owned()),
            account: system::account_name(sid),
        }
    }

    /// The location of a certificate in this owner's store. The short user name is the
    /// account's name without its domain, or the SID when it does not resolve.
    fn location(&self, source: Source, path: String) -> Location {
        let user = match (&self.account, &self.sid) {
            (Some(account), _) => Some(
                account
                    .rsplit('\\')
                    .next()
                    .unwrap_or(account.as_str())
                    .to_owned(),
            ),
            (None, sid) => sid.clone(),
        };
        Location {
            source,
            store: Some("My".to_owned()),
            user,
            sid: self.sid.clone(),
            account: self.account.clone(),
            path,
        }
    }
}

/// Reads one registry store: every `<SHA1>\Blob` under `root\subkey`.
fn scan_registry_store(
    root: Root,
    root_name: &str,
    subkey: &str,
    owner: &Owner,
    inv: &mut Inventory,
) {
    let shown_store = format!("{root_name}\\{subkey}");
    let store = match Key::open(root, subkey) {
        Ok(Some(k)) => k,
        // A user without a registry My store is normal (on Windows they live in profile files).
        Ok(None) => {
            tracing::debug!(store = shown_store, "registry store not present");
            return;
        }
        Err(e) => {
            return inv.error(Source::Registry, shown_store, format!("cannot open: {e}"));
        }
    };
    let names = match store.subkeys() {
        Ok(n) => n,
        Err(e) => {
            return inv.error(Source::Registry, shown_store, format!("cannot list: {e}"));
        }
    };
    for name in names {
        let path = format!("{shown_store}\\{name}");
        let blob = match store.open_sub(&name) {
            Ok(Some(k)) => match k.binary_value("Blob") {
                Ok(Some(b)) => Ok(b),
                // A certificate key without a Blob holds no certificate (Windows never writes
                // one, but nothing is lost by saying so).
                Ok(None) => Err("no Blob value".to_owned()),
                Err(e) => Err(format!("cannot read Blob: {e}")),
            },
            // Deleted between listing and opening.
            Ok(None) => continue,
            Err(e) => Err(format!("cannot open: {e}")),
        };
        let parsed = blob.and_then(|b| {
            element::parse_element(&b).map_err(|e| format!("serialized certificate element: {e}"))
        });
        match parsed {
            Ok(el) => {
                if let Some(damage) = &el.warning {
                    inv.warning(Source::Registry, path.clone(), element_warning(damage));
                }
                inv.add(Sighting {
                    der: el.der,
                    location: owner.location(Source::Registry, path),
                    has_private_key: Some(el.has_key_prov_info),
                    friendly_name: el.friendly_name,
                });
            }
            Err(e) => inv.error(Source::Registry, path, e),
        }
    }
}

/// HKLM\SOFTWARE\Microsoft\SystemCertificates\My and every loaded user hive's
/// HKEY_USERS\<SID>\Software\Microsoft\SystemCertificates\My.
pub fn scan_registry(inv: &mut Inventory) {
    scan_registry_store(
        Root::LocalMachine,
        "HKLM",
        &format!("SOFTWARE\\{MY_CERTIFICATES}"),
        &Owner::default(),
        inv,
    );
    let users = match Key::open(Root::Users, "").and_then(|k| k.map(|k| k.subkeys()).transpose()) {
        Ok(u) => u.unwrap_or_default(),
        Err(e) => {
            return inv.error(Source::Registry, "HKEY_USERS", format!("cannot list: {e}"));
        }
    };
    // `<SID>_Classes` hives hold file associations, not certificates; `.DEFAULT` is the same
    // hive as S-1-5-18 (LocalSystem) under a second name.
    for sid in users
        .iter()
        .filter(|s| !s.ends_with("_Classes") && s.as_str() != ".DEFAULT")
    {
        let subkey = format!("{sid}\\Software\\{MY_CERTIFICATES}");
        scan_registry_store(Root::Users, "HKEY_USERS", &subkey, &Owner::of_sid(sid), inv);
    }
}

/// The profiles of the registry's ProfileList with their accounts and AppData location.
/// Unreadable entries are error items.
pub fn registered_profiles(inv: &mut Inventory) -> Vec<RegisteredProfile> {
    let list = match system::profile_list() {
        Ok(list) => list,
        Err(e) => {
            inv.error(
                Source::ProfileFile,
                "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList",
                format!("cannot list profiles: {e}"),
            );
            return Vec::new();
        }
    };
    for (key, e) in list.errors {
        inv.error(Source::ProfileFile, key, format!("cannot read: {e}"));
    }
    list.entries
        .into_iter()
        .map(|entry| {
            let appdata = match system::shell_folder_appdata(&entry.sid) {
                Ok(value) => AppData::from_shell_folder(value.as_deref()),
                Err(e) => {
                    // The default location is still read; the failure is reported.
                    inv.error(
                        Source::ProfileFile,
                        format!(
                            "HKEY_USERS\\{}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders",
                            entry.sid
                        ),
                        format!("cannot read the AppData location: {e}"),
                    );
                    AppData::Default
                }
            };
            RegisteredProfile {
                account: system::account_name(&entry.sid),
                dir: PathBuf::from(entry.image_path),
                sid: entry.sid,
                appdata,
            }
        })
        .collect()
}

/// Size of a certificate context property, `None` when the property is absent.
fn property_size(ctx: *const CERT_CONTEXT, prop: u32) -> Option<u32> {
    let mut size = 0u32;
    // SAFETY: `ctx` is a live context from CertEnumCertificatesInStore; a null data pointer
    // asks only for the size. Nothing is read from the key itself.
    let ok = unsafe { CertGetCertificateContextProperty(ctx, prop, ptr::null_mut(), &mut size) };
    (ok != 0).then_some(size)
}

/// Largest friendly name read from CryptoAPI; the inventory then cuts it to the limit shared
/// with the collector.
const MAX_FRIENDLY_NAME_BYTES: u32 = 64 * 1024;

fn friendly_name(ctx: *const CERT_CONTEXT) -> Option<String> {
    let size = property_size(ctx, CERT_FRIENDLY_NAME_PROP_ID)?.min(MAX_FRIENDLY_NAME_BYTES);
    if size == 0 {
        return None;
    }
    let mut buf = vec![0u16; (size as usize).div_ceil(2)];
    let mut got = size;
    // SAFETY: `buf` holds at least `got` bytes; `ctx` is live. A name longer than `got` makes
    // the call fail (ERROR_MORE_DATA) rather than overflow.
    let ok = unsafe {
        CertGetCertificateContextProperty(
            ctx,
            CERT_FRIENDLY_NAME_PROP_ID,
            buf.as_mut_ptr().cast(),
            &mut got,
        )
    };
    if ok == 0 {
        return None;
    }
    let units: Vec<u16> = buf.into_iter().take_while(|u| *u != 0).collect();
    Some(String::from_utf16_lossy(&units)).filter(|s| !s.is_empty())
}

/// `CertOpenStore` found no such store: as a Win32 code or as the HRESULT CryptoAPI reports.
fn store_not_found(error: &std::io::Error) -> bool {
    const HRESULT_FILE_NOT_FOUND: i32 = 0x8007_0002_u32 as i32;
    matches!(error.raw_os_error(), Some(2 | 3 | HRESULT_FILE_NOT_FOUND))
}

/// CurrentUser\My through CryptoAPI: the store of the account the agent runs as. As the
/// Scheduled Task's SYSTEM that is SYSTEM's own store, which usually does not exist: a missing
/// store is empty, not an error.
pub fn scan_cryptoapi(inv: &mut Inventory) {
    let owner = system::current_user_sid()
        .map(|sid| Owner::of_sid(&sid))
        .unwrap_or_default();
    let store_name = wide("MY");
    // SAFETY: CERT_STORE_PROV_SYSTEM_W takes a NUL-terminated UTF-16 store name as `pvpara`;
    // `store_name` outlives the call. Read-only, existing store only.
    let store = unsafe {
        CertOpenStore(
            CERT_STORE_PROV_SYSTEM_W,
            0,
            0,
            CERT_SYSTEM_STORE_CURRENT_USER
                | CERT_STORE_READONLY_FLAG
                | CERT_STORE_OPEN_EXISTING_FLAG,
            store_name.as_ptr().cast(),
        )
    };
    if store.is_null() {
        let error = std::io::Error::last_os_error();
        if store_not_found(&error) {
            tracing::debug!("the CurrentUser\\My store of this account does not exist");
            return;
        }
        return inv.error(
            Source::CryptoApi,
            "CurrentUser\\My",
            format!("CertOpenStore failed: {error}"),
        );
    }
    let mut ctx: *const CERT_CONTEXT = ptr::null();
    let mut count = 0usize;
    loop {
        // SAFETY: `store` is open; `ctx` is null or the previous context, which this call frees.
        ctx = unsafe { CertEnumCertificatesInStore(store, ctx) };
        if ctx.is_null() || count >= MAX_STORE_ENTRIES {
            break;
        }
        count += 1;
        // SAFETY: `ctx` is non-null and stays valid until the next enumeration call;
        // pbCertEncoded points to cbCertEncoded bytes owned by the context.
        let der = unsafe {
            let c = &*ctx;
            if c.pbCertEncoded.is_null() {
                continue;
            }
            std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize).to_vec()
        };
        let sha1 = {
            use sha1::Digest;
            let digest = sha1::Sha1::digest(&der);
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        };
        inv.add(Sighting {
            der,
            location: owner.location(Source::CryptoApi, format!("CurrentUser\\My\\{sha1}")),
            has_private_key: Some(property_size(ctx, CERT_KEY_PROV_INFO_PROP_ID).is_some()),
            friendly_name: friendly_name(ctx),
        });
    }
    if !ctx.is_null() {
        // Stopped early at the entry cap: release the context the enumeration still holds.
        // SAFETY: `ctx` is the live context returned by the last enumeration call.
        unsafe {
            windows_sys::Win32::Security::Cryptography::CertFreeCertificateContext(ctx);
        }
    }
    // SAFETY: `store` was opened above and is closed once.
    unsafe {
        CertCloseStore(store, 0);
    }
}
