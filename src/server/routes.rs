//! `/healthz` and `/metrics`.

use crate::runtime::metrics::Metrics;
use crate::store::seen::platform_name;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bangban_contract::Adapter;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Clone)]
struct Health {
    metrics: Arc<Metrics>,
    adapters: Arc<Vec<Arc<dyn Adapter>>>,
}

pub(crate) fn router(metrics: Arc<Metrics>, adapters: Vec<Arc<dyn Adapter>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(Health {
            metrics,
            adapters: Arc::new(adapters),
        })
}

/// 200 while the process serves: the connected accounts per platform and the outbox depth.
async fn healthz(State(h): State<Health>) -> impl IntoResponse {
    let connected: Map<String, Value> = h
        .adapters
        .iter()
        .map(|a| {
            let mut accounts = a.connected_accounts();
            accounts.sort();
            (platform_name(a.platform()).to_owned(), json!(accounts))
        })
        .collect();
    axum::Json(json!({
        "status": "ok",
        "connected": connected,
        "outbox_depth": h.metrics.get("bangban_outbox_depth", &[]),
    }))
}

async fn metrics_text(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        h.metrics.render(),
    )
}
