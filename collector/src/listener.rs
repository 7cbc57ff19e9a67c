//! The HTTP connection loop (API, metrics, dashboard): hyper's HTTP/1 and HTTP/2 server with
//! the limits `axum::serve` lacks. A client must send its request headers within
//! `header_read_timeout` (slowloris); a connection on which nothing is read or written for
//! `idle_timeout` is closed; a response write that a client does not take for
//! `write_timeout` (it stopped reading a streamed report) closes the connection, which drops
//! the response body and so stops its producer. At most `max_connections` are served at once;
//! more wait in the kernel's backlog. Every request carries `ConnectInfo<SocketAddr>`, the
//! TCP peer the access rules look at.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use certfleet_config::HttpSettings;

/// The connection limits of the HTTP listener (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
}

impl From<&HttpSettings> for ConnectionLimits {
    fn from(http: &HttpSettings) -> Self {
        Self {
            header_read_timeout: http.header_read_timeout,
            idle_timeout: http.idle_timeout,
            write_timeout: http.write_timeout,
            max_connections: http.max_connections,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        (&HttpSettings::default()).into()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the open
/// connections to finish (the timeouts bound how long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // No HTTP/2 keep-alive pings: their answers would count as traffic and keep an idle
    // connection open forever.
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(TimedIo::new(
            stream,
            limits.idle_timeout,
            limits.write_timeout,
        ));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(io, service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A TCP stream that fails a read pending for `idle` and a write pending for `write`, both
/// counted from the last byte that moved in either direction (so a long download is not
/// idle, and a client waiting for a slow answer is idle only when nothing moves at all).
struct TimedIo {
    inner: TcpStream,
    idle: Duration,
    write: Duration,
    last_progress: Instant,
    read_deadline: Pin<Box<Sleep>>,
    write_deadline: Pin<Box<Sleep>>,
}

impl TimedIo {
    fn new(inner: TcpStream, idle: Duration, write: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            write,
            last_progress: now,
            read_deadline: Box::pin(tokio::time::sleep_until(now + idle)),
            write_deadline: Box::pin(tokio::time::sleep_until(now + write)),
        }
    }
}

/// `Pending`, or the timeout error once `timer` (re-armed to `deadline`) has fired.
fn pending_or_timeout<T>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    what: &'static str,
    cx: &mut Context<'_>,
) -> Poll<io::Result<T>> {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    match timer.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
        Poll::Pending => Poll::Pending,
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.last_progress = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let deadline = this.last_progress + this.idle;
                pending_or_timeout(
                    &mut this.read_deadline,
                    deadline,
                    "HTTP connection idle",
                    cx,
                )
            }
        }
    }
}

impl TimedIo {
    /// Counts a write that moved bytes as progress; a pending one runs the write timer.
    /// (Flushes never count: on a TCP stream they complete at once, moving nothing.)
    fn after_write<T>(
        &mut self,
        polled: Poll<io::Result<T>>,
        moved: impl Fn(&T) -> bool,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                if result.as_ref().is_ok_and(moved) {
                    self.last_progress = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let deadline = self.last_progress + self.write;
                pending_or_timeout(
                    &mut self.write_deadline,
                    deadline,
                    "HTTP client stopped reading",
                    cx,
                )
            }
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        this.after_write(polled, |n| *n > 0, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(polled, |n| *n > 0, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.after_write(polled, |()| false, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.after_write(polled, |()| false, cx)
    }
}
