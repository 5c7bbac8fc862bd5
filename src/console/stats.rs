//! The statistics: the page `GET /admin/stats` and the API `GET /api/v1/stats` (JSON, the
//! figures of `crate::stats::report`) and `GET /api/v1/stats.xlsx` (the same as a workbook), all
//! with the query `?from=&to=&scope=&item=&sandbox=`.
//!
//! Who sees which scope is `stats::allowed_scopes`: admins and district centre agents every
//! scope; township centre agents their townships and villages; village agents their own
//! villages. The API also takes the tokens that read the whole ledger (`BANGBAN_ADMIN_TOKEN`,
//! and the running bot's local token in the data directory, as `helpdesk::http` does), so that
//! `bangban stats` can ask the running bot.
//!
//! `GET /api/v1/stats/recount` (admins and those tokens): the counters compared with a recount
//! from the tickets and questions (`store::stats::Recount`), read only — putting them right
//! needs the bot stopped (`bangban stats --recount`).
//!
//! The page is plain HTML (no script): a form using GET, the report's tables and the two charts
//! of `stats::charts`. Everything on it is escaped by the templates, except the charts' SVG,
//! which our own code draws (plotters escapes its text) and which is embedded only when
//! `charts::embeddable` finds nothing active in it.

use super::auth::SignedIn;
use super::pages::page;
use super::{Console, Routes};
use crate::helpdesk::http;
use crate::stats::{self, Filter, Period, Report, Scope, Span, charts};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/stats", stats_page)
        .get("/api/v1/stats", json_report)
        .get("/api/v1/stats.xlsx", xlsx_report)
        .get("/api/v1/stats/recount", recount)
}

/// The query of the page and the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Params {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// Why a report is not given: status, code and the message for users (Chinese).
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn json(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// Today, the district's local day.
fn today(c: &Console) -> i64 {
    c.engine
        .config()
        .org
        .hours
        .local((super::now_ms() / 1000) as i64)
        .0
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The query checked against what `allowed` may see and the catalog.
fn filter(c: &Console, allowed: &[Scope], p: &Params) -> Result<Filter, Refusal> {
    let org = &c.engine.config().org;
    let bad = |m: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", m);
    let scope = match some(&p.scope) {
        Some(s) => Scope::parse(s, org).map_err(bad)?,
        None => allowed.first().cloned().ok_or_else(|| {
            Refusal::new(StatusCode::FORBIDDEN, "forbidden", "没有查看统计的权限")
        })?,
    };
    if !allowed.contains(&scope) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "没有查看这个范围统计的权限",
        ));
    }
    let period = Period::parse(p.from.as_deref(), p.to.as_deref(), today(c)).map_err(bad)?;
    let item = some(&p.item).map(str::to_owned);
    if let Some(id) = &item
        && c.engine.guide().load().catalog.get(id).is_none()
    {
        return Err(bad(format!("没有编号为“{id}”的事项")));
    }
    Ok(Filter {
        period,
        scope,
        item,
        sandbox: matches!(some(&p.sandbox), Some("1" | "true" | "on")),
    })
}

fn report(c: &Console, filter: &Filter) -> Result<Report, Refusal> {
    let engine = &c.engine;
    let live = engine.guide().load();
    stats::report(engine.store(), &engine.config().org, &live.catalog, filter).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "statistics could not be read");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            "统计暂时读不出来，请稍后再试",
        )
    })
}

/// Whether the request shows a token that reads everything: `BANGBAN_ADMIN_TOKEN`, or the
/// local token the running bot keeps in its data directory (see `helpdesk::http`).
fn whole_ledger_token(c: &Console, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return false;
    };
    let admin = std::env::var("BANGBAN_ADMIN_TOKEN").ok();
    let local = std::fs::read_to_string(http::local_token_path(c.engine.store().dir())).ok();
    [admin, local]
        .into_iter()
        .flatten()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .any(|k| {
            use subtle::ConstantTimeEq;
            k.len() == given.len() && bool::from(k.as_bytes().ct_eq(given.as_bytes()))
        })
}

/// The API's report for this request.
fn api_report(
    c: &Console,
    user: Option<SignedIn>,
    headers: &HeaderMap,
    p: &Params,
) -> Result<Report, Refusal> {
    let org = &c.engine.config().org;
    let allowed = match user.map(|SignedIn(u)| u) {
        Some(user) => stats::allowed_scopes(org, &user.id, user.is_admin()),
        None if whole_ledger_token(c, headers) => stats::allowed_scopes(org, "", true),
        None => {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "signed_out",
                "请先登录",
            ));
        }
    };
    report(c, &filter(c, &allowed, p)?)
}

/// Compares the counters with a recount while the bot runs (nothing is changed).
async fn recount(
    State(c): State<Arc<Console>>,
    user: Option<SignedIn>,
    headers: HeaderMap,
) -> Response {
    let allowed = match user.map(|SignedIn(u)| u) {
        Some(user) => user.is_admin(),
        None if whole_ledger_token(&c, &headers) => true,
        None => {
            return Refusal::new(StatusCode::UNAUTHORIZED, "signed_out", "请先登录").json();
        }
    };
    if !allowed {
        return Refusal::new(StatusCode::FORBIDDEN, "forbidden", "只有管理员可以核对统计").json();
    }
    let store = c.engine.store().clone();
    match tokio::task::spawn_blocking(move || store.stats().and_then(|s| s.recount())).await {
        Ok(Ok(r)) => axum::Json(r).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "statistics could not be recounted");
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "统计暂时核对不了，请稍后再试",
            )
            .json()
        }
        Err(e) => {
            tracing::error!(error = %e, "the statistics recount failed");
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "recount",
                "核对失败，请稍后再试",
            )
            .json()
        }
    }
}

async fn json_report(
    State(c): State<Arc<Console>>,
    user: Option<SignedIn>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    match api_report(&c, user, &headers, &p) {
        Ok(r) => axum::Json(r).into_response(),
        Err(r) => r.json(),
    }
}

async fn xlsx_report(
    State(c): State<Arc<Console>>,
    user: Option<SignedIn>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let r = match api_report(&c, user, &headers, &p) {
        Ok(r) => r,
        Err(r) => return r.json(),
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
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export",
                "导出失败，请稍后再试",
            )
            .json()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The page.

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The query string of a report's filter (its resolved dates, so a link shows the same days).
fn query(from: &str, to: &str, scope: &str, item: Option<&str>, sandbox: bool) -> String {
    let mut q = format!(
        "from={}&to={}&scope={}",
        encode(from),
        encode(to),
        encode(scope)
    );
    if let Some(i) = item {
        q.push_str(&format!("&item={}", encode(i)));
    }
    if sandbox {
        q.push_str("&sandbox=1");
    }
    q
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

#[derive(Serialize)]
struct Link {
    id: &'static str,
    label: &'static str,
    href: String,
}

/// A chart for the page, or nothing when it did not draw or is not safe to embed.
fn chart(svg: String) -> Option<Value> {
    if charts::embeddable(&svg) {
        // Safe to embed: drawn by our code, text escaped by plotters, checked just above.
        Some(Value::from_safe_string(svg))
    } else {
        if !svg.is_empty() {
            tracing::warn!("a statistics chart was left off the page: not plain SVG");
        }
        None
    }
}

/// Days listed on the page: every day of a period up to two months; for longer ones, the days
/// with something to count.
const ALL_DAYS_UP_TO: usize = 62;

async fn stats_page(
    State(c): State<Arc<Console>>,
    SignedIn(user): SignedIn,
    Query(p): Query<Params>,
) -> Response {
    let org = &c.engine.config().org;
    let allowed = stats::allowed_scopes(org, &user.id, user.is_admin());
    if allowed.is_empty() {
        return page(
            StatusCode::FORBIDDEN,
            "message.html",
            Some(&user),
            context! {
                heading => "没有权限",
                text => "统计只对管理员和帮办专员开放。",
            },
        );
    }
    let scopes: Vec<Choice> = allowed
        .iter()
        .map(|s| Choice {
            value: s.key(),
            label: match s {
                Scope::Village(v) => {
                    let township = org
                        .village(v)
                        .and_then(|v| org.township(&v.township))
                        .map_or_else(String::new, |t| format!("（{}）", t.name));
                    format!("{}{township}", s.label(org))
                }
                _ => s.label(org),
            },
        })
        .collect();
    let live = c.engine.guide().load();
    let items: Vec<Choice> = live
        .catalog
        .items()
        .iter()
        .map(|i| Choice {
            value: i.id.clone(),
            label: i.name.clone(),
        })
        .collect();
    drop(live);

    let result = filter(&c, &allowed, &p).and_then(|f| report(&c, &f).map(|r| (f, r)));
    let (f, r) = match result {
        Ok(x) => x,
        Err(refusal) => {
            return page(
                refusal.status,
                "stats.html",
                Some(&user),
                context! {
                    error => refusal.message,
                    form => p,
                    scopes, items,
                },
            );
        }
    };
    let scope = f.scope.key();
    let item = f.item.as_deref();
    let today = today(&c);
    let this_month = Period::of(Span::Month, today);
    let quick = [
        ("this-week", "本周", Period::of(Span::Week, today)),
        ("this-month", "本月", this_month),
        (
            "last-month",
            "上月",
            Period::of(Span::Month, this_month.from - 1),
        ),
    ]
    .into_iter()
    .map(|(id, label, period)| Link {
        id,
        label,
        href: format!(
            "/admin/stats?{}",
            query(
                &stats::date(period.from),
                &stats::date(period.to),
                &scope,
                item,
                f.sandbox
            )
        ),
    })
    .collect::<Vec<_>>();
    let q = query(&r.from, &r.to, &scope, item, f.sandbox);
    let daily = chart(charts::daily(&r));
    let ratings = chart(charts::ratings(&r));
    let all_days = r.days.len() <= ALL_DAYS_UP_TO;
    let days: Vec<&stats::Row> = r
        .days
        .iter()
        .filter(|d| {
            all_days
                || d.asked + d.answered + d.asked_back + d.escalated + d.opened + d.resolved > 0
        })
        .collect();
    let item_name = item.map(|i| {
        items
            .iter()
            .find(|c| c.value == i)
            .map_or_else(|| i.to_owned(), |c| c.label.clone())
    });
    let form = Params {
        from: Some(r.from.clone()),
        to: Some(r.to.clone()),
        scope: Some(scope.clone()),
        item: item.map(str::to_owned),
        sandbox: f.sandbox.then(|| "1".to_owned()),
    };
    page(
        StatusCode::OK,
        "stats.html",
        Some(&user),
        context! {
            form, scopes, items, quick, item_name, days, all_days,
            daily_chart => daily,
            ratings_chart => ratings,
            xlsx => format!("/api/v1/stats.xlsx?{q}"),
            report => r,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query(
                "2026-12-01",
                "2026-12-31",
                "village:v01",
                Some("elder-card"),
                true
            ),
            "from=2026-12-01&to=2026-12-31&scope=village%3Av01&item=elder-card&sandbox=1"
        );
        assert_eq!(encode("a&b=<c>"), "a%26b%3D%3Cc%3E");
    }
}
