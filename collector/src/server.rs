//! Runs the collector's listeners (gRPC over TLS, HTTP) on already-bound sockets until a
//! shutdown future completes, so the binary and the tests run the same code.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use certfleet_proto::v1 as pb;
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::admission::{Gate, Guards, capped_incoming};

use crate::http::{self, HttpState};
use crate::listener::ConnectionLimits;
use crate::metrics::Metrics;
use crate::ops_metrics::OpsMetrics;
use crate::service::InventoryService;
use certfleet_config::Settings;
use certfleet_store::SharedStore;

/// A failure that stops the collector.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("alert channels: {0}")]
    Alerts(String),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Longest life of one gRPC connection before the server asks the client to reconnect.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// How long a connection past its age may finish its calls before it is closed.
const MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(30);
/// Largest health-check or reflection request read.
const SMALL_MESSAGE_BYTES: usize = 16 * 1024;

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
    let guards = Arc::new(Guards::new(
        &settings.grpc,
        &settings.limits,
        metrics.clone(),
    ));
    let inventory =
        InventoryService::new(store.clone(), &settings, guards.clone(), metrics.clone());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::inventory_server::InventoryServer<InventoryService>>()
        .await;
    // Reflection tells anyone who connects the whole API; `[grpc] reflection = false` (the
    // production example) leaves only the Inventory and health services.
    let reflection = if settings.grpc.reflection {
        Some(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?,
        )
    } else {
        None
    };

    let mut builder = Server::builder()
        .timeout(Duration::from_secs(60))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .concurrency_limit_per_connection(32)
        // A connection slot is not held forever: agents use one connection per report, and
        // long-lived clients (the load generator) reconnect after a graceful GOAWAY.
        .max_connection_age(MAX_CONNECTION_AGE)
        .max_connection_age_grace(MAX_CONNECTION_AGE_GRACE);
    match &settings.tls {
        Some(tls) => {
            builder = builder.tls_config(
                ServerTlsConfig::new()
                    .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
                    .timeout(settings.grpc.tls_handshake_timeout),
            )?;
        }
        None => tracing::warn!(
            "serving gRPC WITHOUT TLS (--insecure-plaintext): node keys and certificates travel in clear text"
        ),
    }
    let inventory_service = Gate::new(
        pb::inventory_server::InventoryServer::new(inventory)
            .max_decoding_message_size(settings.limits.max_message_bytes),
        guards.clone(),
    );
    // Health and reflection requests are a few bytes: no 4 MiB messages through them, and the
    // same gate (address limits, calls in flight) in front.
    let health_service = Gate::new(
        health_service.max_decoding_message_size(SMALL_MESSAGE_BYTES),
        guards.clone(),
    );
    let reflection = reflection.map(|r| {
        Gate::new(
            r.max_decoding_message_size(SMALL_MESSAGE_BYTES),
            guards.clone(),
        )
    });
    let grpc_server = builder
        .add_service(health_service)
        .add_optional_service(reflection)
        .add_service(inventory_service)
        .serve_with_incoming_shutdown(
            capped_incoming(grpc, settings.grpc.max_connections, metrics.clone()),
            stopped(stop_rx.clone()),
        );

    // The collector's own certificates, watched for expiry (issue 16).
    let own_certificates = crate::self_watch::load(&settings);
    crate::self_watch::warn_at_start(&own_certificates, chrono::Utc::now());
    let mut channels_for_metrics: Vec<String> = Vec::new();
    if settings.alerts.enabled {
        if settings.alerts.smtp.is_some() {
            channels_for_metrics.push("email".to_owned());
        }
        channels_for_metrics.extend(
            settings
                .alerts
                .webhooks
                .iter()
                .map(|w| format!("webhook:{}", w.name)),
        );
    }
    let mut scheduled_tasks = Vec::new();
    if settings.alerts.enabled {
        scheduled_tasks.push(crate::maintenance::ALERTS_TASK);
    }
    if settings.retention.enabled {
        scheduled_tasks.push(crate::maintenance::RETENTION_TASK);
    }
    let ops = Arc::new(OpsMetrics::new(channels_for_metrics, scheduled_tasks));

    // Authentication is decided per request (`certfleet_dashboard::access`), never by the
    // address `http` is bound to: a reverse proxy makes every visitor look local.
    let http_state = HttpState::new(store.clone(), metrics, &settings)
        .with_ops(ops.clone(), own_certificates.clone());
    let access = http_state.access.clone();
    let web = http::router(http_state).merge(crate::web::dashboard_router(
        &settings,
        store.clone(),
        access,
        crate::self_watch::notices(&own_certificates),
    ));
    let http_server = crate::listener::serve(
        http,
        web,
        ConnectionLimits::from(&settings.http),
        stopped(stop_rx.clone()),
    );

    // The daily alert run and retention: every replica schedules them, the one that claims a
    // slot in the database runs it (collector/src/maintenance.rs).
    let mut scheduled = Vec::new();
    if settings.alerts.enabled {
        let channels = certfleet_alerts::Channels::new(
            settings.alerts.smtp.as_ref(),
            &settings.alerts.webhooks,
        )
        .map_err(|e| ServeError::Alerts(e.to_string()))?;
        scheduled.push(tokio::spawn(crate::maintenance::alert_schedule(
            store.clone(),
            settings.clone(),
            channels,
            ops.clone(),
            stopped(stop_rx.clone()),
        )));
    }
    if settings.retention.enabled {
        scheduled.push(tokio::spawn(crate::maintenance::retention_schedule(
            store.clone(),
            settings.retention.clone(),
            ops.clone(),
            stopped(stop_rx.clone()),
        )));
    }

    tracing::info!(%grpc_addr, %http_addr, tls = settings.tls.is_some(), alerts = settings.alerts.enabled, retention = settings.retention.enabled, "collector listening");
    let (grpc_result, http_result) = tokio::join!(grpc_server, http_server);
    for task in scheduled {
        let _ = task.await;
    }
    grpc_result?;
    http_result?;
    tracing::info!("collector stopped");
    Ok(())
}
