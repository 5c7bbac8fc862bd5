//! The agents' desk (工单): the tickets an agent or admin may work on, filtered by stage,
//! village, item and date, with the ledger export of exactly what the filter shows; a ticket's
//! timeline; and claim, reply, transfer and resolve — pages under `/desk` and the JSON API
//! under `/api/v1/tickets`.
//!
//! **The rules are the chat commands' own**: every action goes through
//! [`crate::helpdesk::agents::act`], and what the resident and the agents are told comes from
//! [`agents::notices`], exactly as for `接单 N`, `回复 N …`, `转办 N …` and `办结 N`. The messages
//! then go where the ticket came from (see [`deliver`]).
//!
//! Who sees what: an agent, the open tickets of the villages they serve (a township centre's
//! agent: the township's; the district centre's: all) and those handed to them; an admin, all.
//! Personal numbers are masked everywhere on these pages: a browser is not a private chat.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/v1/tickets` | the list (`?view=mine|all&stage=&village=&item=&from=&to=`) |
//! | GET | `/api/v1/tickets/export` | the same filter as the ledger (`&format=csv|xlsx`) |
//! | GET | `/api/v1/tickets/{n}` | one ticket with its timeline |
//! | POST | `/api/v1/tickets/{n}/claim`, `/resolve` | `{request_id?}` |
//! | POST | `/api/v1/tickets/{n}/reply` | `{text, request_id?}` |
//! | POST | `/api/v1/tickets/{n}/transfer` | `{to, request_id?}`: 专员名字、村名、乡镇名或“区中心” |
//!
//! A `request_id` (or the page form's hidden one) makes an action happen once however often it
//! is sent: sent again, it answers with what it did.

use super::auth::{self, Client, Posted, SignedIn, User};
use super::{Console, Routes};
use crate::config::Config;
use crate::config::org::{Org, Person};
use crate::helpdesk::agents::{self, Act, Acted, Refused};
use crate::helpdesk::ledger::{self, Period};
use crate::helpdesk::{notify, privacy};
use crate::store::audit::AuditEntry;
use crate::store::tickets::{Change, Stage, Ticket, TicketEvent};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bangban_contract::{Outgoing, Platform};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Console>>;

pub fn routes() -> Routes {
    Routes::new()
        .get("/desk", list_page)
        .get("/desk/export", export_page)
        .get("/desk/tickets/{n}", ticket_page)
        .post("/desk/tickets/{n}/{action}", act_page)
        .get("/api/v1/tickets", list_api)
        .get("/api/v1/tickets/export", export_api)
        .get("/api/v1/tickets/{n}", ticket_api)
        .post("/api/v1/tickets/{n}/{action}", act_api)
        .body_limit(super::api::BODY_LIMIT)
}

// ---------------------------------------------------------------------------------------------
// Who may see what, and the filter.

/// The agent or admin of `org.toml` a console user is.
fn person<'a>(org: &'a Org, user: &User) -> Option<Person<'a>> {
    agents::person_by_id(org, &user.id)
}

/// What the list shows, as the query string gives it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Filter {
    /// `mine` (default): what I hold and what waits for me; `all`: every ticket I may work on.
    #[serde(default)]
    pub view: Option<String>,
    /// Empty: the open ones; `all`: every stage; else a stage (`pending`, `claimed`…).
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub village: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    /// Opened on or after this local date, `YYYY-MM-DD`.
    #[serde(default)]
    pub from: Option<String>,
    /// Opened on or before this local date.
    #[serde(default)]
    pub to: Option<String>,
    /// For the export: `csv` (default) or `xlsx`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A filter checked against the organisation and the catalog.
struct Checked {
    mine: bool,
    /// `None`: the open stages.
    stages: Option<Vec<Stage>>,
    village: Option<String>,
    item: Option<String>,
    period: Period,
}

const STAGES: [(&str, Stage); 6] = [
    ("pending", Stage::Pending),
    ("claimed", Stage::Claimed),
    ("transferred", Stage::Transferred),
    ("escalated", Stage::Escalated),
    ("resolved", Stage::Resolved),
    ("rated", Stage::Rated),
];

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Filter {
    /// The filter as a query string (without `format`), for the export links.
    fn query(&self) -> String {
        let fields = [
            ("view", &self.view),
            ("stage", &self.stage),
            ("village", &self.village),
            ("item", &self.item),
            ("from", &self.from),
            ("to", &self.to),
        ];
        fields
            .iter()
            .filter_map(|(k, v)| some(v).map(|v| format!("{k}={}", encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The filter checked; the error is for the agent, in Chinese.
    fn check(&self, config: &Config) -> Result<Checked, String> {
        let mine = match some(&self.view) {
            None | Some("mine") => true,
            Some("all") => false,
            Some(v) => return Err(format!("不认识的范围“{v}”，请写 mine 或 all")),
        };
        let stages = match some(&self.stage) {
            None => None,
            Some("all") => Some(STAGES.iter().map(|(_, s)| *s).collect()),
            Some(s) => match STAGES.iter().find(|(name, _)| *name == s) {
                Some((_, stage)) => Some(vec![*stage]),
                None => return Err(format!("没有“{s}”这个环节")),
            },
        };
        let village = match some(&self.village) {
            None => None,
            Some(v) if config.org.village(v).is_some() => Some(v.to_owned()),
            Some(v) => return Err(format!("没有“{v}”这个村")),
        };
        let item = match some(&self.item) {
            None => None,
            Some(i) if config.catalog.get(i).is_some() => Some(i.to_owned()),
            Some(i) => return Err(format!("没有“{i}”这个事项")),
        };
        let period = Period::parse(some(&self.from), some(&self.to))?;
        Ok(Checked {
            mine,
            stages,
            village,
            item,
            period,
        })
    }
}

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

impl Checked {
    fn shows(&self, org: &Org, person: Person<'_>, t: &Ticket) -> bool {
        let stage = match &self.stages {
            None => !t.stage.is_closed(),
            Some(s) => s.contains(&t.stage),
        };
        let mine = !self.mine
            || t.assignee.as_ref().is_some_and(|a| a.id == person.id())
            || (t.stage.is_waiting() && agents::waits_for(org, person, t));
        let (day, _) = org.hours.local(crate::helpdesk::secs(t.created_at));
        stage
            && mine
            && agents::may_act(org, person, t)
            && self
                .village
                .as_ref()
                .is_none_or(|v| t.village.as_ref() == Some(v))
            && self
                .item
                .as_ref()
                .is_none_or(|i| t.item.as_ref() == Some(i))
            && self.period.from.is_none_or(|f| day >= f)
            && self.period.to.is_none_or(|to| day <= to)
    }
}

/// The tickets `person` may see that `filter` shows, in number order.
fn filtered(c: &Console, person: Person<'_>, filter: &Checked) -> anyhow::Result<Vec<Ticket>> {
    let org = &c.engine.config().org;
    Ok(c.engine
        .store()
        .tickets()?
        .all()?
        .into_iter()
        .filter(|t| filter.shows(org, person, t))
        .collect())
}

/// The ledger rows of `tickets`, sandbox tickets included (the ledger itself leaves them out:
/// here they are what the list shows, marked 体验).
fn ledger_rows(config: &Config, tickets: &[Ticket]) -> Vec<ledger::Row> {
    let as_real: Vec<Ticket> = tickets
        .iter()
        .cloned()
        .map(|mut t| {
            if t.platform == Platform::Sandbox {
                t.platform = Platform::Onebot;
            }
            t
        })
        .collect();
    let mut rows = ledger::rows(config, &as_real, Period::default());
    for (row, t) in rows.iter_mut().zip(tickets) {
        row.group = notify::chat_label(t.platform, &t.chat);
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Tickets as pages and the API show them.

#[derive(Debug, Serialize)]
struct Line {
    id: u64,
    stage: &'static str,
    stage_label: &'static str,
    village: String,
    item: String,
    item_id: Option<String>,
    question: String,
    created_at: String,
    /// Who it is with: the agent who holds it, or who it waits for.
    with: String,
    sandbox: bool,
}

fn stage_name(s: Stage) -> &'static str {
    STAGES
        .iter()
        .find(|(_, x)| *x == s)
        .map_or("pending", |(n, _)| n)
}

fn village_name(org: &Org, t: &Ticket) -> String {
    t.village
        .as_deref()
        .and_then(|v| org.village(v))
        .map_or_else(|| "—".to_owned(), |v| v.name.clone())
}

fn time(org: &Org, ms: u64) -> String {
    org.hours.format_datetime(crate::helpdesk::secs(ms))
}

fn with(org: &Org, t: &Ticket) -> String {
    match (&t.assignee, t.stage) {
        (Some(a), Stage::Claimed) => a.name.clone(),
        _ => notify::who(org, &t.handler),
    }
}

fn line(c: &Console, t: &Ticket) -> Line {
    let org = &c.engine.config().org;
    let catalog = &c.engine.guide().load().catalog;
    Line {
        id: t.id,
        stage: stage_name(t.stage),
        stage_label: t.stage.label(),
        village: village_name(org, t),
        item: notify::item_label(catalog, t.item.as_deref()),
        item_id: t.item.clone(),
        question: notify::excerpt(&privacy::mask(&notify::one_line(&t.question))),
        created_at: time(org, t.created_at),
        with: with(org, t),
        sandbox: t.platform == Platform::Sandbox,
    }
}

#[derive(Debug, Serialize)]
struct Entry {
    at: String,
    at_ms: u64,
    by: String,
    role: crate::store::tickets::Role,
    change: &'static str,
    label: &'static str,
    /// What was said, to whom, which rating: masked.
    detail: String,
}

fn entry(org: &Org, e: &TicketEvent) -> Entry {
    let detail = match &e.change {
        Change::Replied { text } => privacy::mask(text),
        Change::Transferred { to } => format!("给{}", notify::who(org, to)),
        Change::Escalated { to } => format!("到{}", notify::level_label(*to)),
        Change::Rated { rating } => rating.label().to_owned(),
        Change::FollowUp { ticket } => format!("回访工单{ticket}"),
        _ => String::new(),
    };
    Entry {
        at: time(org, e.at),
        at_ms: e.at,
        // A resident's display name is their own text, and may carry a phone number.
        by: privacy::mask(&notify::one_line(&e.by.name)),
        role: e.by.role,
        change: e.change.name(),
        label: e.change.label(),
        detail,
    }
}

#[derive(Debug, Serialize)]
struct View {
    #[serde(flatten)]
    line: Line,
    resident: String,
    /// The whole question, masked.
    question_full: String,
    reason: &'static str,
    chat: String,
    follow_up_of: Option<u64>,
    rating: Option<&'static str>,
    /// Whether the viewer may act on it now (open and theirs).
    actionable: bool,
    events: Vec<Entry>,
}

fn view(c: &Console, person: Person<'_>, t: &Ticket) -> View {
    let org = &c.engine.config().org;
    View {
        line: line(c, t),
        resident: notify::resident_label(t, true),
        question_full: privacy::mask(&t.question),
        reason: t.reason.label(),
        chat: notify::chat_label(t.platform, &t.chat),
        follow_up_of: t.follow_up_of,
        rating: t.rating.map(|r| r.label()),
        actionable: !t.stage.is_closed() && agents::may_act(org, person, t),
        events: t.events.iter().map(|e| entry(org, e)).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Actions, and where their messages go.

/// What an action did, for the page or the API.
struct Outcome {
    acted: Acted,
    /// What the agent is told (`已接单：工单12。`).
    told: String,
}

/// Why an action was refused, as the API and the pages say it.
#[derive(Debug)]
pub struct DeskError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl DeskError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> DeskError {
        DeskError {
            status,
            code,
            message: message.into(),
        }
    }

    fn store(e: anyhow::Error) -> DeskError {
        tracing::error!(error = %format!("{e:#}"), "a desk action failed");
        DeskError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_failed",
            "暂时保存不了，请稍后再试",
        )
    }
}

impl From<Refused> for DeskError {
    fn from(r: Refused) -> DeskError {
        let status = match r.code {
            "not_found" => StatusCode::NOT_FOUND,
            "not_yours" | "follow_up" | "transferred_away" => StatusCode::FORBIDDEN,
            "personal_numbers" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::CONFLICT,
        };
        DeskError::new(status, r.code, r.message)
    }
}

impl IntoResponse for DeskError {
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

/// The most characters of a reply from the console (a chat message's length, about).
const REPLY_MAX: usize = 2000;

/// The action `name` with its form or body values.
fn parse_act(org: &Org, name: &str, values: &HashMap<String, String>) -> Result<Act, DeskError> {
    let text = |k: &str| values.get(k).map(|s| s.trim()).unwrap_or("");
    match name {
        "claim" => Ok(Act::Claim),
        "resolve" => Ok(Act::Resolve),
        "reply" => {
            let t = text("text");
            if t.is_empty() || t.chars().count() > REPLY_MAX {
                return Err(DeskError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!("回复请写 1 到 {REPLY_MAX} 个字"),
                ));
            }
            Ok(Act::Reply(t.to_owned()))
        }
        "transfer" => {
            let to = text("to");
            agents::find_target(org, to)
                .map(Act::Transfer)
                .ok_or_else(|| {
                    DeskError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unknown_target",
                        format!("找不到转办对象“{to}”。可以写专员名字、村名、乡镇名或“区中心”。"),
                    )
                })
        }
        _ => Err(DeskError::new(
            StatusCode::NOT_FOUND,
            "unknown_action",
            "没有这个操作",
        )),
    }
}

/// The source an action is kept under: once per user and request id.
fn source(user: &User, request: Option<&str>) -> Result<String, DeskError> {
    let id = match request.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            r.to_owned()
        }
        Some(_) => {
            return Err(DeskError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "request_id 只能用字母、数字和“-”，最多 64 个",
            ));
        }
        None => auth::random_token(),
    };
    Ok(format!("console:{}:{id}", user.id))
}

/// Carries out `action` on ticket `n` for `user`, audits it and delivers what it announces.
async fn carry_out(
    c: &Console,
    user: &User,
    n: u64,
    action: &str,
    values: &HashMap<String, String>,
    from: Client,
) -> Result<Outcome, DeskError> {
    let config = c.engine.config();
    let org = &config.org;
    let person = person(org, user).ok_or_else(not_staff)?;
    let what = parse_act(org, action, values)?;
    let source = source(user, values.get("request_id").map(String::as_str))?;
    let acted = agents::act(
        org,
        c.engine.store(),
        person,
        n,
        &what,
        &source,
        super::now_ms(),
    )
    .await
    .map_err(DeskError::store)?
    .map_err(DeskError::from)?;
    let chat = agents::ResidentChat::of(&c.engine.config().service, &acted.ticket);
    let told = agents::confirmation(org, &acted.ticket, &acted.event, chat);
    if acted.new {
        let catalog = &c.engine.guide().load().catalog;
        let out = agents::notices(org, catalog, &acted.ticket, &acted.event, chat);
        deliver(c, out).await.map_err(DeskError::store)?;
        let entry = AuditEntry {
            at: acted.event.at,
            who: user.id.clone(),
            from: from.from(),
            action: format!("ticket.{}", acted.event.change.name()),
            target: n.to_string(),
            // Never the reply's text: it may carry a resident's number.
            detail: told.clone(),
        };
        if let Err(e) = c.engine.store().audit(&entry) {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
    Ok(Outcome { acted, told })
}

/// Sends what an action announces the way the ticket's own platform is served: a sandbox
/// ticket's messages go to the sandbox page (never queued for a platform); the others go
/// through the running service's outbox, paced and split as the chat command's would.
async fn deliver(c: &Console, actions: Vec<Outgoing>) -> anyhow::Result<()> {
    let (sandbox, platforms): (Vec<_>, Vec<_>) = actions.into_iter().partition(|a| {
        let Outgoing::SendText { platform, .. } = a;
        *platform == Platform::Sandbox
    });
    c.sandbox.deliver(&c.engine.config().org, sandbox);
    if platforms.is_empty() {
        return Ok(());
    }
    let poster = c
        .poster
        .get()
        .ok_or_else(|| anyhow::anyhow!("the service has not started"))?;
    poster.post(platforms).await?;
    Ok(())
}

fn not_staff() -> DeskError {
    DeskError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "只有帮办专员和管理员可以处理工单",
    )
}

// ---------------------------------------------------------------------------------------------
// The API.

fn checked(c: &Console, f: &Filter) -> Result<Checked, DeskError> {
    f.check(c.engine.config())
        .map_err(|m| DeskError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter", m))
}

async fn list_api(
    State(c): S,
    SignedIn(user): SignedIn,
    Query(f): Query<Filter>,
) -> Result<Json<Value>, DeskError> {
    let org = &c.engine.config().org;
    let person = person(org, &user).ok_or_else(not_staff)?;
    let filter = checked(&c, &f)?;
    let tickets = filtered(&c, person, &filter).map_err(DeskError::store)?;
    let lines: Vec<Line> = tickets.iter().map(|t| line(&c, t)).collect();
    Ok(Json(json!({ "tickets": lines })))
}

async fn ticket_api(
    State(c): S,
    SignedIn(user): SignedIn,
    Path(n): Path<u64>,
) -> Result<Json<Value>, DeskError> {
    let t = readable(&c, &user, n)?;
    let org = &c.engine.config().org;
    let person = person(org, &user).ok_or_else(not_staff)?;
    Ok(Json(json!(view(&c, person, &t))))
}

/// Ticket `n`, if `user` may see it.
fn readable(c: &Console, user: &User, n: u64) -> Result<Ticket, DeskError> {
    let org = &c.engine.config().org;
    let person = person(org, user).ok_or_else(not_staff)?;
    let t = c
        .engine
        .store()
        .tickets()
        .and_then(|t| t.get(n))
        .map_err(|e| DeskError::store(e.into()))?
        .ok_or_else(|| {
            DeskError::new(StatusCode::NOT_FOUND, "not_found", format!("没有工单{n}。"))
        })?;
    if !agents::may_act(org, person, &t) {
        return Err(agents::refusal(org, &t).into());
    }
    Ok(t)
}

async fn act_api(
    State(c): S,
    SignedIn(user): SignedIn,
    client: Client,
    Path((n, action)): Path<(u64, String)>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, DeskError> {
    // A body is optional for claim and resolve.
    let values: HashMap<String, String> = match b {
        Ok(Json(Value::Object(m))) => m
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect(),
        Ok(Json(Value::Null)) => HashMap::new(),
        Err(JsonRejection::MissingJsonContentType(_))
            if !matches!(action.as_str(), "reply" | "transfer") =>
        {
            HashMap::new()
        }
        Ok(_) | Err(_) => {
            return Err(DeskError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                "请求内容要是 JSON 对象",
            ));
        }
    };
    let out = carry_out(&c, &user, n, &action, &values, client).await?;
    let org = &c.engine.config().org;
    let person = person(org, &user).ok_or_else(not_staff)?;
    Ok(Json(json!({
        "message": out.told,
        "repeated": !out.acted.new,
        "ticket": view(&c, person, &out.acted.ticket),
    })))
}

/// The ledger of exactly what `filter` shows, as CSV or XLSX.
fn export(c: &Console, user: &User, f: &Filter) -> Result<Response, DeskError> {
    let org = &c.engine.config().org;
    let person = person(org, user).ok_or_else(not_staff)?;
    let filter = checked(c, f)?;
    let xlsx = match some(&f.format) {
        None | Some("csv") => false,
        Some("xlsx") => true,
        Some(other) => {
            return Err(DeskError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
                format!("不认识的格式“{other}”，请写 csv 或 xlsx"),
            ));
        }
    };
    let tickets = filtered(c, person, &filter).map_err(DeskError::store)?;
    let rows = ledger_rows(c.engine.config(), &tickets);
    let (bytes, kind, ext) = if xlsx {
        (
            ledger::xlsx(&rows),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        )
    } else {
        (ledger::csv(&rows), "text/csv; charset=utf-8", "csv")
    };
    let bytes = bytes.map_err(DeskError::store)?;
    let name = format!("attachment; filename=\"ledger.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}

async fn export_api(
    State(c): S,
    SignedIn(user): SignedIn,
    Query(f): Query<Filter>,
) -> Result<Response, DeskError> {
    export(&c, &user, &f)
}

// ---------------------------------------------------------------------------------------------
// The pages.

fn page(status: StatusCode, name: &str, user: &User, ctx: minijinja::Value) -> Response {
    super::pages::page(status, name, Some(user), ctx)
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

fn choices(c: &Console) -> (Vec<Choice>, Vec<Choice>, Vec<Choice>) {
    let org = &c.engine.config().org;
    let stages = [("", "未办结"), ("all", "全部")]
        .into_iter()
        .map(|(v, l)| Choice {
            value: v.into(),
            label: l.into(),
        })
        .chain(STAGES.iter().map(|(v, s)| Choice {
            value: (*v).into(),
            label: s.label().into(),
        }))
        .collect();
    let villages = org
        .villages
        .iter()
        .map(|v| Choice {
            value: v.id.clone(),
            label: v.name.clone(),
        })
        .collect();
    let items = c
        .engine
        .config()
        .catalog
        .items()
        .iter()
        .map(|i| Choice {
            value: i.id.clone(),
            label: crate::reply::short_name(i),
        })
        .collect();
    (stages, villages, items)
}

fn message_page(status: StatusCode, user: &User, heading: &str, text: &str) -> Response {
    page(
        status,
        "desk.html",
        user,
        context! { heading, error => text, tickets => Vec::<Line>::new(), blocked => true },
    )
}

async fn list_page(State(c): S, SignedIn(user): SignedIn, Query(f): Query<Filter>) -> Response {
    let org = &c.engine.config().org;
    let Some(person) = person(org, &user) else {
        return message_page(
            StatusCode::FORBIDDEN,
            &user,
            "没有权限",
            "只有帮办专员和管理员可以处理工单。",
        );
    };
    let (stages, villages, items) = choices(&c);
    let query = f.query();
    let (status, tickets, error) = match checked(&c, &f) {
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Vec::new(),
            Some(e.message),
        ),
        Ok(filter) => match filtered(&c, person, &filter) {
            Ok(t) => (
                StatusCode::OK,
                t.iter().map(|t| line(&c, t)).collect(),
                None,
            ),
            Err(e) => (
                DeskError::store(e).status,
                Vec::new(),
                Some("暂时读不出工单，请稍后再试".to_owned()),
            ),
        },
    };
    page(
        status,
        "desk.html",
        &user,
        context! {
            heading => "工单",
            tickets, error, filter => f, query, stages, villages, items,
        },
    )
}

async fn export_page(State(c): S, SignedIn(user): SignedIn, Query(f): Query<Filter>) -> Response {
    match export(&c, &user, &f) {
        Ok(r) => r,
        Err(e) => message_page(e.status, &user, "导出不了", &e.message),
    }
}

fn ticket_view(
    c: &Console,
    user: &User,
    n: u64,
    status: StatusCode,
    told: Option<String>,
    error: Option<String>,
) -> Response {
    let t = match readable(c, user, n) {
        Ok(t) => t,
        Err(e) => return message_page(e.status, user, "看不了这个工单", &e.message),
    };
    let org = &c.engine.config().org;
    let Some(person) = person(org, user) else {
        return message_page(
            StatusCode::FORBIDDEN,
            user,
            "没有权限",
            &not_staff().message,
        );
    };
    page(
        status,
        "ticket.html",
        user,
        context! {
            t => view(c, person, &t),
            told, error,
            // A fresh id per form: submitting it twice does it once.
            // Room for the form's "-c"/"-r"/… within the 64 characters a request id may have.
            request_id => &auth::random_token()[..32],
        },
    )
}

async fn ticket_page(State(c): S, SignedIn(user): SignedIn, Path(n): Path<u64>) -> Response {
    ticket_view(&c, &user, n, StatusCode::OK, None, None)
}

async fn act_page(
    State(c): S,
    client: Client,
    Path((n, action)): Path<(u64, String)>,
    Posted {
        by: SignedIn(user),
        form,
    }: Posted<SignedIn, HashMap<String, String>>,
) -> Response {
    match carry_out(&c, &user, n, &action, &form, client).await {
        Ok(out) => ticket_view(&c, &user, n, StatusCode::OK, Some(out.told), None),
        Err(e) => ticket_view(&c, &user, n, e.status, None, Some(e.message)),
    }
}
