//! The statistics API: `GET /api/v1/stats?from=&to=&scope=&item=&sandbox=` (JSON, the
//! figures of `crate::stats::report`) and `GET /api/v1/stats.xlsx` (the same as a workbook).
//! Admins and district centre agents see every scope; township centre agents their townships
//! and villages; village agents their own villages.

use super::Console;
use super::auth;
use crate::stats::{self, Filter, Period, Scope};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/api/v1/stats", get(json_report))
        .route("/api/v1/stats.xlsx", get(xlsx_report))
}

#[derive(Deserialize)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    scope: Option<String>,
    item: Option<String>,
    sandbox: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[allow(clippy::result_large_err)] // the refusal is the response itself
fn build(c: &Console, headers: &HeaderMap, p: &Params) -> Result<stats::Report, Response> {
    let engine = &c.engine;
    let config = engine.config();
    let org = &config.org;
    let user = auth::signed_in(engine.store(), org, headers)
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "signed_out", "请先登录"))?;
    let allowed = stats::allowed_scopes(org, &user.id, user.is_admin());
    let bad = |m: String| refuse(StatusCode::BAD_REQUEST, "bad_request", &m);
    let scope = match p.scope.as_deref() {
        Some(s) => Scope::parse(s, org).map_err(bad)?,
        None => allowed
            .first()
            .cloned()
            .ok_or_else(|| refuse(StatusCode::FORBIDDEN, "forbidden", "没有查看统计的权限"))?,
    };
    if !allowed.contains(&scope) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "没有查看这个范围统计的权限",
        ));
    }
    let today = org.hours.local((super::now_ms() / 1000) as i64).0;
    let period = Period::parse(p.from.as_deref(), p.to.as_deref(), today).map_err(bad)?;
    let filter = Filter {
        period,
        scope,
        item: p.item.clone().filter(|i| !i.is_empty()),
        sandbox: matches!(p.sandbox.as_deref(), Some("1" | "true" | "on")),
    };
    let live = engine.guide().load();
    stats::report(engine.store(), org, &live.catalog, &filter).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "statistics could not be read");
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            "统计暂时读不出来，请稍后再试",
        )
    })
}

async fn json_report(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    match build(&c, &headers, &p) {
        Ok(r) => axum::Json(r).into_response(),
        Err(res) => res,
    }
}

async fn xlsx_report(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let r = match build(&c, &headers, &p) {
        Ok(r) => r,
        Err(res) => return res,
    };
    match stats::export::xlsx(&r) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"stats-{}-{}.xlsx\"", r.from, r.to),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the statistics workbook failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export",
                "导出失败，请稍后再试",
            )
        }
    }
}
