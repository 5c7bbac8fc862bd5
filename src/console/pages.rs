//! The console's HTML pages, rendered on the server from the templates in `templates/` (built
//! into the binary). Forms post back to the same pages; each carries the session's CSRF token.
//! Signed out, a page sends the browser to `/login` and a write is refused; an agent gets a
//! 403 page for admin pages — all by `auth`'s extractors ([`Admin`], [`Posted`], [`Uploaded`]).

use super::auth::{self, Admin, Client, Posted, Refusal, SignedIn, Uploaded, User};
use super::gaps;
use super::items::{self, Change, Refused};
use super::{Console, Routes};
use crate::catalog::Aspect;
use crate::catalog::fields::{self, FieldError, Fields};
use crate::config::org::Org;
use crate::reply;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

type S = State<Arc<Console>>;

pub fn routes() -> Routes {
    Routes::new()
        // Signed in, the sign-in page sends each user to their own start page.
        .get("/", || async { Redirect::to("/login") })
        .get("/login", login_page)
        .sign_in("/login", login)
        .post("/logout", logout)
        .get("/admin", list)
        .get("/admin/new", new_page)
        .post("/admin/new", create)
        .get("/admin/items/{id}", show)
        .post("/admin/items/{id}", save)
        .get("/admin/items/{id}/edit", edit)
        .post("/admin/items/{id}/retire", retire)
        .get("/admin/items/{id}/revisions", revisions)
        .post("/admin/items/{id}/revisions/{rev}/restore", restore)
        .get("/admin/sandbox", sandbox_page)
        .post("/admin/sandbox", sandbox_say)
        .get("/admin/audit", audit)
        .get("/admin/export", export_page)
        .get("/admin/gaps", gaps_page)
        .post("/admin/gaps/{id}/teach", gap_teach)
        .post("/admin/gaps/{id}/dismiss", gap_dismiss)
        .get("/admin/gaps/{id}/new", gap_new_page)
        .post("/admin/gaps/{id}/new", gap_new_item)
        .post("/admin/import/{token}/confirm", import_confirm)
        .body_limit(super::api::BODY_LIMIT)
        .merge(
            Routes::new()
                .get("/admin/import", import_page)
                .post("/admin/import", import_upload)
                .body_limit(super::api::SHEET_LIMIT),
        )
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("message.html", include_str!("templates/message.html")),
        ("login.html", include_str!("templates/login.html")),
        ("items.html", include_str!("templates/items.html")),
        ("item.html", include_str!("templates/item.html")),
        ("edit.html", include_str!("templates/edit.html")),
        ("revisions.html", include_str!("templates/revisions.html")),
        ("sandbox.html", include_str!("templates/sandbox.html")),
        ("audit.html", include_str!("templates/audit.html")),
        ("gaps.html", include_str!("templates/gaps.html")),
        ("import.html", include_str!("templates/import.html")),
        ("export.html", include_str!("templates/export.html")),
        ("desk.html", include_str!("templates/desk.html")),
        ("ticket.html", include_str!("templates/ticket.html")),
        ("broadcasts.html", include_str!("templates/broadcasts.html")),
        ("broadcast.html", include_str!("templates/broadcast.html")),
        ("stats.html", include_str!("templates/stats.html")),
    ] {
        env.add_template(name, text)
            .expect("the console's templates parse");
    }
    env
});

/// Renders `name`; the signed-in user (if any) is always in the context for the header.
pub(crate) fn page(status: StatusCode, name: &str, user: Option<&User>, ctx: Value) -> Response {
    let common = context! {
        user => user,
        role => user.map(|u| u.role.label()),
        csrf => user.and_then(|u| u.csrf.clone()),
    };
    let ctx = context! { ..ctx, ..common };
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "a console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "页面出错了，请联系技术人员",
            )
                .into_response()
        }
    }
}

fn message(status: StatusCode, user: Option<&User>, heading: &str, text: &str) -> Response {
    page(
        status,
        "message.html",
        user,
        context! { heading, text, link => "/admin", link_text => "回到事项列表" },
    )
}

/// Checks a sign-in: the session id and CSRF token, or the status, code and Chinese message.
pub(super) fn check_sign_in(
    c: &Console,
    user: &str,
    password: &str,
    addr: IpAddr,
) -> Result<(String, String), (StatusCode, &'static str, String)> {
    let now = Instant::now();
    let user = user.trim();
    if !c.limiter.allowed(user, Some(addr), now) {
        tracing::warn!(user, %addr, "sign-in refused: too many failures");
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "密码错误次数太多，请 15 分钟后再试".into(),
        ));
    }
    let store = c.engine.store();
    let known = auth::person(&c.engine.config().org, user).is_some();
    let hash = if known {
        store.credentials(user).ok().and_then(|c| c.password)
    } else {
        None
    };
    let ok = hash.is_some_and(|h| auth::verify_password(&h, password));
    super::api::audit_sign_in(c, user, ok, addr);
    if !ok {
        c.limiter.failed(user, Some(addr), now);
        tracing::warn!(user, %addr, "sign-in failed");
        return Err((
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "用户名或密码不对".into(),
        ));
    }
    c.limiter.succeeded(user);
    tracing::info!(user, %addr, "signed in");
    auth::open_session(store, user).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "could not open a session");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "store_error",
            "暂时无法登录，请稍后再试".into(),
        )
    })
}

async fn login_page(user: Option<SignedIn>) -> Response {
    if let Some(SignedIn(user)) = user {
        return Redirect::to(home(&user)).into_response();
    }
    page(StatusCode::OK, "login.html", None, context! { name => "" })
}

/// Where a user lands after signing in: admins on the item list, agents on their tickets.
fn home(user: &User) -> &'static str {
    if user.is_admin() { "/admin" } else { "/desk" }
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(State(c): S, client: Client, Form(f): Form<LoginForm>) -> Response {
    match check_sign_in(&c, &f.user, &f.password, client.addr) {
        Ok((session, _)) => {
            let to = User::of(&c.engine.config().org, f.user.trim(), None)
                .map_or("/admin", |u| home(&u));
            let mut res = Redirect::to(to).into_response();
            let cookie = auth::session_cookie(&session, client.https);
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("ascii cookie"),
            );
            res
        }
        Err((status, _, error)) => page(
            status,
            "login.html",
            None,
            context! { error, name => f.user },
        ),
    }
}

/// Signing out: signed out already, it just goes to the sign-in page.
async fn logout(
    State(c): S,
    client: Client,
    headers: HeaderMap,
    posted: Result<Posted<SignedIn, Fields>, Refusal>,
) -> Response {
    match posted {
        Ok(_) => {
            if let Some(id) = auth::session_id(&headers)
                && let Err(e) = c.engine.store().end_session(&auth::digest(&id))
            {
                tracing::error!(error = %e, "could not end a session");
            }
        }
        Err(r) if r.signed_out() => {}
        Err(r) => return r.into_response(),
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_cookie(client.https)).expect("ascii"),
    );
    res
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

async fn list(State(c): S, Admin(user): Admin, Query(s): Query<Search>) -> Response {
    match items::list(&c.engine, &s.q) {
        Ok(items) => page(
            StatusCode::OK,
            "items.html",
            Some(&user),
            context! { items, q => s.q },
        ),
        Err(r) => refused(&user, r),
    }
}

fn refused(user: &User, r: Refused) -> Response {
    let status = match r {
        Refused::Unknown => StatusCode::NOT_FOUND,
        Refused::Store(ref e) => {
            tracing::error!(error = %format!("{e:#}"), "console page failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    message(status, Some(user), "没有办成", &r.message())
}

fn time(c: &Console, ms: u64) -> String {
    c.engine
        .config()
        .org
        .hours
        .format_datetime((ms / 1000) as i64)
}

#[derive(Serialize)]
struct Answer {
    label: &'static str,
    text: String,
}

#[derive(Deserialize)]
struct Saved {
    saved: Option<u64>,
}

async fn show(
    State(c): S,
    Admin(user): Admin,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> Response {
    let rev = match items::current(&c.engine, &id) {
        Ok(r) => r,
        Err(r) => return refused(&user, r),
    };
    let replies = &c.engine.config().replies;
    let answers: Vec<Answer> = Aspect::ALL
        .into_iter()
        .map(|a| Answer {
            label: a.label(),
            text: reply::answer(&rev.item, a, None, replies),
        })
        .collect();
    page(
        StatusCode::OK,
        "item.html",
        Some(&user),
        context! {
            item => &rev.item, at => time(&c, rev.at), rev => &rev, answers,
            saved => q.saved.map(|n| format!("已保存为第 {n} 版，机器人现在按这一版回答")),
        },
    )
}

/// One field of the edit form.
#[derive(Serialize)]
struct FormField {
    key: &'static str,
    label: &'static str,
    value: String,
    long: bool,
    rows: usize,
    hint: &'static str,
    errors: Vec<FieldError>,
}

fn form(values: &Fields, errors: &[FieldError]) -> Vec<FormField> {
    fields::FIELDS
        .iter()
        .map(|(key, label)| {
            let value = values.get(*key).cloned().unwrap_or_default();
            let long = !matches!(
                *key,
                "name"
                    | "department"
                    | "time_legal_days"
                    | "time_promised_days"
                    | "time_instant"
                    | "fee_free"
                    | "review_reviewed_at"
                    | "review_status"
            );
            let hint = match *key {
                "materials" => "每行一种：名称｜原件｜份数｜备注（形式：原件、复印件、原件和复印件、电子版、照片）",
                "places" => "每行一处：级别｜名称｜备注（级别：村、乡镇、区、其他）",
                "online" => "每行一个：名称｜在哪里点",
                "contacts" => "每行一个：名称｜电话",
                "basis" => "每行一个：《文件名》｜条款",
                "faq" => "每行一问：问题｜回答",
                "examples" => "每行一句：方面｜居民的问法（方面如 申请材料、办理地点、本人情况、投诉）",
                "aliases" | "conditions" | "process" | "premium" | "benefit" | "window" => {
                    "每行一条"
                }
                _ => "",
            };
            FormField {
                key,
                label,
                rows: value.lines().count().clamp(2, 14),
                value,
                long,
                hint,
                errors: errors.iter().filter(|e| e.field == *key).cloned().collect(),
            }
        })
        .collect()
}

/// The edit form as shown: the values typed, the revision they are based on, and what to say.
struct EditView<'a> {
    id: &'a str,
    values: &'a Fields,
    base: Option<u64>,
    errors: &'a [FieldError],
    message: Option<String>,
    /// The other admin's revision and their change, when this save was on a stale one.
    stale: Option<(&'a crate::store::catalog::Revision, Vec<items::FieldDiff>)>,
    /// A new item started from gap group N: the form posts back there.
    gap: Option<u64>,
}

impl<'a> EditView<'a> {
    fn new(id: &'a str, values: &'a Fields, base: Option<u64>) -> EditView<'a> {
        EditView {
            id,
            values,
            base,
            errors: &[],
            message: None,
            stale: None,
            gap: None,
        }
    }
}

fn edit_page(user: &User, status: StatusCode, v: EditView<'_>) -> Response {
    let EditView {
        id,
        values,
        base,
        errors,
        message,
        stale,
        gap,
    } = v;
    let new = base.is_none();
    let action = match (gap, new) {
        (Some(g), _) => format!("/admin/gaps/{g}/new"),
        (None, true) => "/admin/new".to_owned(),
        (None, false) => format!("/admin/items/{id}"),
    };
    let (stale, stale_diff) = match stale {
        Some((r, d)) => (Some(context! { who => &r.who, rev => r.rev }), d),
        None => (None, Vec::new()),
    };
    page(
        status,
        "edit.html",
        Some(user),
        context! {
            new, id, action, base => base.map(|b| b.to_string()).unwrap_or_default(),
            name => values.get("name").cloned().unwrap_or_default(),
            form => form(values, errors), errors => errors, message, stale, stale_diff,
            note => values.get("note").cloned().unwrap_or_default(),
        },
    )
}

async fn edit(State(c): S, Admin(user): Admin, Path(id): Path<String>) -> Response {
    match items::current(&c.engine, &id) {
        Ok(rev) => edit_page(
            &user,
            StatusCode::OK,
            EditView::new(&id, &fields::to_fields(&rev.item), Some(rev.rev)),
        ),
        Err(r) => refused(&user, r),
    }
}

async fn new_page(Admin(user): Admin) -> Response {
    let mut values = Fields::new();
    values.insert("review_status".into(), "样例".into());
    values.insert("fee_free".into(), "是".into());
    values.insert("time_instant".into(), "否".into());
    edit_page(&user, StatusCode::OK, EditView::new("", &values, None))
}

async fn save(
    State(c): S,
    client: Client,
    Path(id): Path<String>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let Some(base) = form.get("base").and_then(|b| b.parse::<u64>().ok()) else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&user),
            "没有保存",
            "表单缺少版本号，请重新打开修改页。",
        );
    };
    write_form(&c, &user, client, &id, form, Some(base), None).await
}

async fn create(
    State(c): S,
    client: Client,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let id = form
        .get("id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    write_form(&c, &user, client, &id, form, None, None).await
}

async fn write_form(
    c: &Console,
    user: &User,
    client: Client,
    id: &str,
    form: Fields,
    base: Option<u64>,
    gap: Option<u64>,
) -> Response {
    let origin = client.from();
    let note = form.get("note").cloned().unwrap_or_default();
    let change = Change {
        user,
        from: &origin,
        note: &note,
        base,
    };
    let saved = match gap {
        Some(g) => gaps::create_item(&c.engine, g, id, &form, &change, super::now_ms()).await,
        None => items::save_fields(&c.engine, id, &form, &change).await,
    };
    match saved {
        Ok(rev) => {
            Redirect::to(&format!("/admin/items/{}?saved={}", rev.item.id, rev.rev)).into_response()
        }
        Err(Refused::Invalid(errors)) => {
            let msg = Refused::Invalid(errors.clone()).message();
            edit_page(
                user,
                StatusCode::UNPROCESSABLE_ENTITY,
                EditView {
                    errors: &errors,
                    message: Some(msg),
                    gap,
                    ..EditView::new(id, &form, base)
                },
            )
        }
        Err(Refused::BadId) | Err(Refused::Exists) if base.is_none() => {
            let r = if crate::catalog::is_valid_id(id) {
                Refused::Exists
            } else {
                Refused::BadId
            };
            let errors = vec![FieldError {
                field: "id".into(),
                line: None,
                message: r.message(),
            }];
            edit_page(
                user,
                StatusCode::UNPROCESSABLE_ENTITY,
                EditView {
                    errors: &errors,
                    message: Some(r.message()),
                    gap,
                    ..EditView::new(id, &form, None)
                },
            )
        }
        Err(Refused::Stale(current)) => {
            let before = base.and_then(|b| c.engine.store().catalog_revision(id, b).ok().flatten());
            let diff = items::diff(before.as_ref().map(|b| &b.item), &current.item);
            let msg = Refused::Stale(current.clone()).message();
            edit_page(
                user,
                StatusCode::CONFLICT,
                EditView {
                    message: Some(msg),
                    stale: Some((&current, diff)),
                    ..EditView::new(id, &form, Some(current.rev))
                },
            )
        }
        Err(r) => refused(user, r),
    }
}

async fn retire(
    State(c): S,
    client: Client,
    Path(id): Path<String>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let base = form.get("base").and_then(|b| b.parse().ok());
    let retired = form.get("retired").is_none_or(|v| v != "否");
    let origin = client.from();
    let change = Change {
        user: &user,
        from: &origin,
        note: if retired { "停用" } else { "重新启用" },
        base,
    };
    match items::set_retired(&c.engine, &id, retired, &change).await {
        Ok(_) => Redirect::to(&format!("/admin/items/{id}")).into_response(),
        Err(r) => refused(&user, r),
    }
}

#[derive(Serialize)]
struct RevisionView {
    rev: u64,
    who: String,
    at: String,
    note: String,
    retired: bool,
    diff: Vec<items::FieldDiff>,
}

async fn revisions(State(c): S, Admin(user): Admin, Path(id): Path<String>) -> Response {
    revisions_page(&c, &user, &id, None)
}

fn revisions_page(c: &Console, user: &User, id: &str, msg: Option<String>) -> Response {
    let revs = match c.engine.store().catalog_revisions(id) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => return refused(user, Refused::Unknown),
        Err(e) => return refused(user, e.into()),
    };
    let current = revs.last().map_or(0, |r| r.rev);
    let name = revs.last().map(|r| r.item.name.clone()).unwrap_or_default();
    let mut views: Vec<RevisionView> = revs
        .iter()
        .enumerate()
        .map(|(i, r)| RevisionView {
            rev: r.rev,
            who: r.who.clone(),
            at: time(c, r.at),
            note: r.note.clone(),
            retired: r.retired,
            diff: items::diff(i.checked_sub(1).map(|p| &revs[p].item), &r.item),
        })
        .collect();
    views.reverse();
    let status = if msg.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    page(
        status,
        "revisions.html",
        Some(user),
        context! { id, name, current, revisions => views, message => msg },
    )
}

async fn restore(
    State(c): S,
    client: Client,
    Path((id, rev)): Path<(String, u64)>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let base = form.get("base").and_then(|b| b.parse().ok());
    let origin = client.from();
    let change = Change {
        user: &user,
        from: &origin,
        note: "",
        base,
    };
    match items::restore(&c.engine, &id, rev, &change).await {
        Ok(_) => Redirect::to(&format!("/admin/items/{id}/revisions")).into_response(),
        Err(r @ Refused::Stale(_)) => revisions_page(&c, &user, &id, Some(r.message())),
        Err(r) => refused(&user, r),
    }
}

#[derive(Serialize)]
struct VillageOption {
    id: String,
    name: String,
}

fn villages(org: &Org) -> Vec<VillageOption> {
    org.villages
        .iter()
        .map(|v| VillageOption {
            id: v.id.clone(),
            name: v.name.clone(),
        })
        .collect()
}

async fn sandbox_page(State(c): S, Admin(user): Admin) -> Response {
    sandbox_view(&c, &user, StatusCode::OK, None, None)
}

fn sandbox_view(
    c: &Console,
    user: &User,
    status: StatusCode,
    village: Option<&str>,
    msg: Option<String>,
) -> Response {
    let org = &c.engine.config().org;
    let history = c.sandbox.history(&user.id);
    let village = village
        .map(str::to_owned)
        .or_else(|| {
            history.last().and_then(|x| {
                org.villages
                    .iter()
                    .find(|v| v.name == x.village)
                    .map(|v| v.id.clone())
            })
        })
        .unwrap_or_default();
    page(
        status,
        "sandbox.html",
        Some(user),
        context! { villages => villages(org), history, village, message => msg },
    )
}

async fn sandbox_say(
    State(c): S,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let village = form.get("village").cloned().unwrap_or_default();
    let text = form.get("text").cloned().unwrap_or_default();
    let addressed = form.contains_key("addressed");
    if c.engine.config().org.village(&village).is_none() {
        return sandbox_view(
            &c,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("请选一个村".into()),
        );
    }
    if text.trim().is_empty() || text.chars().count() > 2000 {
        return sandbox_view(
            &c,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&village),
            Some("请写 1 到 2000 个字".into()),
        );
    }
    match c
        .sandbox
        .say(&c.engine, &user, &village, &text, addressed)
        .await
    {
        Ok(_) => sandbox_view(&c, &user, StatusCode::OK, Some(&village), None),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "sandbox message failed");
            sandbox_view(
                &c,
                &user,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&village),
                Some("机器人出错了，请稍后再试".into()),
            )
        }
    }
}

fn action_label(action: &str) -> &str {
    match action {
        "sign_in" => "登录",
        "sign_in.failed" => "登录失败",
        "item.save" => "保存事项",
        "item.retire" => "停用事项",
        "item.unretire" => "重新启用事项",
        "item.restore" => "恢复版本",
        "item.import" => "导入事项",
        "gap.teach" => "待学问题加为例句",
        "gap.dismiss" => "忽略待学问题",
        "gap.new_item" => "从待学问题新建事项",
        "chat.alias" => "群里加别名",
        "chat.example" => "群里加问法",
        "user.passwd" => "设置密码",
        "user.token" => "发放令牌",
        other => other,
    }
}

async fn audit(State(c): S, Admin(user): Admin) -> Response {
    match c.engine.store().audit_latest(500) {
        Ok(entries) => {
            let rows: Vec<BTreeMap<&str, String>> = entries
                .iter()
                .map(|e| {
                    BTreeMap::from([
                        ("at", time(&c, e.at)),
                        ("who", e.who.clone()),
                        ("from", e.from.clone()),
                        ("action", action_label(&e.action).to_owned()),
                        ("target", e.target.clone()),
                        ("detail", e.detail.clone()),
                    ])
                })
                .collect();
            page(
                StatusCode::OK,
                "audit.html",
                Some(&user),
                context! { entries => rows },
            )
        }
        Err(e) => refused(&user, e.into()),
    }
}

/// What a gap group's questions may be taught as: the aspects, the resident's own case and a
/// complaint, with the names admins read.
const TEACH_AS: &[(&str, &str)] = &[
    ("overview", "怎么办（总的）"),
    ("materials", "要带什么"),
    ("place", "去哪办"),
    ("time_limit", "多久办好"),
    ("fee", "收不收费"),
    ("premium", "交多少钱（缴费档次）"),
    ("benefit", "能领多少"),
    ("window", "什么时候交、什么时候认证"),
    ("process", "办理流程"),
    ("conditions", "谁能办"),
    ("basis", "政策依据"),
    ("contact", "咨询电话"),
    ("case", "自己的事（转专员）"),
    ("complaint", "投诉（转专员）"),
];

async fn gaps_page(State(c): S, Admin(user): Admin) -> Response {
    let groups = match gaps::groups(&c.engine, super::now_ms()) {
        Ok(g) => g,
        Err(r) => return refused(&user, r),
    };
    let views: Vec<Value> = groups
        .iter()
        .map(|g| {
            context! {
                id => g.id, questions => g.questions, count => g.count, kinds => g.kinds,
                villages => g.villages, item => g.item, reply => g.reply,
                first => time(&c, g.first_seen), last => time(&c, g.last_seen),
            }
        })
        .collect();
    let guide = c.engine.guide().load();
    let items: Vec<Value> = guide
        .catalog
        .items()
        .iter()
        .map(|i| context! { id => i.id, name => i.name })
        .collect();
    page(
        StatusCode::OK,
        "gaps.html",
        Some(&user),
        context! { groups => views, items, aspects => TEACH_AS },
    )
}

async fn gap_teach(
    State(c): S,
    client: Client,
    Path(id): Path<u64>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let item = form.get("item").cloned().unwrap_or_default();
    let aspect = form
        .get("aspect")
        .cloned()
        .unwrap_or_else(|| "overview".into());
    let origin = client.from();
    let change = Change {
        user: &user,
        from: &origin,
        note: "从待学问题加例句",
        base: None,
    };
    match gaps::teach(&c.engine, id, &item, &aspect, &change, super::now_ms()).await {
        Ok(_) => Redirect::to("/admin/gaps").into_response(),
        Err(r) => refused(&user, r),
    }
}

async fn gap_dismiss(
    State(c): S,
    client: Client,
    Path(id): Path<u64>,
    Posted {
        by: Admin(user), ..
    }: Posted<Admin, Fields>,
) -> Response {
    match gaps::dismiss(&c.engine, id, &user, &client.from(), super::now_ms()) {
        Ok(_) => Redirect::to("/admin/gaps").into_response(),
        Err(r) => refused(&user, r),
    }
}

async fn gap_new_page(State(c): S, Admin(user): Admin, Path(id): Path<u64>) -> Response {
    match gaps::draft(&c.engine, id, super::now_ms()) {
        Ok(mut values) => {
            values.insert("note".into(), "从待学问题新建".into());
            edit_page(
                &user,
                StatusCode::OK,
                EditView {
                    gap: Some(id),
                    ..EditView::new("", &values, None)
                },
            )
        }
        Err(r) => refused(&user, r),
    }
}

async fn gap_new_item(
    State(c): S,
    client: Client,
    Path(gap): Path<u64>,
    Posted {
        by: Admin(user),
        form,
    }: Posted<Admin, Fields>,
) -> Response {
    let id = form
        .get("id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    write_form(&c, &user, client, &id, form, None, Some(gap)).await
}

/// The export page: links to `/api/v1/export` (the session's cookie signs them in).
async fn export_page(State(c): S, Admin(user): Admin) -> Response {
    let (items, retired) = match c.engine.store().catalog_current() {
        Ok(all) => (
            all.iter().filter(|r| !r.retired).count(),
            all.iter().filter(|r| r.retired).count(),
        ),
        Err(e) => return refused(&user, e.into()),
    };
    page(
        StatusCode::OK,
        "export.html",
        Some(&user),
        context! { items, retired },
    )
}

async fn import_page(Admin(user): Admin) -> Response {
    page(StatusCode::OK, "import.html", Some(&user), context! {})
}

async fn import_upload(
    State(c): S,
    Uploaded {
        by: Admin(user),
        files,
        ..
    }: Uploaded<Admin>,
) -> Response {
    match c.imports.preview_files(&c.engine, &user, &files) {
        Ok(preview) => page(
            StatusCode::OK,
            "import.html",
            Some(&user),
            context! { preview },
        ),
        Err(r) => import_refused(&user, r),
    }
}

/// A multipart upload: its text fields, and its `file` parts with their names.
pub(super) async fn read_upload(
    multipart: &mut axum::extract::Multipart,
) -> Result<(Fields, Vec<super::import::Upload>), String> {
    let mut form = Fields::new();
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(|e| e.to_string())?;
        if name == "file" {
            files.push(super::import::Upload {
                name: file_name,
                bytes: bytes.to_vec(),
            });
        } else {
            form.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok((form, files))
}

fn import_refused(user: &User, r: super::import::ImportRefused) -> Response {
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
    let cells = match &r {
        R::Cells(c) => c.clone(),
        _ => Vec::new(),
    };
    let cards = match &r {
        R::Cards(c) => c.clone(),
        _ => Vec::new(),
    };
    page(
        status,
        "import.html",
        Some(user),
        context! { message => r.message(), cells, cards },
    )
}

async fn import_confirm(
    State(c): S,
    client: Client,
    Path(token): Path<String>,
    Posted {
        by: Admin(user), ..
    }: Posted<Admin, Fields>,
) -> Response {
    match c
        .imports
        .confirm(&c.engine, &user, &token, &client.from())
        .await
    {
        Ok(revs) => page(
            StatusCode::OK,
            "import.html",
            Some(&user),
            context! { saved => revs.len() },
        ),
        Err(r) => import_refused(&user, r),
    }
}
