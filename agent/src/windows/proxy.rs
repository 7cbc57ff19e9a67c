//! The proxy settings Windows keeps for programs like this one: WinHTTP's machine-wide default
//! (`netsh winhttp set proxy`, `netsh winhttp import proxy source=ie`, Group Policy), and the
//! logged-on user's Internet Options (what Edge uses), read only when the agent runs as that
//! user — SYSTEM has no meaningful Internet Options. The choice among them and the
//! environment is made in `crate::report::proxy::resolve`.
//!
//! Automatic configuration (WPAD, a PAC script URL) is not evaluated: only a named proxy is
//! used; a PAC-only setting is logged so the operator knows to give `--proxy`.

use std::ptr;

use windows_sys::Win32::Foundation::GlobalFree;
use windows_sys::Win32::Networking::WinHttp::{
    WINHTTP_ACCESS_TYPE_NAMED_PROXY, WINHTTP_CURRENT_USER_IE_PROXY_CONFIG, WINHTTP_PROXY_INFO,
    WinHttpGetDefaultProxyConfiguration, WinHttpGetIEProxyConfigForCurrentUser,
};
use windows_sys::core::PWSTR;

use super::from_wide;
use crate::report::proxy::{ProxySource, SystemProxy};

/// LocalSystem, the account of the Scheduled Task.
const SYSTEM_SID: &str = "S-1-5-18";

/// Takes a string WinHTTP allocated with GlobalAlloc, and frees it.
fn take_global(text: PWSTR) -> Option<String> {
    if text.is_null() {
        return None;
    }
    let mut len = 0usize;
    // SAFETY: WinHTTP returns NUL-terminated UTF-16 strings; the scan stops at the NUL, and the
    // slice covers exactly the characters before it.
    let value = unsafe {
        while *text.add(len) != 0 {
            len += 1;
        }
        from_wide(std::slice::from_raw_parts(text, len))
    };
    // SAFETY: the documentation of both WinHTTP calls says their strings are freed with
    // GlobalFree by the caller; each is freed exactly once, here.
    unsafe {
        GlobalFree(text.cast());
    }
    Some(value)
}

/// WinHTTP's default proxy (`netsh winhttp show proxy`); `None` for "Direct access".
pub fn winhttp_default() -> Option<SystemProxy> {
    let mut info = WINHTTP_PROXY_INFO {
        dwAccessType: 0,
        lpszProxy: ptr::null_mut(),
        lpszProxyBypass: ptr::null_mut(),
    };
    // SAFETY: `info` is a valid, writable WINHTTP_PROXY_INFO; on success its strings belong to
    // us and are freed by `take_global`.
    let ok = unsafe { WinHttpGetDefaultProxyConfiguration(&mut info) };
    if ok == 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, "cannot read the WinHTTP proxy setting; connecting without it");
        return None;
    }
    let proxy = take_global(info.lpszProxy);
    let bypass = take_global(info.lpszProxyBypass);
    if info.dwAccessType != WINHTTP_ACCESS_TYPE_NAMED_PROXY {
        return None;
    }
    Some(SystemProxy {
        source: ProxySource::WinHttp,
        proxy_list: proxy.filter(|p| !p.trim().is_empty())?,
        bypass: bypass.unwrap_or_default(),
    })
}

/// The logged-on user's Internet Options proxy, when the agent runs as that user (not SYSTEM).
pub fn user_internet_options() -> Option<SystemProxy> {
    if super::system::current_user_sid().as_deref() == Some(SYSTEM_SID) {
        return None;
    }
    let mut config = WINHTTP_CURRENT_USER_IE_PROXY_CONFIG {
        fAutoDetect: 0,
        lpszAutoConfigUrl: ptr::null_mut(),
        lpszProxy: ptr::null_mut(),
        lpszProxyBypass: ptr::null_mut(),
    };
    // SAFETY: `config` is a valid, writable structure; on success its strings belong to us and
    // are freed by `take_global`.
    let ok = unsafe { WinHttpGetIEProxyConfigForCurrentUser(&mut config) };
    if ok == 0 {
        let error = std::io::Error::last_os_error();
        tracing::debug!(%error, "no Internet Options proxy setting for this user");
        return None;
    }
    let pac = take_global(config.lpszAutoConfigUrl);
    let proxy = take_global(config.lpszProxy).filter(|p| !p.trim().is_empty());
    let bypass = take_global(config.lpszProxyBypass);
    if proxy.is_none() && pac.is_some() {
        tracing::info!(
            "the user's Internet Options use a proxy script (PAC), which certfleet does not run; \
             give --proxy if the collector is reached through a proxy"
        );
    }
    Some(SystemProxy {
        source: ProxySource::UserInternetOptions,
        proxy_list: proxy?,
        bypass: bypass.unwrap_or_default(),
    })
}

/// The system settings in the order they are consulted: WinHTTP first (the machine's setting,
/// what services use), then the user's Internet Options.
pub fn system_proxies() -> Vec<SystemProxy> {
    winhttp_default()
        .into_iter()
        .chain(user_internet_options())
        .collect()
}
