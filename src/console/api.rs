//! The JSON API under `/api/v1/`, mirroring the console's pages. A request is signed in by the
//! session cookie (then every write carries `X-CSRF-Token`) or by `Authorization: Bearer
//! <token>` (`bangban users token NAME`), as checked by `auth`'s extractors. Errors are `{"error":{"code","message",…}}` with a
//! Chinese message and a machine code. Bodies over [`BODY_LIMIT`] are refused with 413.
//!
//! | method | path | |
//! |---|---|---|
//! | POST / GET / DELETE | `/api/v1/session` | sign in `{user,password}` / who am I / sign out |
//! | GET, POST | `/api/v1/items` | list (`?q=`) / create `{id, fields or item, note}` |
//! | GET, PUT | `/api/v1/items/{id}` | the current revision / save `{base_revision, fields or item, note}` |
//! | POST | `/api/v1/items/{id}/retire` | `{base_revision, retired}` |
//! | GET | `/api/v1/items/{id}/revisions` | every revision |
//! | GET | `/api/v1/items/{id}/revisions/{rev}` | one, with its diff from the one before |
//! | POST | `/api/v1/items/{id}/revisions/{rev}/restore` | `{base_revision, note}` |
//! | POST | `/api/v1/sandbox` | `{village, text, addressed}` |
//! | POST | `/api/v1/import` | the XLSX file, a TOML card or the export's TOML file (`Content-Type: application/toml`), or a multipart upload of several: a preview with a `token` |
//! | POST | `/api/v1/import/{token}/confirm` | commit the preview |
//! | GET | `/api/v1/gaps` | the gap groups (with `reply`: an agent's reply to one of their tickets) |
//! | POST | `/api/v1/gaps/{id}/teach` | `{item, aspect, note}`: its questions become example questions |
//! | POST | `/api/v1/gaps/{id}/dismiss` | off the list |
//! | GET | `/api/v1/gaps/{id}/draft` | the new-item fields filled in from the agent's reply |
//! | POST | `/api/v1/gaps/{id}/new-item` | `{id, fields, note}`: fields over the draft; the group leaves the list |
//! | GET | `/api/v1/audit` | the latest writes (`?limit=`) |
//! | GET | `/api/v1/export` | the guide as a file: `?format=toml` (every card in one file) or `xlsx`; `&retired=1` with retired items |

use super::auth::{self, Admin, Client, SignedIn, User};
use super::gaps;
use super::items::{self, Change, Refused};
use super::{Console, Routes};
use crate::catalog::Item;
use crate::catalog::fields::{self, Fields};
use crate::store::audit::AuditEntry;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub const BODY_LIMIT: usize = 256 * 1024;
/// An imported spreadsheet may be larger than a card.
pub const SHEET_LIMIT: usize = 8 * 1024 * 1024;

type S = State<Arc<Console>>;

pub fn routes() -> Routes {
    Routes::new()
        .sign_in("/api/v1/session", sign_in)
        .get("/api/v1/session", whoami)
        .delete("/api/v1/session", sign_out)
        .get("/api/v1/items", list)
        .post("/api/v1/items", create)
        .get("/api/v1/items/{id}", show)
        .put("/api/v1/items/{id}", update)
        .post("/api/v1/items/{id}/retire", retire)
        .get("/api/v1/items/{id}/revisions", revisions)
        .get("/api/v1/items/{id}/revisions/{rev}", revision)
        .post("/api/v1/items/{id}/revisions/{rev}/restore", restore)
        .post("/api/v1/sandbox", sandbox)
        .get("/api/v1/audit", audit)
        .get("/api/v1/export", export)
        .get("/api/v1/gaps", gap_groups)
        .post("/api/v1/gaps/{id}/teach", gap_teach)
        .post("/api/v1/gaps/{id}/dismiss", gap_dismiss)
        .get("/api/v1/gaps/{id}/draft", gap_draft)
        .post("/api/v1/gaps/{id}/new-item", gap_new_item)
        .body_limit(BODY_LIMIT)
        .merge(
            Routes::new()
                .post("/api/v1/import", import_preview)
                .post("/api/v1/import/{token}/confirm", import_confirm)
                .body_limit(SHEET_LIMIT),
        )
}

/// An error as the API returns it.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(Value::Object(extra)), Value::Object(e)) = (self.detail, &mut error) {
            e.extend(extra);
        }
        let mut res = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        let status = match &r {
            Refused::Unknown => StatusCode::NOT_FOUND,
            Refused::Exists | Refused::Stale(_) => StatusCode::CONFLICT,
            Refused::BadId | Refused::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Refused::Store(e) => {
                tracing::error!(error = %format!("{e:#}"), "console write failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let detail = match &r {
            Refused::Invalid(errors) => Some(json!({ "fields": errors })),
            Refused::Stale(current) => Some(json!({ "current": revision_json(current) })),
            _ => None,
        };
        ApiError {
            status,
            code: r.code(),
            message: r.message(),
            detail,
        }
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                format!("内容太大了，最多 {} KB", BODY_LIMIT / 1024),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("请求内容不是要求的 JSON：{}", e.body_text()),
            )
        }
    })
}

fn revision_json(r: &crate::store::catalog::Revision) -> Value {
    json!({
        "rev": r.rev, "who": r.who, "at": r.at, "note": r.note, "retired": r.retired,
        "item": r.item, "fields": fields::to_fields(&r.item),
    })
}

#[derive(Deserialize)]
struct SignIn {
    user: String,
    password: String,
}

async fn sign_in(
    State(c): S,
    client: Client,
    b: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let (id, csrf) = super::pages::check_sign_in(&c, &b.user, &b.password, client.addr)
        .map_err(|(status, code, message)| ApiError::new(status, code, message))?;
    let user = auth::User::of(&c.engine.config().org, &b.user, Some(csrf.clone()))
        .expect("checked by sign-in");
    let mut res =
        Json(json!({"user": user.id, "name": user.name, "role": user.role, "csrf": csrf}))
            .into_response();
    let cookie = auth::session_cookie(&id, client.https);
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("ascii cookie"),
    );
    Ok(res)
}

async fn whoami(SignedIn(u): SignedIn) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"user": u.id, "name": u.name, "role": u.role, "csrf": u.csrf}),
    ))
}

async fn sign_out(
    State(c): S,
    _: SignedIn,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(id) = auth::session_id(&headers) {
        c.engine
            .store()
            .end_session(&auth::digest(&id))
            .map_err(Refused::from)?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_cookie(client.https)).expect("ascii"),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

async fn list(State(c): S, _: Admin, Query(s): Query<Search>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": items::list(&c.engine, &s.q)? })))
}

async fn show(State(c): S, _: Admin, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(revision_json(&items::current(&c.engine, &id)?)))
}

/// A card as fields (as the page's form sends them) or as a whole item (as `export` writes it).
#[derive(Deserialize)]
struct Card {
    #[serde(default)]
    fields: Option<Fields>,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    id: Option<String>,
}

async fn save_card(
    c: &Console,
    user: &User,
    client: Client,
    id: &str,
    card: Card,
    base: Option<u64>,
) -> Result<Json<Value>, ApiError> {
    let origin = client.from();
    let change = Change {
        user,
        from: &origin,
        note: &card.note,
        base,
    };
    let rev = match (card.fields, card.item) {
        (Some(f), None) => items::save_fields(&c.engine, id, &f, &change).await?,
        (None, Some(mut item)) => {
            if item.id != id && base.is_some() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "item.id 与地址里的事项编号不一致",
                ));
            }
            item.id = id.to_owned();
            items::save_item(&c.engine, &item, &change).await?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                "请给出 fields（各栏文字）或 item（整张卡片）其中之一",
            ));
        }
    };
    Ok(Json(revision_json(&rev)))
}

async fn create(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    b: Result<Json<Card>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let card = body(b)?;
    let id = card
        .id
        .clone()
        .or_else(|| card.item.as_ref().map(|i| i.id.clone()))
        .unwrap_or_default();
    let out = save_card(&c, &user, client, &id, card, None).await?;
    Ok((StatusCode::CREATED, out))
}

async fn update(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(id): Path<String>,
    b: Result<Json<Card>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let card = body(b)?;
    let Some(base) = card.base_revision else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "请给出 base_revision：您是在第几版上修改的",
        ));
    };
    save_card(&c, &user, client, &id, card, Some(base)).await
}

#[derive(Deserialize)]
struct Based {
    base_revision: u64,
    #[serde(default = "yes")]
    retired: bool,
    #[serde(default)]
    note: String,
}

fn yes() -> bool {
    true
}

async fn retire(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(id): Path<String>,
    b: Result<Json<Based>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let origin = client.from();
    let change = Change {
        user: &user,
        from: &origin,
        note: &b.note,
        base: Some(b.base_revision),
    };
    let rev = items::set_retired(&c.engine, &id, b.retired, &change).await?;
    Ok(Json(revision_json(&rev)))
}

async fn gap_groups(State(c): S, _: Admin) -> Result<Json<Value>, ApiError> {
    let groups = gaps::groups(&c.engine, super::now_ms())?;
    Ok(Json(json!({ "groups": groups })))
}

#[derive(Deserialize)]
struct Teach {
    item: String,
    #[serde(default = "overview")]
    aspect: String,
    #[serde(default)]
    note: String,
}

fn overview() -> String {
    "overview".into()
}

async fn gap_teach(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(id): Path<u64>,
    b: Result<Json<Teach>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let origin = client.from();
    let note = if b.note.is_empty() {
        "从待学问题加例句"
    } else {
        &b.note
    };
    let change = Change {
        user: &user,
        from: &origin,
        note,
        base: None,
    };
    let rev = gaps::teach(&c.engine, id, &b.item, &b.aspect, &change, super::now_ms()).await?;
    Ok(Json(revision_json(&rev)))
}

async fn gap_dismiss(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let n = gaps::dismiss(&c.engine, id, &user, &client.from(), super::now_ms())?;
    Ok(Json(json!({ "dismissed": n })))
}

async fn gap_draft(State(c): S, _: Admin, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    let draft = gaps::draft(&c.engine, id, super::now_ms())?;
    Ok(Json(json!({ "fields": draft })))
}

#[derive(Deserialize)]
struct NewItem {
    id: String,
    #[serde(default)]
    fields: Fields,
    #[serde(default)]
    note: String,
}

async fn gap_new_item(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(id): Path<u64>,
    b: Result<Json<NewItem>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b = body(b)?;
    let now = super::now_ms();
    let mut fields = gaps::draft(&c.engine, id, now)?;
    fields.extend(b.fields);
    let origin = client.from();
    let note = if b.note.is_empty() {
        "从待学问题新建"
    } else {
        &b.note
    };
    let change = Change {
        user: &user,
        from: &origin,
        note,
        base: None,
    };
    let rev = gaps::create_item(&c.engine, id, b.id.trim(), &fields, &change, now).await?;
    Ok((StatusCode::CREATED, Json(revision_json(&rev))))
}

async fn revisions(State(c): S, _: Admin, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let revs = c
        .engine
        .store()
        .catalog_revisions(&id)
        .map_err(Refused::from)?;
    if revs.is_empty() {
        return Err(Refused::Unknown.into());
    }
    let list: Vec<Value> = revs
        .iter()
        .map(|r| json!({"rev": r.rev, "who": r.who, "at": r.at, "note": r.note, "retired": r.retired}))
        .collect();
    Ok(Json(json!({ "revisions": list })))
}

async fn revision(
    State(c): S,
    _: Admin,
    Path((id, rev)): Path<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let store = c.engine.store();
    let r = store
        .catalog_revision(&id, rev)
        .map_err(Refused::from)?
        .ok_or(Refused::Unknown)?;
    let before = match rev {
        0 | 1 => None,
        n => store.catalog_revision(&id, n - 1).map_err(Refused::from)?,
    };
    let diff = items::diff(before.as_ref().map(|b| &b.item), &r.item);
    let mut out = revision_json(&r);
    out["diff"] = json!(diff);
    Ok(Json(out))
}

#[derive(Deserialize)]
struct RestoreBody {
    base_revision: u64,
    #[serde(default)]
    note: String,
}

async fn restore(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path((id, rev)): Path<(String, u64)>,
    b: Result<Json<RestoreBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let origin = client.from();
    let change = Change {
        user: &user,
        from: &origin,
        note: &b.note,
        base: Some(b.base_revision),
    };
    let r = items::restore(&c.engine, &id, rev, &change).await?;
    Ok(Json(revision_json(&r)))
}

#[derive(Deserialize)]
struct Say {
    village: String,
    text: String,
    #[serde(default = "yes")]
    addressed: bool,
}

async fn sandbox(
    State(c): S,
    Admin(user): Admin,
    b: Result<Json<Say>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    if c.engine.config().org.village(&b.village).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_village",
            "没有这个村",
        ));
    }
    if b.text.trim().is_empty() || b.text.chars().count() > 2000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "请写 1 到 2000 个字",
        ));
    }
    let ex = c
        .sandbox
        .say(&c.engine, &user, &b.village, &b.text, b.addressed)
        .await
        .map_err(Refused::from)?;
    Ok(Json(json!(ex)))
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(default)]
    retired: Option<String>,
}

/// The guide as a file, written by the same code as `bangban catalog export`.
async fn export(State(c): S, _: Admin, Query(q): Query<ExportQuery>) -> Result<Response, ApiError> {
    use super::export::{self, Format};
    let format = Format::parse(&q.format).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "format 请写 toml 或 xlsx",
        )
    })?;
    let retired = matches!(q.retired.as_deref(), Some("1" | "true" | "on"));
    let items = export::items(c.engine.store(), retired).map_err(Refused::from)?;
    let (bytes, kind, ext) = match format {
        Format::Toml => (
            export::bundle(&items).map_err(Refused::from)?.into_bytes(),
            "application/toml; charset=utf-8",
            "toml",
        ),
        Format::Xlsx => (
            export::sheet(&items).map_err(Refused::from)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    // 事项清单.<ext> for browsers that read `filename*`, catalog.<ext> for the others.
    let name = format!(
        "attachment; filename=\"catalog.{ext}\"; \
         filename*=UTF-8''%E4%BA%8B%E9%A1%B9%E6%B8%85%E5%8D%95.{ext}"
    );
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

async fn audit(State(c): S, _: Admin, Query(l): Query<Limit>) -> Result<Json<Value>, ApiError> {
    let entries: Vec<AuditEntry> = c
        .engine
        .store()
        .audit_latest(l.limit.unwrap_or(200).min(5000))
        .map_err(Refused::from)?;
    Ok(Json(json!({ "entries": entries })))
}

/// Records a failed or successful sign-in, never the password.
pub(super) fn audit_sign_in(c: &Console, user: &str, ok: bool, addr: std::net::IpAddr) {
    let entry = AuditEntry {
        at: super::now_ms(),
        who: user.to_owned(),
        from: addr.to_string(),
        action: if ok { "sign_in" } else { "sign_in.failed" }.into(),
        target: user.to_owned(),
        detail: String::new(),
    };
    if let Err(e) = c.engine.store().audit(&entry) {
        tracing::error!(error = %e, "could not write the audit log");
    }
}

impl From<super::import::ImportRefused> for ApiError {
    fn from(r: super::import::ImportRefused) -> ApiError {
        use super::import::ImportRefused as R;
        let status = match &r {
            R::Cells(_) | R::Cards(_) | R::NoFiles => StatusCode::UNPROCESSABLE_ENTITY,
            R::UnknownPreview => StatusCode::NOT_FOUND,
            R::Changed(_) => StatusCode::CONFLICT,
            R::Store(e) => {
                tracing::error!(error = %format!("{e:#}"), "import failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError {
            status,
            code: r.code(),
            message: r.message(),
            detail: match &r {
                R::Cells(cells) => Some(json!({ "cells": cells })),
                R::Cards(cards) => Some(json!({ "cards": cards })),
                _ => None,
            },
        }
    }
}

/// The import's body: a multipart upload (`curl -F file=@a.toml -F file=@b.toml`, or one
/// XLSX), a TOML card (`Content-Type: application/toml`), or the XLSX file itself.
async fn import_preview(
    State(c): S,
    Admin(user): Admin,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("文件太大了，最多 {} MB", SHEET_LIMIT >> 20),
        )
    };
    let files = if kind.starts_with("multipart/form-data") {
        use axum::extract::FromRequest;
        let mut m = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "没有收到文件"))?;
        match super::pages::read_upload(&mut m).await {
            Ok((_, files)) => files,
            Err(e) if e.contains("limit") => return Err(too_large()),
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    "文件没有传完整，请重新上传",
                ));
            }
        }
    } else {
        let bytes = axum::body::to_bytes(req.into_body(), SHEET_LIMIT)
            .await
            .map_err(|_| too_large())?;
        let name = if kind.contains("toml") {
            "import.toml"
        } else {
            "import.xlsx"
        };
        vec![super::import::Upload {
            name: name.into(),
            bytes: bytes.to_vec(),
        }]
    };
    let preview = c.imports.preview_files(&c.engine, &user, &files)?;
    Ok(Json(json!(preview)))
}

async fn import_confirm(
    State(c): S,
    Admin(user): Admin,
    client: Client,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let revs = c
        .imports
        .confirm(&c.engine, &user, &token, &client.from())
        .await?;
    let list: Vec<Value> = revs
        .iter()
        .map(|r| json!({"id": r.item.id, "rev": r.rev}))
        .collect();
    Ok(Json(json!({ "saved": list })))
}
