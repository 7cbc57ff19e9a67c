//! The collector's HTTP listener: health, Prometheus metrics and (later) the JSON API and
//! dashboard. Requests off loopback must carry the configured bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::SharedStore;

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub store: SharedStore,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<Arc<str>>,
    /// True when the listener is bound to a loopback address (no login needed).
    pub loopback: bool,
}

impl HttpState {
    pub fn new(
        store: SharedStore,
        metrics: Arc<Metrics>,
        settings: &Settings,
        addr: SocketAddr,
    ) -> Self {
        Self {
            store,
            metrics,
            api_token: settings.api_token.as_deref().map(Arc::from),
            loopback: addr.ip().is_loopback(),
        }
    }
}

/// Builds the HTTP router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let mut body = String::new();
    state.metrics.render(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
