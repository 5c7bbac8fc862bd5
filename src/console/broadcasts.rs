//! Broadcasts (群发通知) in the console, for admins only: the pages under `/admin/broadcasts`
//! (the list, a new notice with its preview, one broadcast with its delivery per group) and
//! the JSON API under `/api/v1/broadcasts`. What a broadcast reaches, how long it takes and
//! the audited writes are [`crate::broadcast`]'s; a broadcast confirmed for now is handed to
//! the running service at once (it releases the due ones every minute anyway).
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/v1/broadcasts` | the latest broadcasts |
//! | POST | `/api/v1/broadcasts` | `{text, township?, villages?, platform?}`: a draft, with its preview (201) |
//! | GET | `/api/v1/broadcasts/{id}` | one, with its delivery per group |
//! | POST | `/api/v1/broadcasts/{id}/confirm` | `{at?}`: now, or local `YYYY-MM-DD HH:MM` |
//! | POST | `/api/v1/broadcasts/{id}/cancel` | while not released |
//!
//! Without `township` and `villages` a broadcast goes to every village; `platform` is
//! `onebot`, `wecom`, `qqbot` or `telegram` (default: all).

use super::auth::{self, Admin, Client, Posted, User};
use super::{Console, Routes};
use crate::broadcast::{self, Actor, Area, Choice, Counts, Error, Preview, Status};
use crate::store::broadcasts::{Broadcast, Delivery, Refused, State as BState};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<Console>>;

/// How many broadcasts the list shows.
const LISTED: usize = 50;

/// How often the delivery page reloads itself while groups are still queued, in seconds.
const REFRESH_SECS: u32 = 5;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/broadcasts", list_page)
        .post("/admin/broadcasts", new_page)
        .get("/admin/broadcasts/{id}", show_page)
        .post("/admin/broadcasts/{id}/confirm", confirm_page)
        .post("/admin/broadcasts/{id}/cancel", cancel_page)
        .get("/api/v1/broadcasts", list_api)
        .post("/api/v1/broadcasts", create_api)
        .get("/api/v1/broadcasts/{id}", show_api)
        .post("/api/v1/broadcasts/{id}/confirm", confirm_api)
        .post("/api/v1/broadcasts/{id}/cancel", cancel_api)
        .body_limit(super::api::BODY_LIMIT)
}

// ---------------------------------------------------------------------------------------------
// Errors, as the API and the pages say them.

#[derive(Debug)]
pub struct Refusal {
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

    fn store(e: impl std::fmt::Display) -> Refusal {
        tracing::error!(error = %e, "a broadcast could not be read or written");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_failed",
            "暂时保存不了，请稍后再试",
        )
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        match e {
            Error::Invalid { code, message } => {
                Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            Error::Refused(r @ Refused::Unknown) => {
                Refusal::new(StatusCode::NOT_FOUND, "not_found", r.to_string())
            }
            Error::Refused(r @ Refused::State(_)) => {
                Refusal::new(StatusCode::CONFLICT, "wrong_state", r.to_string())
            }
            Error::Store(e) => Refusal::store(e),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

fn not_found(id: u64) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, "not_found", format!("没有群发{id}"))
}

// ---------------------------------------------------------------------------------------------
// Broadcasts as the pages and the API show them.

#[derive(Debug, Serialize)]
struct Summary {
    id: u64,
    text: String,
    excerpt: String,
    scope: String,
    state: &'static str,
    state_label: &'static str,
    groups: usize,
    created_by: String,
    created_at: String,
    created_ms: u64,
    confirmed_by: Option<String>,
    due_at: Option<String>,
    due_ms: Option<u64>,
    released_at: Option<String>,
    released_ms: Option<u64>,
    counts: Counts,
}

#[derive(Debug, Serialize)]
struct DeliveryLine {
    index: usize,
    village: String,
    name: String,
    platform: &'static str,
    platform_label: &'static str,
    chat: String,
    status: Status,
    status_label: String,
    parts: u32,
    sent: u32,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct View {
    #[serde(flatten)]
    summary: Summary,
    deliveries: Vec<DeliveryLine>,
    estimate: broadcast::Estimate,
    notes: Vec<String>,
    /// A draft: it may be confirmed.
    confirmable: bool,
    /// Not released yet: it may be cancelled.
    cancellable: bool,
    /// Released and some group still queued: the page reloads itself.
    in_progress: bool,
}

fn name_of(c: &Console, id: &str) -> String {
    auth::person(&c.engine.config().org, id).map_or_else(|| id.to_owned(), |(name, _)| name)
}

fn time(c: &Console, ms: u64) -> String {
    c.engine
        .config()
        .org
        .hours
        .format_datetime((ms / 1000) as i64)
}

fn statuses(deliveries: &[Option<Delivery>]) -> impl Iterator<Item = Status> + '_ {
    deliveries.iter().map(|d| Status::of(d.as_ref()))
}

fn summary(c: &Console, b: &Broadcast, deliveries: &[Option<Delivery>]) -> Summary {
    let counts = Counts::of(statuses(deliveries));
    let state_label = match b.state {
        BState::Released if counts.queued > 0 => "发送中",
        BState::Released => "已发完",
        other => broadcast::state_label(other),
    };
    Summary {
        id: b.id,
        text: b.text.clone(),
        excerpt: broadcast::excerpt(&b.text, 30),
        scope: b.scope.clone(),
        state: broadcast::state_name(b.state),
        state_label,
        groups: b.targets.len(),
        created_by: name_of(c, &b.created_by),
        created_at: time(c, b.created_ms),
        created_ms: b.created_ms,
        confirmed_by: b.confirmed_by.as_deref().map(|id| name_of(c, id)),
        due_at: b.due_ms.map(|ms| time(c, ms)),
        due_ms: b.due_ms,
        released_at: b.released_ms.map(|ms| time(c, ms)),
        released_ms: b.released_ms,
        counts,
    }
}

fn view(c: &Console, b: &Broadcast) -> Result<View, Refusal> {
    let service = &c.engine.config().service;
    let deliveries = c
        .engine
        .store()
        .broadcast_deliveries(b.id, b.targets.len())
        .map_err(Refusal::store)?;
    let lines = b
        .targets
        .iter()
        .zip(&deliveries)
        .enumerate()
        .map(|(index, (t, d))| {
            let status = Status::of(d.as_ref());
            let status_label = match (status, d) {
                (Status::Failed, Some(d)) => {
                    format!("失败（{}）", d.error.as_deref().unwrap_or("未知原因"))
                }
                (Status::Queued, _) if broadcast::held_until_next_message(service, t) => {
                    "排队中（等群里下一条消息）".to_owned()
                }
                (Status::Queued, Some(d)) if d.parts > 1 => {
                    format!("排队中（已发 {}/{} 条）", d.sent, d.parts)
                }
                _ => status.label().to_owned(),
            };
            DeliveryLine {
                index,
                village: t.village.clone(),
                name: t.name.clone(),
                platform: broadcast::platform_name(t.platform),
                platform_label: broadcast::platform_label(t.platform),
                chat: t.chat.clone(),
                status,
                status_label,
                parts: d.as_ref().map_or(0, |d| d.parts),
                sent: d.as_ref().map_or(0, |d| d.sent),
                error: d.as_ref().and_then(|d| d.error.clone()),
            }
        })
        .collect();
    let estimate = broadcast::estimate_for(c.engine.config(), &b.text, &b.targets);
    let notes = broadcast::notes(&estimate);
    let in_progress = b.state == BState::Released && statuses(&deliveries).any(|s| !s.is_done());
    Ok(View {
        summary: summary(c, b, &deliveries),
        deliveries: lines,
        estimate,
        notes,
        confirmable: b.state == BState::Draft,
        cancellable: matches!(b.state, BState::Draft | BState::Scheduled),
        in_progress,
    })
}

fn list(c: &Console) -> Result<Vec<Summary>, Refusal> {
    let store = c.engine.store();
    store
        .broadcasts(LISTED)
        .map_err(Refusal::store)?
        .iter()
        .map(|b| {
            let d = store
                .broadcast_deliveries(b.id, b.targets.len())
                .map_err(Refusal::store)?;
            Ok(summary(c, b, &d))
        })
        .collect()
}

fn load(c: &Console, id: u64) -> Result<Broadcast, Refusal> {
    c.engine
        .store()
        .broadcast(id)
        .map_err(Refusal::store)?
        .ok_or_else(|| not_found(id))
}

/// The preview as the API returns it.
fn preview_json(p: &Preview) -> Value {
    let targets: Vec<Value> = p
        .targets
        .iter()
        .map(|t| {
            json!({
                "village": t.village, "name": t.name,
                "platform": broadcast::platform_name(t.platform),
                "platform_label": broadcast::platform_label(t.platform),
                "chat": t.chat,
            })
        })
        .collect();
    json!({
        "scope": p.scope,
        "targets": targets,
        "unreachable": p.unreachable,
        "estimate": p.estimate,
        "notes": p.notes,
    })
}

// ---------------------------------------------------------------------------------------------
// The writes, shared by the pages and the API.

fn actor<'a>(user: &'a User, from: &'a str) -> Actor<'a> {
    Actor {
        who: &user.id,
        from,
    }
}

async fn confirm(
    c: &Console,
    user: &User,
    from: Client,
    id: u64,
    at: Option<&str>,
) -> Result<(Broadcast, String), Refusal> {
    let from = from.from();
    let now = super::now_ms();
    let hours = &c.engine.config().org.hours;
    let b = broadcast::confirm(c.engine.store(), hours, actor(user, &from), id, at, now).await?;
    let due = b.due_ms.unwrap_or(now);
    let told = if due <= now {
        // Released now rather than at the next minute's round.
        match c.poster.get() {
            Some(p) => p.release_due(),
            None => tracing::warn!(broadcast = id, "no running service to release a broadcast"),
        }
        format!("已确认，群发{id}开始发送。")
    } else {
        format!("已确认，群发{id}将在 {} 发送。", time(c, due))
    };
    Ok((b, told))
}

async fn cancel(
    c: &Console,
    user: &User,
    from: Client,
    id: u64,
) -> Result<(Broadcast, String), Refusal> {
    let from = from.from();
    let b = broadcast::cancel(c.engine.store(), actor(user, &from), id, super::now_ms()).await?;
    Ok((b, format!("群发{id}已取消，不会发出。")))
}

// ---------------------------------------------------------------------------------------------
// The API.

/// A JSON body that may be left out (no body, no content type): `{}` then.
fn optional_body(b: Result<Json<Value>, JsonRejection>) -> Result<Value, Refusal> {
    match b {
        Ok(Json(v @ Value::Object(_))) => Ok(v),
        Ok(Json(Value::Null)) | Err(JsonRejection::MissingJsonContentType(_)) => Ok(json!({})),
        Ok(_) | Err(_) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "请求内容要是 JSON 对象",
        )),
    }
}

async fn list_api(State(c): S, _: Admin) -> Result<Json<Value>, Refusal> {
    Ok(Json(json!({ "broadcasts": list(&c)? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    #[serde(default)]
    text: String,
    #[serde(default)]
    township: Option<String>,
    #[serde(default)]
    villages: Option<Vec<String>>,
    #[serde(default)]
    platform: Option<String>,
}

fn body_choice(b: &NewBody) -> Result<Choice, Refusal> {
    let township = b
        .township
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let area = match (township, &b.villages) {
        (Some(_), Some(_)) => {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_scope",
                "township 和 villages 只能写一个",
            ));
        }
        (Some(t), None) => Area::Township(t.to_owned()),
        (None, Some(v)) => Area::Villages(v.iter().map(|v| v.trim().to_owned()).collect()),
        (None, None) => Area::All,
    };
    let platform = broadcast::parse_platform(b.platform.as_deref().unwrap_or(""))?;
    Ok(Choice { area, platform })
}

async fn create_api(
    State(c): S,
    Admin(user): Admin,
    peer: Client,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Refusal> {
    let body: NewBody = serde_json::from_value(optional_body(b)?).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("请求内容不是要求的 JSON：{e}"),
        )
    })?;
    let choice = body_choice(&body)?;
    let preview = broadcast::preview(c.engine.config(), &body.text, &choice)?;
    let from = peer.from();
    let b = broadcast::create(
        c.engine.store(),
        actor(&user, &from),
        &preview,
        super::now_ms(),
    )
    .await?;
    let view = view(&c, &b)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "broadcast": view, "preview": preview_json(&preview) })),
    )
        .into_response())
}

async fn show_api(State(c): S, _: Admin, Path(id): Path<u64>) -> Result<Json<Value>, Refusal> {
    let b = load(&c, id)?;
    Ok(Json(json!({ "broadcast": view(&c, &b)? })))
}

async fn confirm_api(
    State(c): S,
    Admin(user): Admin,
    peer: Client,
    Path(id): Path<u64>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    let body = optional_body(b)?;
    let at = match &body["at"] {
        Value::Null => None,
        Value::String(s) => Some(s.as_str()),
        _ => {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_time",
                "at 要写成 \"2026-06-01 09:00\" 这样的字符串",
            ));
        }
    };
    let (b, told) = confirm(&c, &user, peer, id, at).await?;
    Ok(Json(json!({ "message": told, "broadcast": view(&c, &b)? })))
}

async fn cancel_api(
    State(c): S,
    Admin(user): Admin,
    peer: Client,
    Path(id): Path<u64>,
) -> Result<Json<Value>, Refusal> {
    let (b, told) = cancel(&c, &user, peer, id).await?;
    Ok(Json(json!({ "message": told, "broadcast": view(&c, &b)? })))
}

// ---------------------------------------------------------------------------------------------
// The pages.

fn message(status: StatusCode, user: Option<&User>, heading: &str, text: &str) -> Response {
    super::pages::page(
        status,
        "message.html",
        user,
        context! { heading, text, link => "/admin/broadcasts", link_text => "回到群发列表" },
    )
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The new-broadcast form as submitted (or empty).
#[derive(Debug, Default, Serialize)]
struct NewForm {
    text: String,
    /// `all`, `township` or `villages`.
    area: String,
    township: String,
    villages: Vec<String>,
    /// A platform name, or empty for all.
    platform: String,
}

impl NewForm {
    fn of(form: &[(String, String)]) -> NewForm {
        NewForm {
            text: field(form, "text").unwrap_or("").to_owned(),
            area: field(form, "area").unwrap_or("all").to_owned(),
            township: field(form, "township").unwrap_or("").to_owned(),
            villages: form
                .iter()
                .filter(|(k, _)| k == "villages")
                .map(|(_, v)| v.clone())
                .collect(),
            platform: field(form, "platform").unwrap_or("").to_owned(),
        }
    }

    fn choice(&self) -> Result<Choice, Error> {
        let area = match self.area.as_str() {
            "township" if self.township.trim().is_empty() => {
                return Err(Error::Invalid {
                    code: "no_groups",
                    message: "请选择乡镇".into(),
                });
            }
            "township" => Area::Township(self.township.trim().to_owned()),
            "villages" => Area::Villages(self.villages.clone()),
            _ => Area::All,
        };
        Ok(Choice {
            area,
            platform: broadcast::parse_platform(&self.platform)?,
        })
    }
}

#[derive(Serialize)]
struct Pick {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct TownshipGroup {
    name: String,
    /// Shown unfolded: one of its villages is chosen.
    open: bool,
    villages: Vec<Pick>,
}

/// The form's choices, with what `form` chose marked.
fn choices(c: &Console, form: &NewForm) -> minijinja::Value {
    let config = c.engine.config();
    let org = &config.org;
    let townships: Vec<Pick> = org
        .townships
        .iter()
        .map(|t| Pick {
            value: t.id.clone(),
            label: t.name.clone(),
            selected: t.id == form.township,
        })
        .collect();
    let by_township: Vec<TownshipGroup> = org
        .townships
        .iter()
        .map(|t| {
            let villages: Vec<Pick> = org
                .villages
                .iter()
                .filter(|v| v.township == t.id)
                .map(|v| Pick {
                    value: v.id.clone(),
                    label: v.name.clone(),
                    selected: form.villages.contains(&v.id),
                })
                .collect();
            TownshipGroup {
                name: t.name.clone(),
                open: villages.iter().any(|v| v.selected),
                villages,
            }
        })
        .collect();
    let platforms: Vec<Pick> = broadcast::PLATFORMS
        .iter()
        .map(|&p| {
            let mut label = broadcast::platform_label(p).to_owned();
            if !crate::config::reach::enabled(&config.service, p) {
                label.push_str("（未启用）");
            }
            Pick {
                value: broadcast::platform_name(p).to_owned(),
                label,
                selected: broadcast::platform_name(p) == form.platform,
            }
        })
        .collect();
    context! { townships, by_township, platforms, text_max => broadcast::TEXT_MAX }
}

/// The list with the new form, its preview or its error.
fn list_view(
    c: &Console,
    user: &User,
    status: StatusCode,
    form: &NewForm,
    preview: Option<&Preview>,
    error: Option<String>,
) -> Response {
    let broadcasts = match list(c) {
        Ok(l) => l,
        Err(e) => return message(e.status, Some(user), "读不出群发", &e.message),
    };
    let preview = preview.map(|p| {
        let mut v = preview_json(p);
        v["text"] = json!(p.text);
        v
    });
    super::pages::page(
        status,
        "broadcasts.html",
        Some(user),
        context! {
            broadcasts, form, preview, error,
            ..choices(c, form)
        },
    )
}

async fn list_page(State(c): S, Admin(user): Admin) -> Response {
    list_view(&c, &user, StatusCode::OK, &NewForm::of(&[]), None, None)
}

/// The new form posted: `step=preview` shows what it would reach; `step=save` keeps it as a
/// draft and goes to its page, where it is confirmed.
async fn new_page(
    State(c): S,
    peer: Client,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Vec<(String, String)>>,
) -> Response {
    let f = NewForm::of(&form);
    let preview = f
        .choice()
        .and_then(|choice| broadcast::preview(c.engine.config(), &f.text, &choice));
    let preview = match preview {
        Ok(p) => p,
        Err(e) => {
            let r = Refusal::from(e);
            return list_view(&c, &user, r.status, &f, None, Some(r.message));
        }
    };
    if field(&form, "step") != Some("save") {
        return list_view(&c, &user, StatusCode::OK, &f, Some(&preview), None);
    }
    let from = peer.from();
    match broadcast::create(
        c.engine.store(),
        actor(&user, &from),
        &preview,
        super::now_ms(),
    )
    .await
    {
        Ok(b) => Redirect::to(&format!("/admin/broadcasts/{}", b.id)).into_response(),
        Err(e) => {
            let r = Refusal::from(e);
            list_view(&c, &user, r.status, &f, Some(&preview), Some(r.message))
        }
    }
}

fn broadcast_view(
    c: &Console,
    user: &User,
    id: u64,
    status: StatusCode,
    told: Option<String>,
    error: Option<String>,
) -> Response {
    let b = match load(c, id) {
        Ok(b) => b,
        Err(e) => return message(e.status, Some(user), "看不了这条群发", &e.message),
    };
    let view = match view(c, &b) {
        Ok(v) => v,
        Err(e) => return message(e.status, Some(user), "看不了这条群发", &e.message),
    };
    let hours = &c.engine.config().org.hours;
    // The date-time field's default: the next full hour.
    let next_hour = (super::now_ms() / 3_600_000 + 1) * 3600;
    let default_at = hours.format_datetime(next_hour as i64);
    super::pages::page(
        status,
        "broadcast.html",
        Some(user),
        context! { b => view, told, error, default_at, refresh_secs => REFRESH_SECS },
    )
}

async fn show_page(State(c): S, Admin(user): Admin, Path(id): Path<u64>) -> Response {
    broadcast_view(&c, &user, id, StatusCode::OK, None, None)
}

async fn confirm_page(
    State(c): S,
    peer: Client,
    Path(id): Path<u64>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Vec<(String, String)>>,
) -> Response {
    let at = match field(&form, "when") {
        Some("at") => Some(field(&form, "at").unwrap_or("")).filter(|a| !a.trim().is_empty()),
        _ => None,
    };
    if field(&form, "when") == Some("at") && at.is_none() {
        return broadcast_view(
            &c,
            &user,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("请填写发送时间".into()),
        );
    }
    match confirm(&c, &user, peer, id, at).await {
        Ok((_, told)) => broadcast_view(&c, &user, id, StatusCode::OK, Some(told), None),
        Err(e) => broadcast_view(&c, &user, id, e.status, None, Some(e.message)),
    }
}

async fn cancel_page(
    State(c): S,
    peer: Client,
    Path(id): Path<u64>,
    Posted {
        by: Admin(user), ..
    }: Posted<Admin, Vec<(String, String)>>,
) -> Response {
    match cancel(&c, &user, peer, id).await {
        Ok((_, told)) => broadcast_view(&c, &user, id, StatusCode::OK, Some(told), None),
        Err(e) => broadcast_view(&c, &user, id, e.status, None, Some(e.message)),
    }
}
