//! The ledger over HTTP, for the running bot (sled lets one process open the data directory, so
//! `bangban tickets` comes here while the bot runs):
//! - `GET /api/tickets?from=YYYY-MM-DD&to=YYYY-MM-DD`: the ledger rows as JSON;
//! - `GET /api/tickets/export?format=csv|xlsx&from=…&to=…`: the ledger file.
//!
//! Access never depends on the peer address (a reverse proxy on the same host makes every
//! request look local). A request is served when it carries one of:
//! - `Authorization: Bearer <BANGBAN_ADMIN_TOKEN>`, when that variable is set: every ticket;
//! - `Authorization: Bearer <local token>`: the token the running bot writes at start into
//!   [`LOCAL_TOKEN_FILE`] in the data directory (mode 0600), so whoever may read the data
//!   directory may read the ledger, as they could with the bot stopped: every ticket;
//! - a console user, by API token (`bangban users token`) or session cookie: an admin reads
//!   every ticket, an agent only those of the villages they cover (`Org::covers`).
//!
//! Anything else is answered 401 and gets no data.

use super::ledger::{self, Period};
use crate::console::auth::{self, Role};
use crate::engine::Engine;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The file in the data directory holding the running bot's local ledger token.
pub const LOCAL_TOKEN_FILE: &str = "ledger-token";

/// The path of the local token file in data directory `dir`.
pub fn local_token_path(dir: &Path) -> PathBuf {
    dir.join(LOCAL_TOKEN_FILE)
}

/// The ledger routes, with `BANGBAN_ADMIN_TOKEN` from the environment.
pub fn routes(engine: Arc<Engine>) -> Router {
    let token = std::env::var("BANGBAN_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    routes_with_token(engine, token)
}

/// The ledger routes with an explicit admin token (`None`: no admin token; console users and
/// the local token still work). Writes a fresh local token into the data directory; if that
/// fails the error is logged and only the other ways in remain.
pub fn routes_with_token(engine: Arc<Engine>, token: Option<String>) -> Router {
    let local = match write_local_token(engine.store().dir()) {
        Ok(local) => Some(local),
        Err(e) => {
            tracing::error!(
                error = %e,
                file = %local_token_path(engine.store().dir()).display(),
                "could not write the local ledger token; `bangban tickets` on this host needs BANGBAN_ADMIN_TOKEN"
            );
            None
        }
    };
    let keys = Arc::new(Keys {
        admin: token.map(|t| t.trim().to_owned()),
        local,
    });
    let guarded = engine.clone();
    Router::new()
        .route("/api/tickets", get(list))
        .route("/api/tickets/export", get(export))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let (keys, engine) = (keys.clone(), guarded.clone());
            async move { guard(&keys, &engine, req, next).await }
        }))
        .with_state(engine)
}

/// Writes a new random token to [`LOCAL_TOKEN_FILE`] in `dir`, readable by the owner only, in
/// one rename (a reader never sees half a token).
pub fn write_local_token(dir: &Path) -> std::io::Result<String> {
    let token = auth::random_token();
    // tempfile creates the file with mode 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, token.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(local_token_path(dir)).map_err(|e| e.error)?;
    Ok(token)
}

/// The tokens that read the whole ledger.
struct Keys {
    admin: Option<String>,
    local: Option<String>,
}

/// Whose tickets a request may read.
#[derive(Clone)]
enum Reader {
    All,
    /// An agent: the tickets of the villages `Org::covers` gives them.
    Agent(String),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn reader(keys: &Keys, engine: &Engine, headers: &HeaderMap) -> Option<Reader> {
    if let Some(given) = bearer(headers)
        && [&keys.admin, &keys.local]
            .into_iter()
            .flatten()
            .any(|k| same(given, k))
    {
        return Some(Reader::All);
    }
    let user = auth::signed_in(engine.store(), &engine.config().org, headers)?;
    Some(match user.role {
        Role::Admin => Reader::All,
        Role::Agent => Reader::Agent(user.id),
    })
}

async fn guard(keys: &Keys, engine: &Engine, mut req: Request, next: Next) -> Response {
    match reader(keys, engine, req.headers()) {
        Some(reader) => {
            req.extensions_mut().insert(reader);
            next.run(req).await
        }
        None => {
            tracing::warn!(path = %req.uri().path(), "ledger request without a valid token or sign-in; refused");
            let mut res = (
                StatusCode::UNAUTHORIZED,
                "读取台账需要登录：请先登录管理控制台，或在请求头加 Authorization: Bearer <令牌>\
                 （令牌用 bangban users token 生成）。\n",
            )
                .into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
    }
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

async fn list(
    State(engine): State<Arc<Engine>>,
    Extension(reader): Extension<Reader>,
    Query(q): Query<ListQuery>,
) -> Response {
    match rows(&engine, &reader, q.from.as_deref(), q.to.as_deref()) {
        Ok(rows) => Json(rows).into_response(),
        Err(res) => res.into_response(),
    }
}

async fn export(
    State(engine): State<Arc<Engine>>,
    Extension(reader): Extension<Reader>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let format = q.format.as_deref().unwrap_or("csv");
    if !matches!(format, "csv" | "xlsx") {
        return (
            StatusCode::BAD_REQUEST,
            format!("不认识的格式“{format}”，请用 format=csv 或 format=xlsx\n"),
        )
            .into_response();
    }
    let rows = match rows(&engine, &reader, q.from.as_deref(), q.to.as_deref()) {
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

/// The ledger rows `reader` may see.
fn rows(
    engine: &Engine,
    reader: &Reader,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<ledger::Row>, Refused> {
    let period =
        Period::parse(from, to).map_err(|e| (StatusCode::BAD_REQUEST, format!("{e}\n")))?;
    let config = engine.config();
    let mut tickets = engine
        .store()
        .tickets()
        .and_then(|t| t.all())
        .map_err(|e| internal(e.into()))?;
    if let Reader::Agent(id) = reader {
        let agent = config.org.agent(id);
        tickets.retain(|t| {
            agent
                .zip(t.village.as_deref())
                .is_some_and(|(a, v)| config.org.covers(a, v))
        });
    }
    Ok(ledger::rows(config, &tickets, period))
}

fn internal(e: anyhow::Error) -> Refused {
    tracing::error!(error = %e, "ledger request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "读取台账出错，详情见机器人日志。\n".into(),
    )
}
