//! Admission control in front of the `Inventory` service: what is decided about a client
//! before its message is read or the database is asked. tonic reads (and decodes) a call's
//! whole message, up to `limits.max_message_bytes`, before a handler runs, so everything that
//! can be decided from the connection, the client address and the headers is decided here:
//!
//! - [`CappedIncoming`]: at most `grpc.max_connections` open connections; one more is closed
//!   at once, before its TLS handshake (whose own timeout is tonic's, `grpc.tls_handshake_timeout`).
//! - [`Gate`]: a `Report` without a well-formed node key, or an `Enroll` with a malformed one,
//!   is refused unread; a client address that failed authentication too often
//!   (`limits.unauthenticated_per_peer_per_minute`) or enrolls too often
//!   (`limits.enroll_per_peer_per_minute`) is refused unread; at most
//!   `grpc.max_inflight_requests` calls are read at once.
//! - [`Guards::report_rate`]: how often one terminal may report (checked by the service once it
//!   knows the terminal, before any write).
//!
//! Rates are token buckets kept in memory, per replica: behind a load balancer of N replicas a
//! client gets at most N times the rate, which still bounds it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};

use crate::error::RETRY_AFTER_MS;
use crate::metrics::Metrics;
use certfleet_config::{GrpcSettings, Limits};
use certfleet_store::TerminalId;

/// Keys a limiter keeps at most; past that, idle buckets are dropped first.
const MAX_TRACKED_KEYS: usize = 100_000;
/// Length of a node key (and of a reset token): 32 random bytes, hex encoded.
pub const NODE_KEY_LEN: usize = 64;

/// What a rate is counted per: a client address, with IPv6 clients grouped by their /64 (one
/// host usually owns a whole /64 and could otherwise rotate addresses inside it).
pub fn peer_key(addr: SocketAddr) -> IpAddr {
    match addr.ip().to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
        v4 => v4,
    }
}

/// Token buckets by key: `per_period` events per `period`, in bursts of at most `per_period`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `None` when `per_period` is 0: no limit.
    pub fn new(per_period: u32, period: Duration) -> Option<Self> {
        (per_period > 0).then(|| RateLimiter {
            capacity: f64::from(per_period),
            per_second: f64::from(per_period) / period.as_secs_f64(),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
        bucket.updated = now;
    }

    /// How long until `key` has a token again (`Ok` when it has one now); takes it when
    /// `take`.
    fn admit(&self, key: &K, take: bool) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) {
            if !take {
                return Ok(());
            }
            if buckets.len() >= MAX_TRACKED_KEYS {
                self.forget_idle(&mut buckets, now);
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Duration::from_secs_f64(missing / self.per_second).max(Duration::from_millis(1)))
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.admit(key, true)
    }

    /// Whether `key` has a token now, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.admit(key, false)
    }

    /// Drops the buckets that are full again (their keys are idle); if every bucket is still
    /// in use, drops them all: memory stays bounded, at the price of a fresh start for all.
    fn forget_idle(&self, buckets: &mut HashMap<K, Bucket>, now: Instant) {
        buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            b.tokens + elapsed * self.per_second < self.capacity
        });
        if buckets.len() >= MAX_TRACKED_KEYS {
            tracing::warn!(
                keys = buckets.len(),
                "rate limiter full of active clients; starting over"
            );
            buckets.clear();
        }
    }
}

/// Why a call or connection was refused before reaching the service, as counted in
/// `certfleet_grpc_refused_total{reason=…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    ConnectionCap,
    InflightCap,
    MissingNodeKey,
    MalformedNodeKey,
    UnauthenticatedRate,
    EnrollRate,
    ReportRate,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Refusal::ConnectionCap,
        Refusal::InflightCap,
        Refusal::MissingNodeKey,
        Refusal::MalformedNodeKey,
        Refusal::UnauthenticatedRate,
        Refusal::EnrollRate,
        Refusal::ReportRate,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::ConnectionCap => "connection_cap",
            Refusal::InflightCap => "inflight_cap",
            Refusal::MissingNodeKey => "missing_node_key",
            Refusal::MalformedNodeKey => "malformed_node_key",
            Refusal::UnauthenticatedRate => "unauthenticated_rate",
            Refusal::EnrollRate => "enroll_rate",
            Refusal::ReportRate => "report_rate",
        }
    }
}

/// The limits shared by the gate (before a message is read) and the service (after).
#[derive(Debug)]
pub struct Guards {
    inflight: Arc<Semaphore>,
    enroll_rate: Option<RateLimiter<IpAddr>>,
    failure_rate: Option<RateLimiter<IpAddr>>,
    report_rate: Option<RateLimiter<TerminalId>>,
    metrics: Arc<Metrics>,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Guards {
    pub fn new(grpc: &GrpcSettings, limits: &Limits, metrics: Arc<Metrics>) -> Self {
        Guards {
            inflight: Arc::new(Semaphore::new(grpc.max_inflight_requests)),
            enroll_rate: RateLimiter::new(limits.enroll_per_peer_per_minute, MINUTE),
            failure_rate: RateLimiter::new(limits.unauthenticated_per_peer_per_minute, MINUTE),
            report_rate: RateLimiter::new(limits.reports_per_terminal_per_hour, HOUR),
            metrics,
        }
    }

    /// Counts a failed authentication (unknown, missing, malformed or revoked node key, wrong
    /// enroll secret) against the client's address.
    pub fn failed_authentication(&self, peer: Option<SocketAddr>) {
        if let (Some(limiter), Some(peer)) = (&self.failure_rate, peer) {
            let _ = limiter.take(&peer_key(peer));
        }
    }

    /// Takes one report of `terminal` from its hourly budget, or says how long to wait.
    pub fn report_rate(&self, terminal: TerminalId) -> Result<(), Duration> {
        match &self.report_rate {
            Some(limiter) => limiter.take(&terminal).inspect_err(|_| {
                self.metrics.refused(Refusal::ReportRate);
            }),
            None => Ok(()),
        }
    }

    /// The gate's decision for one call, from its path, headers and client address: a permit
    /// to be held while the call runs, or the status to answer at once.
    fn admit<B>(&self, req: &http::Request<B>) -> Result<OwnedSemaphorePermit, Status> {
        let peer = remote_addr(req);
        let key = peer.map(peer_key);
        if let (Some(limiter), Some(key)) = (&self.failure_rate, key)
            && let Err(wait) = limiter.check(&key)
        {
            return Err(self.refuse(
                Refusal::UnauthenticatedRate,
                Code::ResourceExhausted,
                "too many failed authentications from this address",
                Some(wait),
            ));
        }
        let path = req.uri().path();
        let bearer = bearer_header(req.headers());
        if path.ends_with("/Report") {
            match bearer {
                BearerHeader::Absent => {
                    self.failed_authentication(peer);
                    return Err(self.refuse(
                        Refusal::MissingNodeKey,
                        Code::Unauthenticated,
                        "missing node key (metadata authorization: Bearer …)",
                        None,
                    ));
                }
                BearerHeader::Malformed => {
                    self.failed_authentication(peer);
                    return Err(self.refuse(
                        Refusal::MalformedNodeKey,
                        Code::Unauthenticated,
                        "malformed node key: expected authorization: Bearer and 64 hex digits",
                        None,
                    ));
                }
                BearerHeader::WellFormed => {}
            }
        } else if path.ends_with("/Enroll") {
            if bearer == BearerHeader::Malformed {
                self.failed_authentication(peer);
                return Err(self.refuse(
                    Refusal::MalformedNodeKey,
                    Code::Unauthenticated,
                    "malformed node key: expected authorization: Bearer and 64 hex digits",
                    None,
                ));
            }
            if let (Some(limiter), Some(key)) = (&self.enroll_rate, key)
                && let Err(wait) = limiter.take(&key)
            {
                return Err(self.refuse(
                    Refusal::EnrollRate,
                    Code::ResourceExhausted,
                    "too many enrollments from this address",
                    Some(wait),
                ));
            }
        }
        self.inflight.clone().try_acquire_owned().map_err(|_| {
            self.refuse(
                Refusal::InflightCap,
                Code::ResourceExhausted,
                "collector busy",
                Some(Duration::from_secs(3)),
            )
        })
    }

    fn refuse(
        &self,
        why: Refusal,
        code: Code,
        message: &str,
        retry_after: Option<Duration>,
    ) -> Status {
        self.metrics.refused(why);
        let mut status = match retry_after {
            Some(wait) => Status::new(
                code,
                format!("{message}; retry in {} s", wait.as_secs().max(1)),
            ),
            None => Status::new(code, message),
        };
        if let Some(wait) = retry_after {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            if let Ok(v) = ms.to_string().parse() {
                status.metadata_mut().insert(RETRY_AFTER_MS, v);
            }
        }
        status
    }
}

/// The client address tonic recorded for the connection (plain TCP or TLS over TCP).
pub fn remote_addr<B>(req: &http::Request<B>) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerHeader {
    Absent,
    Malformed,
    WellFormed,
}

/// Whether `authorization` holds `Bearer <64 hex digits>`, the only shape a node key (or a
/// reset token) has.
fn bearer_header(headers: &http::HeaderMap) -> BearerHeader {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return BearerHeader::Absent;
    };
    let Ok(value) = value.to_str() else {
        return BearerHeader::Malformed;
    };
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim);
    match key {
        Some(k) if k.len() == NODE_KEY_LEN && k.bytes().all(|b| b.is_ascii_hexdigit()) => {
            BearerHeader::WellFormed
        }
        Some("") => BearerHeader::Absent,
        _ => BearerHeader::Malformed,
    }
}

/// The `Inventory` service behind [`Guards::admit`].
#[derive(Debug, Clone)]
pub struct Gate<S> {
    inner: S,
    guards: Arc<Guards>,
}

impl<S> Gate<S> {
    pub fn new(inner: S, guards: Arc<Guards>) -> Self {
        Gate { inner, guards }
    }
}

impl<S: NamedService> NamedService for Gate<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, ResBody> Service<http::Request<B>> for Gate<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>, Error = Infallible>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match self.guards.admit(&req) {
            Ok(permit) => {
                let call = self.inner.call(req);
                Box::pin(async move {
                    let response = call.await;
                    drop(permit);
                    response
                })
            }
            Err(status) => {
                let response = status.into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// A TCP connection counted against `grpc.max_connections` until it closes.
#[derive(Debug)]
pub struct CappedStream {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Connected for CappedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

impl tokio::io::AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The accepted connections of `listener`, each holding one of `max` slots; a connection
/// beyond the cap is closed at once (the client sees a reset and retries with backoff), and
/// counted.
pub fn capped_incoming(
    listener: tokio::net::TcpListener,
    max: usize,
    metrics: Arc<Metrics>,
) -> impl tokio_stream::Stream<Item = std::io::Result<CappedStream>> {
    use tokio_stream::StreamExt as _;
    let slots = Arc::new(Semaphore::new(max));
    tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(move |accepted| {
        match accepted {
            Ok(io) => match slots.clone().try_acquire_owned() {
                Ok(slot) => Some(Ok(CappedStream { io, _slot: slot })),
                Err(_) => {
                    metrics.refused(Refusal::ConnectionCap);
                    tracing::debug!(peer = ?io.peer_addr().ok(), max, "connection cap reached; closing");
                    None
                }
            },
            Err(e) => Some(Err(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn buckets_refill_over_time_and_say_how_long_to_wait() {
        let limiter = RateLimiter::new(3, MINUTE).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.take(&"a"), Ok(()));
        }
        let wait = limiter.take(&"a").unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(limiter.take(&"b"), Ok(()), "keys are separate");
        assert!(limiter.check(&"a").is_err());
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(limiter.check(&"a"), Ok(()));
        assert_eq!(limiter.take(&"a"), Ok(()));
        assert!(limiter.take(&"a").is_err());
        assert!(
            RateLimiter::<u8>::new(0, MINUTE).is_none(),
            "0 means no limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_key_table_stays_bounded() {
        let limiter = RateLimiter::new(1, MINUTE).unwrap();
        for i in 0..MAX_TRACKED_KEYS as u32 + 10 {
            let _ = limiter.take(&i);
        }
        let len = limiter.buckets.lock().unwrap().len();
        assert!(len <= MAX_TRACKED_KEYS, "{len}");
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:5000".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:6000".parse().unwrap();
        let c: SocketAddr = "[2001:db8:1:3::1]:6000".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(c));
        let v4: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:1".parse().unwrap();
        assert_eq!(peer_key(v4), peer_key(mapped));
    }

    #[test]
    fn only_bearer_and_64_hex_digits_is_a_node_key() {
        let with = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
            bearer_header(&h)
        };
        assert_eq!(bearer_header(&http::HeaderMap::new()), BearerHeader::Absent);
        assert_eq!(
            with(&format!("Bearer {}", "ab".repeat(32))),
            BearerHeader::WellFormed
        );
        assert_eq!(
            with(&format!("bearer {}", "AB".repeat(32))),
            BearerHeader::WellFormed
        );
        for bad in [
            "Bearer short".to_owned(),
            format!("Bearer {}", "zz".repeat(32)),
            format!("Basic {}", "ab".repeat(32)),
            format!("Bearer {}", "a".repeat(100_000)),
        ] {
            assert_eq!(with(&bad), BearerHeader::Malformed, "{}", &bad[..20]);
        }
    }
}
