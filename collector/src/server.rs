//! Runs the collector's listeners (gRPC over TLS, HTTP) on already-bound sockets until a
//! shutdown future completes, so the binary and the tests run the same code.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use certfleet_proto::v1 as pb;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::config::Settings;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::service::InventoryService;
use crate::store::SharedStore;

/// A failure that stops the collector.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Serves gRPC on `grpc` and HTTP on `http` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn run(
    settings: Settings,
    store: SharedStore,
    grpc: TcpListener,
    http: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let grpc_addr = grpc.local_addr()?;
    let http_addr = http.local_addr()?;
    let inventory = InventoryService::new(
        store.clone(),
        settings.enroll_secrets.clone(),
        settings.selector.clone(),
        settings.limits,
        metrics.clone(),
    );
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::inventory_server::InventoryServer<InventoryService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let mut builder = Server::builder()
        .timeout(Duration::from_secs(60))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .concurrency_limit_per_connection(32);
    match &settings.tls {
        Some(tls) => {
            builder = builder.tls_config(
                ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem)),
            )?;
        }
        None => tracing::warn!(
            "serving gRPC WITHOUT TLS (--insecure-plaintext): node keys and certificates travel in clear text"
        ),
    }
    let grpc_server = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            pb::inventory_server::InventoryServer::new(inventory)
                .max_decoding_message_size(settings.limits.max_message_bytes),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(grpc), stopped(stop_rx.clone()));

    let http_state = HttpState::new(store, metrics, &settings, http_addr);
    let http_server =
        axum::serve(http, http::router(http_state)).with_graceful_shutdown(stopped(stop_rx));

    tracing::info!(%grpc_addr, %http_addr, tls = settings.tls.is_some(), "collector listening");
    let (grpc_result, http_result) = tokio::join!(grpc_server, async { http_server.await });
    grpc_result?;
    http_result?;
    tracing::info!("collector stopped");
    Ok(())
}
