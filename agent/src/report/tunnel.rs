//! The HTTP `CONNECT` tunnel through an office proxy (RFC 9110 §9.3.6): a TCP connection to the
//! proxy, one `CONNECT collector:port` request (with `Proxy-Authorization: Basic` when the
//! proxy URL has credentials), and the proxy's status line. After a `2xx` the connection is a
//! byte pipe to the collector, and tonic runs TLS and HTTP/2 over it exactly as over a direct
//! connection: the proxy sees only the tunnel's end points, never the traffic, and the
//! collector's certificate is checked end to end.
//!
//! Hand-rolled (about a hundred lines over a tokio `TcpStream`) rather than a proxy crate: the
//! agent needs only this one request, and stays free of HTTP server code.
//!
//! [`CollectorConnector`] is tonic's connector for every connection, direct or tunnelled: both
//! reach their first hop with hyper-util's `HttpConnector` (as tonic's default connector does:
//! happy eyeballs, `TCP_NODELAY`), and one connector type keeps a single copy of tonic's
//! connection stack in the binary.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Uri;

use super::proxy::{ProxyUrl, authority, printable};

/// Longest proxy response header read before giving up (real ones are a few hundred bytes).
const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// Why the tunnel was not opened. Names the proxy (never its credentials) and the target.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("cannot reach the proxy {proxy}: {reason}")]
    Unreachable { proxy: String, reason: String },
    #[error("the proxy {proxy} refused to open a tunnel to {target}: {status_line}")]
    Refused {
        proxy: String,
        target: String,
        status: u16,
        status_line: String,
    },
    #[error(
        "the proxy {proxy} requires authentication ({status_line}): give the credentials in the \
         proxy URL, http://USER:PASSWORD@HOST:PORT"
    )]
    AuthenticationRequired { proxy: String, status_line: String },
    #[error("the proxy {proxy} did not accept the credentials in the proxy URL ({status_line})")]
    CredentialsRejected { proxy: String, status_line: String },
    #[error(
        "the proxy {proxy} did not answer the CONNECT to {target} within {seconds:.1} s (can the \
         proxy reach the collector?)"
    )]
    NoAnswer {
        proxy: String,
        target: String,
        seconds: f64,
    },
    #[error("the proxy {proxy} sent an invalid answer to CONNECT {target}: {detail}")]
    BadResponse {
        proxy: String,
        target: String,
        detail: String,
    },
}

impl TunnelError {
    /// Whether trying again can help: the proxy or the network may come back, and a `5xx`
    /// (the proxy could not reach the collector) is the collector's outage seen through the
    /// proxy. A `4xx` refusal or rejected credentials stay until someone changes the setting.
    pub fn is_permanent(&self) -> bool {
        match self {
            TunnelError::Refused { status, .. } => (400..500).contains(status),
            TunnelError::AuthenticationRequired { .. }
            | TunnelError::CredentialsRejected { .. } => true,
            TunnelError::Unreachable { .. }
            | TunnelError::NoAnswer { .. }
            | TunnelError::BadResponse { .. } => false,
        }
    }
}

/// An error and its sources on one line ("tcp connect error: Connection refused (os error 111)").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Asks the proxy at the other end of `stream` for a tunnel to `host:port`. On success the
/// stream is positioned right after the proxy's response header: the header is read one byte
/// at a time, so not one byte of the tunnel (the collector's TLS) is consumed here.
pub async fn handshake(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), TunnelError> {
    let shown = proxy.to_string();
    let target = authority(host, port);
    let mut request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: certfleet-agent/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(credentials) = proxy.credentials() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&credentials.basic_header());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let lost = |e: io::Error| TunnelError::Unreachable {
        proxy: shown.clone(),
        reason: e.to_string(),
    };
    stream.write_all(request.as_bytes()).await.map_err(lost)?;
    drop(request);

    let bad = |detail: String| TunnelError::BadResponse {
        proxy: shown.clone(),
        target: target.clone(),
        detail,
    };
    // The header up to the empty line. Only the status line matters.
    let mut header = Vec::with_capacity(256);
    while !header.ends_with(b"\r\n\r\n") && !header.ends_with(b"\n\n") {
        if header.len() >= MAX_RESPONSE_HEADER {
            return Err(bad(format!(
                "response header longer than {MAX_RESPONSE_HEADER} bytes"
            )));
        }
        match stream.read_u8().await {
            Ok(byte) => header.push(byte),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(bad(
                    "the connection closed before the end of the response header".into(),
                ));
            }
            Err(e) => return Err(lost(e)),
        }
    }
    let text = String::from_utf8_lossy(&header);
    let status_line = printable(
        text.lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r'),
    );
    let status = parse_status(&status_line)
        .ok_or_else(|| bad(format!("not an HTTP status line: {status_line:?}")))?;
    match status {
        200..=299 => Ok(()),
        407 | 401 if proxy.credentials().is_some() => Err(TunnelError::CredentialsRejected {
            proxy: shown,
            status_line,
        }),
        407 => Err(TunnelError::AuthenticationRequired {
            proxy: shown,
            status_line,
        }),
        status => Err(TunnelError::Refused {
            proxy: shown,
            target,
            status,
            status_line,
        }),
    }
}

/// The code of `HTTP/1.x NNN reason`.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then_some(())?;
    code.parse().ok()
}

/// tonic's connector to the collector (`Endpoint::connect_with_connector_lazy`; tonic puts TLS
/// on top, with the collector's name): directly, or through a new tunnel per connection.
#[derive(Debug, Clone)]
pub struct CollectorConnector {
    http: HttpConnector,
    tunnel: Option<(Arc<ProxyUrl>, Duration)>,
}

impl CollectorConnector {
    /// Configured as tonic configures its own: the connect timeout is split across the host's
    /// addresses, so one unreachable address (a broken IPv6 route) does not use it all up.
    fn http(connect_timeout: Duration) -> HttpConnector {
        let mut http = HttpConnector::new();
        // The URI is the collector's https:// URL; TLS is tonic's business.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http
    }

    /// Straight to the collector.
    pub fn direct(rpc_timeout: Duration) -> Self {
        Self {
            http: Self::http(rpc_timeout),
            tunnel: None,
        }
    }

    /// Through `proxy`. `rpc_timeout` is the endpoint's connect timeout, which also covers the
    /// TLS handshake and ends in an anonymous "deadline has elapsed"; the tunnel gives up a
    /// little earlier, so a proxy that accepts the connection but never answers is named.
    pub fn through(proxy: ProxyUrl, rpc_timeout: Duration) -> Self {
        Self {
            http: Self::http(rpc_timeout),
            tunnel: Some((Arc::new(proxy), rpc_timeout.mul_f64(0.9))),
        }
    }
}

/// Connects to the proxy and opens the tunnel to `host:port`, within `deadline`.
async fn tunnel(
    mut http: HttpConnector,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    deadline: Duration,
) -> Result<TcpStream, TunnelError> {
    let open = async {
        let unreachable = |reason: String| TunnelError::Unreachable {
            proxy: proxy.to_string(),
            reason,
        };
        let uri: Uri = format!("http://{}", authority(proxy.host(), proxy.port()))
            .parse()
            .map_err(|e: tonic::codegen::http::uri::InvalidUri| unreachable(e.to_string()))?;
        let mut stream = tower_service::Service::call(&mut http, uri)
            .await
            .map_err(|e| unreachable(chain(&e)))?
            .into_inner();
        handshake(&mut stream, proxy, host, port).await?;
        Ok(stream)
    };
    tokio::time::timeout(deadline, open)
        .await
        .unwrap_or_else(|_| {
            Err(TunnelError::NoAnswer {
                proxy: proxy.to_string(),
                target: authority(host, port),
                seconds: deadline.as_secs_f64(),
            })
        })
}

impl tower_service::Service<Uri> for CollectorConnector {
    type Response = TokioIo<TcpStream>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some((proxy, deadline)) = self.tunnel.clone() else {
            let connecting = self.http.call(uri);
            return Box::pin(async move { Ok(connecting.await?) });
        };
        let http = self.http.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
                .to_owned();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            let stream = tunnel(http, &proxy, &host, port, deadline).await?;
            tracing::debug!(proxy = %proxy, target = %authority(&host, port), "tunnel open");
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::proxy::ProxySource;
    use tokio::net::TcpListener;

    /// The connector's tunnel path, as tonic's connection attempts take it.
    async fn connect(proxy: &ProxyUrl, host: &str, port: u16) -> Result<TcpStream, TunnelError> {
        tunnel(
            CollectorConnector::http(Duration::from_secs(10)),
            proxy,
            host,
            port,
            Duration::from_secs(10),
        )
        .await
    }

    /// A one-shot proxy on loopback: reads the request header, answers `reply`, then echoes
    /// one line so the test can see the tunnel carry bytes. Returns the request it saw.
    async fn fake_proxy(reply: &'static [u8]) -> (ProxyUrl, tokio::task::JoinHandle<String>) {
        fake_proxy_then(reply, true).await
    }

    /// As [`fake_proxy`]; with `echo` false the proxy closes right after its reply.
    async fn fake_proxy_then(
        reply: &'static [u8],
        echo: bool,
    ) -> (ProxyUrl, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut byte = [0u8; 1];
            while !seen.ends_with(b"\r\n\r\n") {
                if socket.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                seen.push(byte[0]);
            }
            socket.write_all(reply).await.unwrap();
            if !echo {
                return String::from_utf8(seen).unwrap();
            }
            let mut buf = [0u8; 64];
            if let Ok(n) = socket.read(&mut buf).await {
                let _ = socket.write_all(&buf[..n]).await;
            }
            String::from_utf8(seen).unwrap()
        });
        let url = ProxyUrl::parse(&format!("http://127.0.0.1:{port}"), ProxySource::Flag).unwrap();
        (url, task)
    }

    #[tokio::test]
    async fn an_accepted_connect_becomes_a_byte_pipe_keeping_early_bytes() {
        // The proxy's header and the first tunnel bytes arrive in one segment.
        let (proxy, task) =
            fake_proxy(b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nEARLY").await;
        let mut stream = connect(&proxy, "collector.example", 50051).await.unwrap();
        let mut early = [0u8; 5];
        stream.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"EARLY");
        stream.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        let request = task.await.unwrap();
        assert!(
            request.starts_with(
                "CONNECT collector.example:50051 HTTP/1.1\r\nHost: collector.example:50051\r\n"
            ),
            "{request}"
        );
        assert!(!request.contains("Proxy-Authorization"), "{request}");
    }

    #[tokio::test]
    async fn credentials_go_in_a_basic_header() {
        let (plain, task) = fake_proxy(b"HTTP/1.0 200 OK\r\n\r\n").await;
        let with_auth = ProxyUrl::parse(
            &format!("http://alice:s3cr3t@127.0.0.1:{}", plain.port()),
            ProxySource::Flag,
        )
        .unwrap();
        connect(&with_auth, "::1", 443).await.unwrap();
        let request = task.await.unwrap();
        assert!(
            request.starts_with("CONNECT [::1]:443 HTTP/1.1\r\n"),
            "{request}"
        );
        // base64("alice:s3cr3t")
        assert!(
            request.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn refusals_name_the_proxy_and_the_status_line() {
        let (proxy, _task) = fake_proxy(b"HTTP/1.1 403 Forbidden\r\nServer: x\r\n\r\n").await;
        let e = connect(&proxy, "collector.example", 50051)
            .await
            .unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            format!(
                "the proxy {proxy} refused to open a tunnel to collector.example:50051: HTTP/1.1 403 Forbidden"
            )
        );
        let (proxy, _task) = fake_proxy(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        let e = connect(&proxy, "collector.example", 50051)
            .await
            .unwrap_err();
        assert!(!e.is_permanent(), "the collector may be down: retry");
        let (proxy, _task) =
            fake_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let e = connect(&proxy, "c", 1).await.unwrap_err();
        assert!(
            matches!(e, TunnelError::AuthenticationRequired { .. }),
            "{e}"
        );
        assert!(e.is_permanent());
    }

    #[tokio::test]
    async fn garbage_and_silence_are_bad_responses_without_raw_bytes() {
        let (proxy, _task) = fake_proxy(b"SSH-2.0-OpenSSH\x01\x02\r\n\r\n").await;
        let e = connect(&proxy, "c", 1).await.unwrap_err().to_string();
        assert!(e.contains("not an HTTP status line"), "{e}");
        assert!(!e.contains('\u{1}'), "{e}");
        let (proxy, _task) = fake_proxy_then(b"HTTP/1.1 200 OK\r\n", false).await;
        let e = connect(&proxy, "c", 1).await.unwrap_err().to_string();
        assert!(
            e.contains("closed before the end of the response header"),
            "{e}"
        );
        // Nobody listening at all.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let proxy = ProxyUrl::parse(&format!("127.0.0.1:{port}"), ProxySource::Flag).unwrap();
        let e = connect(&proxy, "c", 1).await.unwrap_err();
        assert!(matches!(e, TunnelError::Unreachable { .. }));
        assert!(
            e.to_string()
                .starts_with(&format!("cannot reach the proxy http://127.0.0.1:{port}: ")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_proxy_that_never_answers_is_named() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts, reads, never answers.
        let _silent = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = socket.read_to_end(&mut sink).await;
        });
        let proxy = ProxyUrl::parse(&format!("127.0.0.1:{port}"), ProxySource::Flag).unwrap();
        let e = tunnel(
            CollectorConnector::http(Duration::from_secs(10)),
            &proxy,
            "c",
            1,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(!e.is_permanent());
        assert_eq!(
            e.to_string(),
            format!(
                "the proxy http://127.0.0.1:{port} did not answer the CONNECT to c:1 within 0.3 s \
                 (can the proxy reach the collector?)"
            )
        );
    }

    #[test]
    fn status_lines_parse_strictly() {
        assert_eq!(
            parse_status("HTTP/1.1 200 Connection established"),
            Some(200)
        );
        assert_eq!(parse_status("HTTP/1.0 407"), Some(407));
        assert_eq!(parse_status("HTTP/2 200"), None);
        assert_eq!(parse_status("HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status("ICY 200 OK"), None);
    }
}
