//! The HTTP connection loop (`certfleet_collector::listener`) over real loopback sockets:
//! a client that sends its headers too slowly, one that stays idle, and one that stops
//! reading a streamed body are disconnected, and the body's producer stops; a client that
//! reads slowly but steadily keeps its download. (Issue 14, Medium 6: `axum::serve`, used
//! before, kept all three connections open forever.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::routing::get;
use certfleet_collector::listener::{self, ConnectionLimits};

/// Short limits so that the test takes seconds; the defaults are 10 s / 120 s / 60 s.
fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        max_connections: 64,
    }
}

/// Chunks of an endless body, and whether the body was dropped (the producer's end).
#[derive(Default)]
struct Endless {
    chunks: AtomicU64,
    dropped: AtomicBool,
}

struct DropFlag(Arc<Endless>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

fn router(endless: Arc<Endless>) -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/endless",
            get(move || {
                let endless = endless.clone();
                async move {
                    let flag = DropFlag(endless.clone());
                    let stream = futures_stream(endless, flag);
                    Body::from_stream(stream)
                }
            }),
        )
}

/// 64 KiB chunks for ever, counting them; `flag` lives as long as the stream.
fn futures_stream(
    endless: Arc<Endless>,
    flag: DropFlag,
) -> impl tokio_stream::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    tokio_stream::iter(std::iter::repeat_with(move || {
        let _alive = &flag;
        endless.chunks.fetch_add(1, Ordering::SeqCst);
        Ok(chunk.clone())
    }))
}

async fn start(endless: Arc<Endless>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listener::serve(socket, router(endless), limits(), async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Reads until EOF or error; returns how long that took (`None`: still open at `within`).
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_sender_is_disconnected() {
    let (addr, _stop) = start(Arc::default()).await;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // Headers that never end (slowloris): one more line now and then, never the blank one.
        s.write_all(b"GET /peer HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let _ = s.write_all(b"X-Slow: 1\r\n");
        let took = closed_within(&mut s, Duration::from_secs(10))
            .expect("the server closes a connection whose headers do not arrive");
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_requests_carry_their_peer() {
    let (addr, _stop) = start(Arc::default()).await;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /peer HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let response = String::from_utf8_lossy(&buf[..n]).into_owned();
        let local = s.local_addr().unwrap().to_string();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(&local),
            "the handler saw peer {local}: {response}"
        );
        // Keep-alive, then silence: closed by the idle (header) timer, not kept for ever.
        let took = closed_within(&mut s, Duration::from_secs(10))
            .expect("an idle keep-alive connection is closed");
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_and_the_producer_stops() {
    let endless = Arc::new(Endless::default());
    let (addr, _stop) = start(endless.clone()).await;
    let mut s = TcpStream::connect(addr).unwrap();
    // Never read: the server's writes block once the socket buffers are full.
    s.write_all(b"GET /endless HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !endless.dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the body was never dropped: {} chunks produced and still going",
            endless.chunks.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let produced = endless.chunks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        endless.chunks.load(Ordering::SeqCst),
        produced,
        "nothing is produced after the disconnect"
    );
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_reader_keeps_its_download() {
    let endless = Arc::new(Endless::default());
    let (addr, _stop) = start(endless.clone()).await;
    let watched = endless.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /endless HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Longer than the write timeout in total, but never a pause as long as it.
        let start = Instant::now();
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0usize;
        while start.elapsed() < Duration::from_secs(4) {
            let n = s.read(&mut buf).expect("the download goes on");
            assert!(n > 0, "closed after {total} bytes");
            total += n;
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(total > 1_000_000, "{total} bytes in 4 s");
        assert!(!watched.dropped.load(Ordering::SeqCst), "still producing");
    })
    .await
    .unwrap();
}
