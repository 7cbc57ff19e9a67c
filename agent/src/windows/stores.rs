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

use super::registry::{Key, MAX_SUBKEYS, Root};
use super::wide;
use crate::element;
use crate::inventory::Inventory;
use crate::model::{Location, Sighting, Source};

/// Most certificates read from one store; a real Personal store holds a handful.
const MAX_STORE_ENTRIES: usize = MAX_SUBKEYS;

const MY_CERTIFICATES: &str = "Microsoft\\SystemCertificates\\My\\Certificates";

/// Reads one registry store: every `<SHA1>\Blob` under `root\subkey`.
fn scan_registry_store(
    root: Root,
    root_name: &str,
    subkey: &str,
    user: Option<&str>,
    inv: &mut Inventory,
) {
    let shown_store = format!("{root_name}\\{subkey}");
    let store = match Key::open(root, subkey) {
        Ok(Some(k)) => k,
        // A user without a registry My store is normal (they live in profile files).
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
            Ok(el) => inv.add(Sighting {
                der: el.der,
                location: Location {
                    source: Source::Registry,
                    store: Some("My".to_owned()),
                    user: user.map(str::to_owned),
                    path,
                },
                has_private_key: Some(el.has_key_prov_info),
                friendly_name: el.friendly_name,
            }),
            Err(e) => inv.error(Source::Registry, path, e),
        }
    }
}

/// HKLM\SOFTWARE\Microsoft\SystemCertificates\My and every HKEY_USERS\<SID>\Software\...\My.
pub fn scan_registry(inv: &mut Inventory) {
    scan_registry_store(
        Root::LocalMachine,
        "HKLM",
        &format!("SOFTWARE\\{MY_CERTIFICATES}"),
        None,
        inv,
    );
    let users = match Key::open(Root::Users, "").and_then(|k| k.map(|k| k.subkeys()).transpose()) {
        Ok(u) => u.unwrap_or_default(),
        Err(e) => {
            return inv.error(Source::Registry, "HKEY_USERS", format!("cannot list: {e}"));
        }
    };
    for sid in users.iter().filter(|s| !s.ends_with("_Classes")) {
        let subkey = format!("{sid}\\Software\\{MY_CERTIFICATES}");
        scan_registry_store(Root::Users, "HKEY_USERS", &subkey, Some(sid), inv);
    }
}

/// Size of a certificate context property, `None` when the property is absent.
fn property_size(ctx: *const CERT_CONTEXT, prop: u32) -> Option<u32> {
    let mut size = 0u32;
    // SAFETY: `ctx` is a live context from CertEnumCertificatesInStore; a null data pointer
    // asks only for the size. Nothing is read from the key itself.
    let ok = unsafe { CertGetCertificateContextProperty(ctx, prop, ptr::null_mut(), &mut size) };
    (ok != 0).then_some(size)
}

fn friendly_name(ctx: *const CERT_CONTEXT) -> Option<String> {
    let size = property_size(ctx, CERT_FRIENDLY_NAME_PROP_ID)?;
    if size == 0 || size > 4096 {
        return None;
    }
    let mut buf = vec![0u16; (size as usize).div_ceil(2)];
    let mut got = size;
    // SAFETY: `buf` holds at least `got` bytes; `ctx` is live.
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
    String::from_utf16(&units).ok().filter(|s| !s.is_empty())
}

/// CurrentUser\My through CryptoAPI (only meaningful when the agent runs as that user).
pub fn scan_cryptoapi(inv: &mut Inventory) {
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
        return inv.error(
            Source::CryptoApi,
            "CurrentUser\\My",
            format!("CertOpenStore failed: {}", std::io::Error::last_os_error()),
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
            location: Location {
                source: Source::CryptoApi,
                store: Some("My".to_owned()),
                user: std::env::var("USERNAME").ok(),
                path: format!("CurrentUser\\My\\{sha1}"),
            },
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
