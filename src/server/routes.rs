//! `/healthz` and `/metrics`.

use crate::runtime::metrics::Metrics;
use crate::store::health;
use crate::store::seen::platform_name;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bangban_contract::Adapter;
use serde_json::{Map, Value, json};
use std::fmt::Write;
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

/// 200 while the process serves and can store what it is told: `"status":"ok"`, or
/// `"warning"` with a `reason` when the data directory's free space is under the floor. 503
/// with `"status":"unhealthy"` and the `reason` while the store cannot be written. The connected
/// accounts are counted per platform; their ids are listed only with `[server] show_accounts`.
/// Accounts down for a reason their adapter knows (a refused secret, an untrusted server
/// address) are listed under `down`, per platform, with that reason (and their ids only with
/// `show_accounts`).
async fn healthz(State(h): State<Health>) -> impl IntoResponse {
    let store = health::process(true);
    let connected: Map<String, Value> = h
        .adapters
        .iter()
        .map(|a| {
            let mut accounts = a.connected_accounts();
            accounts.sort();
            let shown = if store.show_accounts {
                json!(accounts)
            } else {
                json!(accounts.len())
            };
            (platform_name(a.platform()).to_owned(), shown)
        })
        .collect();
    let down: Map<String, Value> = h
        .adapters
        .iter()
        .filter_map(|a| {
            let reasons: Vec<Value> = a
                .down_reasons()
                .into_iter()
                .map(|d| {
                    if store.show_accounts {
                        json!({"account": d.account, "reason": d.reason})
                    } else {
                        json!({"reason": d.reason})
                    }
                })
                .collect();
            (!reasons.is_empty()).then(|| (platform_name(a.platform()).to_owned(), json!(reasons)))
        })
        .collect();
    let mut body = json!({
        "status": "ok",
        "connected": connected,
        "outbox_depth": h.metrics.get("bangban_outbox_depth", &[]),
        "store": {
            "ok": store.failing.is_none(),
            "write_failures": store.write_failures,
            "free_bytes": store.free_bytes,
            "min_free_bytes": store.floor_bytes,
        },
    });
    if !down.is_empty() {
        body["down"] = Value::Object(down);
    }
    let mut status = StatusCode::OK;
    if let Some(reason) = &store.failing {
        status = StatusCode::SERVICE_UNAVAILABLE;
        body["status"] = json!("unhealthy");
        body["reason"] = json!(format!(
            "数据目录写不进去（磁盘满了？），回复和工单都存不下：{reason}"
        ));
        body["store"]["failing_since"] = json!(store.failing_since);
    } else if store.low_disk {
        body["status"] = json!("warning");
        body["reason"] = json!(format!(
            "数据目录所在磁盘只剩 {} MB，低于 min_free_mib（{} MB），请尽快清理",
            store.free_bytes.unwrap_or(0) >> 20,
            store.floor_bytes >> 20
        ));
    }
    (status, axum::Json(body))
}

async fn metrics_text(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let store = health::process(true);
            h.metrics.render(store.show_accounts) + &store_metrics(&store)
        },
    )
}

/// The store's health in the Prometheus text format (after the runtime's metrics).
fn store_metrics(r: &health::Report) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<u64>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        if let Some(v) = value {
            let _ = writeln!(out, "{name} {v}");
        }
    };
    metric(
        "bangban_store_ok",
        "gauge",
        "Whether the data directory can be written (1) or writes fail (0).",
        Some(u64::from(r.failing.is_none())),
    );
    metric(
        "bangban_store_write_failures_total",
        "counter",
        "Writes to the data directory that failed.",
        Some(r.write_failures),
    );
    metric(
        "bangban_disk_free_bytes",
        "gauge",
        "Free space on the data directory's file system.",
        r.free_bytes,
    );
    metric(
        "bangban_disk_low",
        "gauge",
        "Whether that free space is under min_free_mib (1) or not (0).",
        Some(u64::from(r.low_disk)),
    );
    out
}
