//! Who an HTTP request comes from and what it may open, decided per request for the whole
//! HTTP listener (dashboard, report API, `/metrics`): never by the address the listener is
//! bound to, because a reverse proxy on the same host makes every visitor look local.
//!
//! The rules, in one place:
//! - **Configured means closed.** As soon as dashboard users, an API token or a metrics token
//!   exist, every protected route needs a credential: a session (dashboard), the API token
//!   (dashboard, API, metrics) or the metrics token (`/metrics` only).
//! - **The no-login convenience** of a fresh install is only for a *direct local client*: the
//!   TCP peer is a loopback address, it is not a declared proxy, and the request carries no
//!   `Forwarded`, `Via`, `X-Forwarded-*` or `X-Real-IP` header. And only while nothing at all
//!   is configured.
//! - **`Host` allow-list.** A browser request names the host it thinks it talks to. IP
//!   literals and `localhost` are always accepted (DNS rebinding needs a DNS name); any other
//!   name must be listed, so a page on `evil.example` whose name was rebound to 127.0.0.1
//!   cannot read a local dashboard.
//! - **Trusted proxies** (addresses or networks) are never local; their `X-Forwarded-For`
//!   (or `Forwarded: for=`) names the client for throttling and logs, and their
//!   `X-Forwarded-Host` is the host the browser used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

/// What the access rules need to know, from the collector's `[http]` and `[dashboard]`.
#[derive(Clone, Default)]
pub struct AccessConfig {
    /// Bearer token of the report API; also opens the dashboard and `/metrics` for scripts.
    pub api_token: Option<String>,
    /// Bearer token that opens `/metrics` only (for Prometheus).
    pub metrics_token: Option<String>,
    /// Whether any dashboard account exists.
    pub users_configured: bool,
    /// Reverse proxies in front of the listener.
    pub trusted_proxies: Vec<IpNet>,
    /// Host names (lower case, no port) accepted in `Host` besides IP literals and
    /// `localhost`.
    pub allowed_hosts: Vec<String>,
}

// Hand-written so that the tokens never reach a log.
impl std::fmt::Debug for AccessConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |t: &Option<String>| t.as_ref().map(|_| "<redacted>");
        f.debug_struct("AccessConfig")
            .field("api_token", &redacted(&self.api_token))
            .field("metrics_token", &redacted(&self.metrics_token))
            .field("users_configured", &self.users_configured)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// The access rules of one listener; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Access(Arc<AccessConfig>);

/// The peer of a request as far as the listener can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The TCP peer (`None` when the server recorded none: treated as remote).
    pub peer: Option<SocketAddr>,
    /// The client's address: the peer, or through trusted proxies the address they name.
    pub address: Option<IpAddr>,
    /// A loopback peer, not a declared proxy, with no forwarding header.
    pub local_direct: bool,
    /// The peer is a declared reverse proxy.
    pub via_trusted_proxy: bool,
}

/// What a request's credentials allow on a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No credential, and the route is not open to this client.
    Missing,
    /// A bearer token was sent and is not one this route accepts.
    Invalid,
}

/// Header names a forwarding proxy adds. Any of them means "not a direct local client".
fn is_forwarding_header(name: &str) -> bool {
    name == "forwarded"
        || name == "via"
        || name == "x-real-ip"
        || name == "x-client-ip"
        || name == "true-client-ip"
        || name.starts_with("x-forwarded-")
}

impl Access {
    pub fn new(config: AccessConfig) -> Self {
        Access(Arc::new(config))
    }

    pub fn config(&self) -> &AccessConfig {
        &self.0
    }

    /// Whether anything that asks for a login (users, a token) is configured.
    pub fn anything_configured(&self) -> bool {
        self.0.users_configured || self.0.api_token.is_some() || self.0.metrics_token.is_some()
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.0.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// Classifies the peer of a request (the server puts `ConnectInfo<SocketAddr>` in its
    /// extensions).
    pub fn client(&self, extensions: &Extensions, headers: &HeaderMap) -> Client {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| SocketAddr::new(addr.ip().to_canonical(), addr.port()));
        let forwarded = headers
            .keys()
            .any(|name| is_forwarding_header(name.as_str()));
        let via_trusted_proxy = peer.is_some_and(|p| self.trusted(p.ip()));
        let local_direct =
            peer.is_some_and(|p| p.ip().is_loopback()) && !via_trusted_proxy && !forwarded;
        let address = match peer {
            Some(p) if via_trusted_proxy => Some(self.forwarded_client(headers).unwrap_or(p.ip())),
            Some(p) => Some(p.ip()),
            None => None,
        };
        Client {
            peer,
            address,
            local_direct,
            via_trusted_proxy,
        }
    }

    /// The client named by trusted proxies: the right-most `X-Forwarded-For` (else
    /// `Forwarded: for=`) entry that is not itself a trusted proxy. Entries left of it were
    /// written by the client and prove nothing.
    fn forwarded_client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let values = |name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect::<Vec<_>>()
        };
        let mut hops = values("x-forwarded-for");
        if hops.is_empty() {
            hops = values("forwarded")
                .into_iter()
                .flat_map(|element| element.split(';'))
                .filter_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
                })
                .collect();
        }
        for hop in hops.into_iter().rev() {
            let ip = parse_hop(hop)?;
            if !self.trusted(ip) {
                return Some(ip);
            }
        }
        None
    }

    /// The no-login convenience: nothing configured and a direct local client.
    pub fn open_locally(&self, client: &Client) -> bool {
        client.local_direct && !self.anything_configured()
    }

    /// `Authorization: Bearer …` checked against the tokens `accepted` names; `None` without
    /// such a header.
    fn bearer(&self, headers: &HeaderMap, accept_metrics_token: bool) -> Option<bool> {
        let given = bearer_token(headers)?;
        let matches = |t: &Option<String>| {
            t.as_deref()
                .is_some_and(|t| !t.is_empty() && secret_eq(t, given))
        };
        Some(matches(&self.0.api_token) || (accept_metrics_token && matches(&self.0.metrics_token)))
    }

    fn decide(&self, client: &Client, bearer: Option<bool>) -> Decision {
        match bearer {
            Some(true) => Decision::Allowed,
            Some(false) => Decision::Invalid,
            None if self.open_locally(client) => Decision::Allowed,
            None => Decision::Missing,
        }
    }

    /// `/api/v1/…`: the API token, or the local convenience.
    pub fn api(&self, client: &Client, headers: &HeaderMap) -> Decision {
        self.decide(client, self.bearer(headers, false))
    }

    /// `/metrics`: the metrics token or the API token, or the local convenience.
    pub fn metrics(&self, client: &Client, headers: &HeaderMap) -> Decision {
        self.decide(client, self.bearer(headers, true))
    }

    /// A dashboard page without a session: the API token (scripts), or the local
    /// convenience.
    pub fn dashboard_without_session(&self, client: &Client, headers: &HeaderMap) -> Decision {
        self.decide(client, self.bearer(headers, false))
    }

    /// The host the browser addressed: `X-Forwarded-Host` set by a trusted proxy, else `Host`
    /// (HTTP/1) or the URI's authority (HTTP/2). `None` for a request that names none (not
    /// a browser).
    pub fn request_host(&self, client: &Client, headers: &HeaderMap, uri: &Uri) -> Option<String> {
        let header_value = |name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if client.via_trusted_proxy
            && let Some(h) = header_value("x-forwarded-host")
        {
            return Some(h);
        }
        header_value(header::HOST.as_str()).or_else(|| uri.authority().map(|a| a.to_string()))
    }

    /// Whether `host` (as sent, port included) may be answered: an IP literal, `localhost`
    /// or an allowed name.
    pub fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = host_without_port(host) else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || self.0.allowed_hosts.contains(&name)
    }
}

/// `host[:port]` or `[v6][:port]` → the host part; `None` when malformed.
fn host_without_port(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return Some(v6);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// One `X-Forwarded-For` / `Forwarded: for=` entry: `1.2.3.4`, `1.2.3.4:5`, `"[::1]:5"`, `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(ip, _)| ip.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares two secrets without leaking where they differ: both are MAC'd under a random key
/// and the MACs compared in constant time (hmac's `verify_slice`).
pub fn secret_eq(a: &str, b: &str) -> bool {
    let key = rand::random::<[u8; 32]>();
    let mut ma = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    ma.update(a.as_bytes());
    let tag = ma.finalize().into_bytes();
    let mut mb = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mb.update(b.as_bytes());
    mb.verify_slice(&tag).is_ok()
}

/// Middleware for every route of the listener: answers `421 Misdirected Request` when the
/// request names a host that is not allowed (see the module documentation).
pub async fn check_host(State(access): State<Access>, request: Request, next: Next) -> Response {
    let client = access.client(request.extensions(), request.headers());
    match access.request_host(&client, request.headers(), request.uri()) {
        Some(host) if !access.host_allowed(&host) => {
            tracing::info!(
                host = %crate::auth::loggable(&host),
                "HTTP request for a host that is not in [http] allowed_hosts refused"
            );
            (
                StatusCode::MISDIRECTED_REQUEST,
                "unknown host: this collector answers only for the names in [http] allowed_hosts\n",
            )
                .into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ext(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        e
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn local_means_a_loopback_peer_without_forwarding_headers() {
        let open = Access::default();
        let c = open.client(&ext("127.0.0.1:5000"), &HeaderMap::new());
        assert!(c.local_direct && open.open_locally(&c));
        let mapped = open.client(&ext("[::ffff:127.0.0.1]:5000"), &HeaderMap::new());
        assert!(
            mapped.local_direct,
            "IPv4-mapped loopback on a dual-stack socket"
        );
        for h in [
            ("x-forwarded-for", "192.0.2.7"),
            ("forwarded", "for=192.0.2.7"),
            ("x-real-ip", "192.0.2.7"),
            ("via", "1.1 proxy"),
            ("x-forwarded-proto", "https"),
        ] {
            let c = open.client(&ext("127.0.0.1:5000"), &headers(&[h]));
            assert!(!c.local_direct && !open.open_locally(&c), "{h:?}");
        }
        let remote = open.client(&ext("192.0.2.1:5000"), &HeaderMap::new());
        assert!(!remote.local_direct);
        let unknown = open.client(&Extensions::new(), &HeaderMap::new());
        assert!(!unknown.local_direct && unknown.peer.is_none());
    }

    #[test]
    fn anything_configured_closes_the_local_convenience() {
        let local = Access::default().client(&ext("127.0.0.1:5000"), &HeaderMap::new());
        for config in [
            AccessConfig {
                users_configured: true,
                ..Default::default()
            },
            AccessConfig {
                api_token: Some("api-token-123456".into()),
                ..Default::default()
            },
            AccessConfig {
                metrics_token: Some("metrics-token-123456".into()),
                ..Default::default()
            },
        ] {
            let access = Access::new(config);
            assert!(!access.open_locally(&local), "{:?}", access.config());
            assert_eq!(access.api(&local, &HeaderMap::new()), Decision::Missing);
            assert_eq!(access.metrics(&local, &HeaderMap::new()), Decision::Missing);
        }
    }

    #[test]
    fn tokens_open_their_routes_only() {
        let access = Access::new(AccessConfig {
            api_token: Some("api-token-123456".into()),
            metrics_token: Some("metrics-token-123456".into()),
            ..Default::default()
        });
        let remote = access.client(&ext("192.0.2.1:5000"), &HeaderMap::new());
        let api = headers(&[("authorization", "Bearer api-token-123456")]);
        let metrics = headers(&[("authorization", "bearer metrics-token-123456")]);
        let wrong = headers(&[("authorization", "Bearer nope")]);
        assert_eq!(access.api(&remote, &api), Decision::Allowed);
        assert_eq!(access.metrics(&remote, &api), Decision::Allowed);
        assert_eq!(access.metrics(&remote, &metrics), Decision::Allowed);
        assert_eq!(access.api(&remote, &metrics), Decision::Invalid);
        assert_eq!(
            access.dashboard_without_session(&remote, &metrics),
            Decision::Invalid
        );
        assert_eq!(access.api(&remote, &wrong), Decision::Invalid);
        assert_eq!(access.api(&remote, &HeaderMap::new()), Decision::Missing);
    }

    #[test]
    fn trusted_proxies_are_never_local_and_name_the_client() {
        let access = Access::new(AccessConfig {
            trusted_proxies: vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            ..Default::default()
        });
        let c = access.client(&ext("127.0.0.1:5000"), &HeaderMap::new());
        assert!(c.via_trusted_proxy && !c.local_direct && !access.open_locally(&c));
        // The client-written left part is ignored; the right-most untrusted hop counts.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 192.0.2.9, 10.1.1.1")]);
        let c = access.client(&ext("127.0.0.1:5000"), &h);
        assert_eq!(c.address, Some("192.0.2.9".parse().unwrap()));
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        let c = access.client(&ext("10.0.0.5:5000"), &h);
        assert_eq!(c.address, Some("2001:db8::1".parse().unwrap()));
        // From an untrusted peer the header is the peer's own claim: ignored.
        let h = headers(&[("x-forwarded-for", "192.0.2.9")]);
        let c = access.client(&ext("198.51.100.1:5000"), &h);
        assert_eq!(c.address, Some("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn hosts_ip_literals_localhost_and_listed_names() {
        let access = Access::new(AccessConfig {
            allowed_hosts: vec!["certfleet.example.org".into()],
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        });
        for ok in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "192.0.2.10",
            "localhost:8080",
            "LOCALHOST",
            "certfleet.example.org",
            "Certfleet.Example.Org.:443",
        ] {
            assert!(access.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "a:b:c",
            "[::1",
        ] {
            assert!(!access.host_allowed(bad), "{bad}");
        }
        // Behind a trusted proxy the forwarded host is what the browser used.
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let proxied = access.client(&ext("127.0.0.1:1"), &h);
        assert_eq!(
            access
                .request_host(&proxied, &h, &Uri::from_static("/"))
                .as_deref(),
            Some("evil.example")
        );
        let direct = access.client(&ext("192.0.2.1:1"), &h);
        assert_eq!(
            access
                .request_host(&direct, &h, &Uri::from_static("/"))
                .as_deref(),
            Some("127.0.0.1:8080")
        );
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secret_eq("tok", "tok"));
        assert!(!secret_eq("tok", "tok2"));
    }
}
