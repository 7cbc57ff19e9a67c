//! Which HTTP proxy, if any, carries the connection to the collector: the proxy URL (with
//! optional Basic credentials, never shown), the bypass list, and the precedence of the places a
//! proxy can be configured — `--proxy` (or `[collector] proxy`), then `HTTPS_PROXY` and friends,
//! then the system settings (on Windows: WinHTTP, then the logged-on user's Internet Options).
//!
//! Pure decisions over the values read elsewhere (the environment through a closure, the
//! Windows settings by `crate::windows::proxy`), so every rule is unit-tested on any platform.
//! The tunnel itself is [`super::tunnel`].

use std::fmt;
use std::net::IpAddr;

/// Where a proxy setting came from: said in logs and errors, so an operator knows what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySource {
    /// `--proxy` or `CERTFLEET_PROXY`.
    Flag,
    /// `[collector] proxy` in agent.toml.
    ConfigFile,
    /// A standard environment variable (`HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`, ...).
    Environment(&'static str),
    /// The machine's WinHTTP setting (`netsh winhttp set proxy`, Group Policy).
    WinHttp,
    /// The logged-on user's Internet Options (what Edge and Internet Explorer use).
    UserInternetOptions,
}

impl fmt::Display for ProxySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySource::Flag => f.write_str("--proxy"),
            ProxySource::ConfigFile => f.write_str("[collector] proxy"),
            ProxySource::Environment(var) => f.write_str(var),
            ProxySource::WinHttp => f.write_str("the WinHTTP proxy setting (netsh winhttp)"),
            ProxySource::UserInternetOptions => {
                f.write_str("the user's Internet Options proxy setting")
            }
        }
    }
}

/// A proxy setting that cannot be used; names the setting and never its credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ProxyError {
    pub source_name: String,
    pub message: String,
}

impl ProxyError {
    fn new(source: ProxySource, message: impl Into<String>) -> Self {
        Self {
            source_name: source.to_string(),
            message: message.into(),
        }
    }
}

/// Basic credentials for the proxy. `Debug` shows neither part: they must never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// The value of a `Proxy-Authorization` header (RFC 7617).
    pub fn basic_header(&self) -> String {
        use base64ct::{Base64, Encoding};
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", Base64::encode_string(pair.as_bytes()))
    }
}

/// An HTTP proxy: `http://[USER[:PASSWORD]@]HOST[:PORT]`. Displayed without its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Host name or IP address; IPv6 without brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", authority(&self.host, self.port))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credentials are left out on purpose, like in Display.
        write!(
            f,
            "ProxyUrl({self}{})",
            if self.credentials.is_some() {
                ", with credentials"
            } else {
                ""
            }
        )
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl ProxyUrl {
    /// Parses `http://[USER[:PASSWORD]@]HOST[:PORT][/]` or a bare `HOST:PORT` (the form of
    /// `netsh winhttp set proxy` and of many `HTTPS_PROXY` values). The port defaults to 80.
    /// User and password may be percent-encoded (`%40` for `@`).
    pub fn parse(text: &str, source: ProxySource) -> Result<Self, ProxyError> {
        let err = |m: &str| ProxyError::new(source, m.to_owned());
        let text = text.trim();
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(err(
                    "an https:// proxy (TLS to the proxy itself) is not supported; office \
                     proxies take CONNECT over plain http://HOST:PORT, and the tunnel to the \
                     collector is TLS end to end anyway",
                ));
            }
            Some((scheme, _)) => {
                return Err(err(&format!(
                    "proxy scheme {:?} is not supported; only http:// (HTTP CONNECT)",
                    printable(scheme)
                )));
            }
            None => text,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(err("a proxy URL has no path: http://HOST:PORT"));
        }
        // The last '@' separates the credentials: a password may contain an unencoded '@'.
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, rest),
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str, what: &str| {
                    percent_decode(part).ok_or_else(|| {
                        err(&format!(
                            "the {what} in the proxy URL is not valid percent-encoded UTF-8"
                        ))
                    })
                };
                let user = decode(user, "user name")?;
                if user.is_empty() {
                    return Err(err("the proxy URL has credentials without a user name"));
                }
                Some(Credentials {
                    user,
                    password: decode(password, "password")?,
                })
            }
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| err(&format!("{:?} is not HOST[:PORT]", printable(hostport))))?;
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| err(&format!("port {:?} is not 1-65535", printable(p))))?,
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
            && (!host.contains(':') || host.parse::<IpAddr>().is_ok());
        if !valid_host {
            return Err(err(&format!(
                "{:?} is not a host name or IP address",
                printable(host)
            )));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
            credentials,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port text).
fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address without brackets cannot carry a port.
        Some((host, _)) if host.contains(':') => Some((text, None)),
        Some((host, port)) => Some((host, Some(port))),
        None => Some((text, None)),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Text from a setting or a proxy, fit for a message: printable ASCII only, at most 200 chars.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// One entry of a bypass list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BypassEntry {
    /// `*`: every host.
    All,
    /// `<local>` (Windows): host names without a dot.
    Local,
    /// `*.example.com`, `10.1.*`: a wildcard pattern (Windows' syntax).
    Pattern(String),
    /// `example.com` or `.example.com`: the domain and every host below it.
    Domain(String),
    /// An IP address or a CIDR range (`10.0.0.0/8`).
    Network(IpAddr, u8),
}

/// Hosts reached directly, never through the proxy: `NO_PROXY`, `--no-proxy`, `[collector]
/// no_proxy` or the bypass list of the Windows settings. Entries are separated by commas,
/// semicolons or spaces; each is `*`, a host or domain (`example.com` also covers
/// `a.example.com`; a leading dot means the same), a wildcard pattern (`*.example.com`,
/// `10.1.*`), an IP address, a CIDR range (`10.0.0.0/8`) or `<local>` (names without a dot).
/// Ports are not part of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bypass {
    entries: Vec<BypassEntry>,
}

impl Bypass {
    pub fn parse(text: &str) -> Self {
        let entries = text
            .split([',', ';', ' ', '\t', '\r', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let e = e.to_ascii_lowercase();
                if e == "*" {
                    return BypassEntry::All;
                }
                if e == "<local>" {
                    return BypassEntry::Local;
                }
                if e.contains('*') {
                    return BypassEntry::Pattern(e);
                }
                if let Some((net, bits)) = e.split_once('/')
                    && let (Ok(net), Ok(bits)) =
                        (strip_brackets(net).parse::<IpAddr>(), bits.parse::<u8>())
                {
                    return BypassEntry::Network(net, bits);
                }
                match strip_brackets(&e).parse::<IpAddr>() {
                    Ok(ip) => BypassEntry::Network(ip, if ip.is_ipv4() { 32 } else { 128 }),
                    Err(_) => BypassEntry::Domain(
                        e.trim_start_matches("*.")
                            .trim_start_matches('.')
                            .to_owned(),
                    ),
                }
            })
            .collect();
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host` (a name or an IP address, brackets optional) is reached directly.
    pub fn matches(&self, host: &str) -> bool {
        let host = strip_brackets(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| match entry {
            BypassEntry::All => true,
            BypassEntry::Local => ip.is_none() && !host.contains('.'),
            BypassEntry::Pattern(p) => wildcard(p, &host),
            BypassEntry::Domain(d) => {
                host == *d
                    || (host.len() > d.len()
                        && host.ends_with(d.as_str())
                        && host[..host.len() - d.len()].ends_with('.'))
            }
            BypassEntry::Network(net, bits) => ip.is_some_and(|ip| in_network(ip, *net, *bits)),
        })
    }
}

fn strip_brackets(text: &str) -> &str {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text)
}

/// `*` matches any run of characters (Windows' bypass-list wildcards).
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = u32::from(bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = u32::from(bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// What `--proxy` / `[collector] proxy` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyConfig {
    /// Nothing given: the environment, then the system settings.
    #[default]
    Auto,
    /// `none`: always connect directly, whatever the environment or the system say.
    Direct,
    /// This proxy (unless the bypass list names the collector).
    Url(ProxyUrl, ProxySource),
}

impl ProxyConfig {
    /// `--proxy` or `[collector] proxy`: `none` (or `direct`) connects directly, `auto` or an
    /// empty value (an MSI property left empty) means not given, anything else is a proxy URL.
    pub fn from_setting(text: &str, source: ProxySource) -> Result<Self, ProxyError> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("auto") {
            Ok(Self::Auto)
        } else if text.eq_ignore_ascii_case("none") || text.eq_ignore_ascii_case("direct") {
            Ok(Self::Direct)
        } else {
            Ok(Self::Url(ProxyUrl::parse(text, source)?, source))
        }
    }
}

/// A proxy configured in the operating system: its proxy list as the system stores it
/// (`host:port`, or per scheme `http=a:80;https=b:8080`) and its bypass list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemProxy {
    pub source: ProxySource,
    pub proxy_list: String,
    pub bypass: String,
}

impl SystemProxy {
    /// The entry of the proxy list that serves `scheme` (`https`): `https=` first, then an
    /// entry for every scheme. `None` when the list names proxies for other schemes only.
    fn for_scheme(&self, scheme: &str) -> Option<&str> {
        let entries: Vec<&str> = self
            .proxy_list
            .split([';', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let scoped = entries.iter().find_map(|e| {
            let (name, value) = e.split_once('=')?;
            name.eq_ignore_ascii_case(scheme).then_some(value)
        });
        scoped.or_else(|| entries.iter().copied().find(|e| !e.contains('=')))
    }
}

/// How the collector is reached, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Direct {
        /// Why no proxy: nothing configured, `--proxy none`, or a bypass entry (with its source).
        reason: String,
    },
    Proxy {
        proxy: ProxyUrl,
        source: ProxySource,
    },
}

/// The standard variables, in the order curl reads them: for an `https://` collector the
/// lower-case name first. For `http://` (tests only) only the lower-case `http_proxy`, which a
/// CGI client cannot set through a request header.
fn env_vars(scheme: &str) -> &'static [&'static str] {
    if scheme == "http" {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    } else {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    }
}

/// Decides how to reach `host` for a `scheme` (`https`) collector URL.
///
/// Precedence: `--proxy` / `[collector] proxy` (`config`), then the standard environment
/// variables, then the system settings in the order given (on Windows: WinHTTP, then the
/// logged-on user's Internet Options). The bypass list is `no_proxy` (`--no-proxy` or
/// `[collector] no_proxy`) when given; otherwise `NO_PROXY`/`no_proxy` for a proxy from the
/// flag, the configuration or the environment, and the system's own list for a system proxy.
pub fn resolve(
    config: &ProxyConfig,
    no_proxy: Option<&Bypass>,
    scheme: &str,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
    system: &dyn Fn() -> Vec<SystemProxy>,
) -> Result<Route, ProxyError> {
    let env_value = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let env_bypass = || {
        ["no_proxy", "NO_PROXY"]
            .iter()
            .find_map(|v| env_value(v).map(|text| (Bypass::parse(&text), *v)))
    };
    let bypassed = |list: Option<(Bypass, &str)>| -> Option<Route> {
        let (list, name) = match no_proxy {
            Some(list) => (list.clone(), "--no-proxy"),
            None => list?,
        };
        list.matches(host).then(|| Route::Direct {
            reason: format!("{} is in the bypass list ({name})", printable(host)),
        })
    };
    match config {
        ProxyConfig::Direct => {
            return Ok(Route::Direct {
                reason: "proxy = none (--proxy or [collector] proxy)".into(),
            });
        }
        ProxyConfig::Url(proxy, source) => {
            return Ok(bypassed(env_bypass()).unwrap_or_else(|| Route::Proxy {
                proxy: proxy.clone(),
                source: *source,
            }));
        }
        ProxyConfig::Auto => {}
    }
    for name in env_vars(scheme) {
        if let Some(value) = env_value(name) {
            let source = ProxySource::Environment(name);
            let proxy = ProxyUrl::parse(&value, source)?;
            return Ok(bypassed(env_bypass()).unwrap_or(Route::Proxy { proxy, source }));
        }
    }
    for setting in system() {
        let Some(entry) = setting.for_scheme(scheme) else {
            continue;
        };
        let proxy = ProxyUrl::parse(entry, setting.source)?;
        let own = Some((Bypass::parse(&setting.bypass), "the system's bypass list"));
        return Ok(bypassed(own).unwrap_or(Route::Proxy {
            proxy,
            source: setting.source,
        }));
    }
    Ok(Route::Direct {
        reason: "no proxy configured".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ProxyUrl {
        ProxyUrl::parse(text, ProxySource::Flag).unwrap()
    }

    #[test]
    fn proxy_urls_parse_and_never_show_their_credentials() {
        let p = url("http://alice:s%40cret@Proxy.Example:3128/");
        assert_eq!((p.host(), p.port()), ("proxy.example", 3128));
        assert_eq!(p.to_string(), "http://proxy.example:3128");
        let debug = format!("{p:?} {:?}", p.credentials());
        assert!(
            !debug.contains("alice") && !debug.contains("cret"),
            "{debug}"
        );
        assert!(debug.contains("with credentials"), "{debug}");
        // "alice:s@cret" in base64.
        assert_eq!(
            p.credentials().unwrap().basic_header(),
            "Basic YWxpY2U6c0BjcmV0"
        );
        // netsh's bare form, the default port, IPv6, an unencoded '@' in the password.
        assert_eq!(url("10.0.0.1:8080").to_string(), "http://10.0.0.1:8080");
        assert_eq!(url("http://proxy").port(), 80);
        assert_eq!(url("http://[::1]:3128").to_string(), "http://[::1]:3128");
        assert_eq!(
            url("http://u:p@ss@h:1").credentials().unwrap().password,
            "p@ss"
        );
    }

    #[test]
    fn unusable_proxy_urls_are_refused_naming_the_setting() {
        for (text, expect) in [
            ("https://proxy:443", "not supported"),
            ("socks5://proxy:1080", "\"socks5\" is not supported"),
            ("http://proxy:99999", "port \"99999\""),
            ("http://proxy:0", "port \"0\""),
            ("http://proxy:3128/path", "no path"),
            ("http://pro xy:3128", "not a host name"),
            ("http://:pw@proxy:1", "without a user name"),
            ("http://a:%zz@proxy:1", "password"),
        ] {
            let e = ProxyUrl::parse(text, ProxySource::Environment("HTTPS_PROXY")).unwrap_err();
            let shown = e.to_string();
            assert!(shown.starts_with("HTTPS_PROXY: "), "{shown}");
            assert!(shown.contains(expect), "{text}: {shown}");
            assert!(!shown.contains("pw"), "{shown}");
        }
        assert_eq!(
            ProxyConfig::from_setting(" none ", ProxySource::Flag).unwrap(),
            ProxyConfig::Direct
        );
        for auto in ["", "auto", "AUTO"] {
            assert_eq!(
                ProxyConfig::from_setting(auto, ProxySource::Flag).unwrap(),
                ProxyConfig::Auto
            );
        }
    }

    #[test]
    fn bypass_lists_match_hosts_domains_patterns_and_networks() {
        let list = Bypass::parse(
            "localhost, .corp.example;internal.example *.lan 10.0.0.0/8 192.168.1.7 [::1] <local> 172.16.*",
        );
        for host in [
            "localhost",
            "a.corp.example",
            "corp.example",
            "internal.example",
            "x.internal.example",
            "printer.lan",
            "10.20.30.40",
            "192.168.1.7",
            "[::1]",
            "::1",
            "fileserver",
            "172.16.5.5",
            "LOCALHOST.",
        ] {
            assert!(list.matches(host), "{host}");
        }
        for host in [
            "collector.example",
            "notinternal.example",
            "11.0.0.1",
            "192.168.1.8",
            "::2",
            "lan.example",
            "172.17.0.1",
        ] {
            assert!(!list.matches(host), "{host}");
        }
        assert!(Bypass::parse("*").matches("anything.example"));
        assert!(Bypass::parse("").is_empty());
        assert!(!Bypass::parse("").matches("localhost"));
        assert!(Bypass::parse("fd00::/8").matches("fd12::1"));
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn winhttp(list: &str, bypass: &str) -> SystemProxy {
        SystemProxy {
            source: ProxySource::WinHttp,
            proxy_list: list.into(),
            bypass: bypass.into(),
        }
    }

    fn via(route: Route) -> (String, ProxySource) {
        match route {
            Route::Proxy { proxy, source } => (proxy.to_string(), source),
            Route::Direct { reason } => panic!("direct: {reason}"),
        }
    }

    fn direct(route: Route) -> String {
        match route {
            Route::Direct { reason } => reason,
            Route::Proxy { proxy, .. } => panic!("via {proxy}"),
        }
    }

    #[test]
    fn precedence_is_flag_then_environment_then_system() {
        let system = || {
            vec![
                winhttp("http=web:80;https=secure:8443", "<local>"),
                SystemProxy {
                    source: ProxySource::UserInternetOptions,
                    proxy_list: "user-proxy:8080".into(),
                    bypass: String::new(),
                },
            ]
        };
        let env = env_of(&[("HTTPS_PROXY", "http://env:3128"), ("ALL_PROXY", "all:1")]);
        let flag = ProxyConfig::from_setting("http://flag:1", ProxySource::Flag).unwrap();
        let r = |c: &ProxyConfig, env: &dyn Fn(&str) -> Option<String>| {
            resolve(c, None, "https", "collector.example", env, &system).unwrap()
        };
        assert_eq!(
            via(r(&flag, &env)),
            ("http://flag:1".into(), ProxySource::Flag)
        );
        assert_eq!(
            via(r(&ProxyConfig::Auto, &env)),
            (
                "http://env:3128".into(),
                ProxySource::Environment("HTTPS_PROXY")
            )
        );
        // The lower-case spelling wins, as in curl.
        let both = env_of(&[("HTTPS_PROXY", "upper:1"), ("https_proxy", "lower:1")]);
        assert_eq!(via(r(&ProxyConfig::Auto, &both)).0, "http://lower:1");
        let all = env_of(&[("ALL_PROXY", "all:1")]);
        assert_eq!(via(r(&ProxyConfig::Auto, &all)).0, "http://all:1");
        // No environment: WinHTTP's https= entry.
        let none = env_of(&[("HTTPS_PROXY", "  ")]);
        assert_eq!(
            via(r(&ProxyConfig::Auto, &none)),
            ("http://secure:8443".into(), ProxySource::WinHttp)
        );
        // `none` beats everything.
        assert!(direct(r(&ProxyConfig::Direct, &env)).contains("proxy = none"));
        // A WinHTTP list for other schemes only falls through to the user's setting.
        let only_http = || {
            vec![
                winhttp("http=web:80", ""),
                SystemProxy {
                    source: ProxySource::UserInternetOptions,
                    proxy_list: "user-proxy:8080".into(),
                    bypass: String::new(),
                },
            ]
        };
        let route = resolve(
            &ProxyConfig::Auto,
            None,
            "https",
            "c",
            &env_of(&[]),
            &only_http,
        );
        assert_eq!(
            via(route.unwrap()),
            (
                "http://user-proxy:8080".into(),
                ProxySource::UserInternetOptions
            )
        );
        let nothing = resolve(
            &ProxyConfig::Auto,
            None,
            "https",
            "c",
            &env_of(&[]),
            &Vec::new,
        );
        assert!(direct(nothing.unwrap()).contains("no proxy configured"));
    }

    #[test]
    fn bypass_lists_follow_their_source() {
        let env = env_of(&[("HTTPS_PROXY", "env:3128"), ("NO_PROXY", "corp.example")]);
        let no_system = || Vec::new();
        let reason = direct(
            resolve(
                &ProxyConfig::Auto,
                None,
                "https",
                "collector.corp.example",
                &env,
                &no_system,
            )
            .unwrap(),
        );
        assert!(reason.contains("NO_PROXY"), "{reason}");
        // NO_PROXY applies to --proxy too (as in curl); --no-proxy replaces it.
        let flag = ProxyConfig::from_setting("flag:1", ProxySource::Flag).unwrap();
        assert!(matches!(
            resolve(
                &flag,
                None,
                "https",
                "collector.corp.example",
                &env,
                &no_system
            )
            .unwrap(),
            Route::Direct { .. }
        ));
        let only_other = Bypass::parse("other.example");
        assert_eq!(
            via(resolve(
                &flag,
                Some(&only_other),
                "https",
                "collector.corp.example",
                &env,
                &no_system
            )
            .unwrap())
            .0,
            "http://flag:1"
        );
        // A system proxy uses its own list, not NO_PROXY.
        let system = || vec![winhttp("sys:8080", "*.corp.example;<local>")];
        let plain = env_of(&[("NO_PROXY", "elsewhere.example")]);
        assert!(matches!(
            resolve(
                &ProxyConfig::Auto,
                None,
                "https",
                "collector.corp.example",
                &plain,
                &system
            )
            .unwrap(),
            Route::Direct { .. }
        ));
        assert!(matches!(
            resolve(
                &ProxyConfig::Auto,
                None,
                "https",
                "collectorhost",
                &plain,
                &system
            )
            .unwrap(),
            Route::Direct { .. }
        ));
        assert_eq!(
            via(resolve(
                &ProxyConfig::Auto,
                None,
                "https",
                "collector.example",
                &plain,
                &system
            )
            .unwrap())
            .0,
            "http://sys:8080"
        );
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = env_of(&[("https_proxy", "socks5://x:1")]);
        let e = resolve(&ProxyConfig::Auto, None, "https", "c", &env, &Vec::new).unwrap_err();
        assert!(e.to_string().starts_with("https_proxy: "), "{e}");
    }
}
