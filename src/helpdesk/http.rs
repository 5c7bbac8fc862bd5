//! The ledger over HTTP, for the running bot (sled lets one process open the data directory, so
//! `bangban tickets` comes here while the bot runs):
//! - `GET /api/tickets?from=YYYY-MM-DD&to=YYYY-MM-DD`: the ledger rows as JSON;
//! - `GET /api/tickets/export?format=csv|xlsx&from=…&to=…`: the ledger file.
//!
//! Access: with `BANGBAN_ADMIN_TOKEN` set, a request must carry `Authorization: Bearer <token>`;
//! without it, only loopback requests are served. The server must be run with
//! `into_make_service_with_connect_info::<SocketAddr>()` for the peer address to be known: when
//! it is not, a request without a token is refused rather than guessed to be local.

use super::ledger::{self, Period};
use crate::engine::Engine;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The ledger routes, guarded by `BANGBAN_ADMIN_TOKEN` from the environment.
pub fn routes(engine: Arc<Engine>) -> Router {
    let token = std::env::var("BANGBAN_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    routes_with_token(engine, token)
}

/// The ledger routes with an explicit admin token (`None`: loopback only).
pub fn routes_with_token(engine: Arc<Engine>, token: Option<String>) -> Router {
    let token = Arc::new(token);
    Router::new()
        .route("/api/tickets", get(list))
        .route("/api/tickets/export", get(export))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { guard(&token, req, next).await }
        }))
        .with_state(engine)
}

async fn guard(token: &Option<String>, req: Request, next: Next) -> Response {
    match token {
        Some(expected) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if given.is_some_and(|g| same(g.as_bytes(), expected.as_bytes())) {
                next.run(req).await
            } else {
                tracing::warn!(path = %req.uri().path(), "ledger request without the admin token; refused");
                let mut res = (
                    StatusCode::UNAUTHORIZED,
                    "需要管理令牌：请求头加 Authorization: Bearer <BANGBAN_ADMIN_TOKEN>\n",
                )
                    .into_response();
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res
            }
        }
        None => {
            let local = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|c| c.0.ip().is_loopback());
            if local {
                next.run(req).await
            } else {
                tracing::warn!(path = %req.uri().path(), "ledger request from afar with no admin token configured; refused");
                (
                    StatusCode::FORBIDDEN,
                    "没有设置 BANGBAN_ADMIN_TOKEN，台账只能在本机读取。\n",
                )
                    .into_response()
            }
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct ListQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn list(State(engine): State<Arc<Engine>>, Query(q): Query<ListQuery>) -> Response {
    match rows(&engine, q.from.as_deref(), q.to.as_deref()) {
        Ok(rows) => Json(rows).into_response(),
        Err(res) => res.into_response(),
    }
}

async fn export(State(engine): State<Arc<Engine>>, Query(q): Query<ExportQuery>) -> Response {
    let format = q.format.as_deref().unwrap_or("csv");
    if !matches!(format, "csv" | "xlsx") {
        return (
            StatusCode::BAD_REQUEST,
            format!("不认识的格式“{format}”，请用 format=csv 或 format=xlsx\n"),
        )
            .into_response();
    }
    let rows = match rows(&engine, q.from.as_deref(), q.to.as_deref()) {
        Ok(rows) => rows,
        Err(res) => return res.into_response(),
    };
    let (bytes, content_type) = match format {
        "csv" => (ledger::csv(&rows), "text/csv; charset=utf-8"),
        _ => (
            ledger::xlsx(&rows),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    };
    match bytes {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"bangban-ledger.{format}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

/// An error answer: status and a plain text for the admin.
type Refused = (StatusCode, String);

fn rows(
    engine: &Engine,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<ledger::Row>, Refused> {
    let period =
        Period::parse(from, to).map_err(|e| (StatusCode::BAD_REQUEST, format!("{e}\n")))?;
    ledger::load(engine.config(), engine.store(), period).map_err(internal)
}

fn internal(e: anyhow::Error) -> Refused {
    tracing::error!(error = %e, "ledger request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "读取台账出错，详情见机器人日志。\n".into(),
    )
}
