//! Who is asking: sign-in with a password (argon2id), sessions in an HttpOnly, SameSite=Strict
//! cookie, per-user API tokens (`Authorization: Bearer`), the CSRF token every form carries, the
//! sign-in rate limit, and where a request comes from.
//!
//! Users are the admins and agents of `org.toml` (their ids are the user names); the console
//! keeps only their credentials. Session ids and API tokens are 32 random bytes, stored as
//! SHA-256 digests. A session lasts [`SESSION_SECS`].
//!
//! **Every console handler learns who is asking from one of the extractors here**, never by
//! itself: [`SignedIn`] (any user) or [`Admin`] for a read or a JSON write, [`Posted`] for a
//! page's form and [`Uploaded`] for the import page's upload. Each refuses the same way
//! everywhere, by the request alone: under `/api/` as JSON (401 `signed_out`, 403 `forbidden`,
//! 403 `bad_csrf`), elsewhere as a page (a read signed out goes to `/login`; a write signed out,
//! an agent on an admin page and a form without its CSRF token get a 403 page). A write (any
//! method but GET and HEAD) must carry the session's CSRF token: in `X-CSRF-Token` for
//! [`SignedIn`] and [`Admin`], in the form's `csrf` field for [`Posted`] and [`Uploaded`]; so a
//! page form handled by a plain extractor is refused, never let through.
//!
//! [`Client`] is where a request comes from: the peer, or behind a proxy listed in
//! `server.trusted_proxies` the address it forwards. It serves the sign-in rate limit, the audit
//! log and the cookie's `Secure` flag; never authorisation.

use super::Console;
use crate::catalog::fields::Fields;
use crate::config::org::Org;
use crate::store::Store;
use crate::store::users::Session;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::body::{Body, Bytes};
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const COOKIE: &str = "bangban_session";
pub const SESSION_SECS: u64 = 8 * 3600;

/// Failed sign-ins allowed per user name, and per address, within [`LIMIT_WINDOW`].
pub const USER_FAILURES: usize = 5;
pub const ADDRESS_FAILURES: usize = 20;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Agent => "帮办专员",
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The session's CSRF token; `None` when signed in by an API token (no cookie to forge).
    #[serde(skip)]
    pub csrf: Option<String>,
}

/// The admin or agent of `org.toml` with this id.
pub fn person(org: &Org, id: &str) -> Option<(String, Role)> {
    if let Some(a) = org.admins.iter().find(|a| a.id == id) {
        return Some((a.name.clone(), Role::Admin));
    }
    org.agent(id).map(|a| (a.name.clone(), Role::Agent))
}

impl User {
    pub fn of(org: &Org, id: &str, csrf: Option<String>) -> Option<User> {
        person(org, id).map(|(name, role)| User {
            id: id.to_owned(),
            name,
            role,
            csrf,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("could not hash the password: {e}"))?
        .to_string())
}

pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the system has randomness");
    hex(&b)
}

pub fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens a session for `user`: the session id (for the cookie) and its CSRF token.
pub fn open_session(store: &Store, user: &str) -> anyhow::Result<(String, String)> {
    let id = random_token();
    let csrf = random_token();
    store.put_session(
        &digest(&id),
        &Session {
            user: user.to_owned(),
            csrf: csrf.clone(),
            expires: now_secs() + SESSION_SECS,
        },
    )?;
    Ok((id, csrf))
}

/// The session cookie; `Secure` when the request came over TLS (through a trusted proxy that
/// says so, see [`Client`]).
pub fn session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The user a request is signed in as: an API token, else the session cookie.
pub fn signed_in(store: &Store, org: &Org, headers: &HeaderMap) -> Option<User> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let user = store.token_user(&digest(token.trim())).ok()??;
        return User::of(org, &user, None);
    }
    let id = session_id(headers)?;
    let s = store.session(&digest(&id), now_secs()).ok()??;
    User::of(org, &s.user, Some(s.csrf))
}

/// Whether a write carries the session's CSRF token (API-token requests need none).
pub fn csrf_ok(user: &User, given: Option<&str>) -> bool {
    match &user.csrf {
        None => true,
        Some(expected) => given.is_some_and(|g| {
            use subtle::ConstantTimeEq;
            g.len() == expected.len() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Where a request comes from.

/// Where a request comes from, as far as the console believes it: for the sign-in rate limit,
/// the audit log's "from where" and the cookie's `Secure` flag — never for authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub addr: IpAddr,
    /// The browser reached us over TLS (a trusted proxy's `X-Forwarded-Proto: https`; the
    /// server itself speaks plain HTTP).
    pub https: bool,
}

impl Client {
    /// The client of a request from `peer`. Only when `trusted(peer)` are the proxy headers
    /// read: the address is then the nearest one in `X-Forwarded-For` (walking from the right,
    /// past the trusted proxies) — the left-most entries are whatever the client wrote, so
    /// they are never believed. An entry that is no address ends the walk.
    pub fn of(peer: IpAddr, headers: &HeaderMap, trusted: impl Fn(IpAddr) -> bool) -> Client {
        let peer = peer.to_canonical();
        if !trusted(peer) {
            return Client {
                addr: peer,
                https: false,
            };
        }
        let chain: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut addr = peer;
        for entry in chain.iter().rev() {
            let Some(ip) = parse_hop(entry) else { break };
            addr = ip;
            if !trusted(ip) {
                break;
            }
        }
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        Client { addr, https }
    }

    /// The address as the audit log keeps it.
    pub fn from(&self) -> String {
        self.addr.to_string()
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Said once per process: a peer sent proxy headers but is not a trusted proxy.
static UNTRUSTED_WARNED: AtomicBool = AtomicBool::new(false);

impl FromRequestParts<Arc<Console>> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Client, Infallible> {
        Ok(client(parts, c))
    }
}

fn client(parts: &Parts, c: &Console) -> Client {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(a)| a.ip());
    let proxies = &c.engine.config().service.server.trusted_proxies;
    let trusted = |ip: IpAddr| proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer.to_canonical())
        && parts.headers.contains_key("x-forwarded-for")
        && !UNTRUSTED_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(%peer, "X-Forwarded-For from a peer that is not in server.trusted_proxies: ignored \
            (behind a reverse proxy, list it there)");
    }
    Client::of(peer, &parts.headers, trusted)
}

// ---------------------------------------------------------------------------------------------
// Who is asking: the extractors every handler uses.

/// A signed-in user of any role (an admin or an agent).
pub struct SignedIn(pub User);

/// A signed-in admin.
pub struct Admin(pub User);

/// Who a route lets in.
pub trait Needs: Sized + Send {
    /// `user` as this role, or back when they may not.
    fn admit(user: User) -> Result<Self, User>;
    fn user(&self) -> &User;
}

impl Needs for SignedIn {
    fn admit(user: User) -> Result<SignedIn, User> {
        Ok(SignedIn(user))
    }
    fn user(&self) -> &User {
        &self.0
    }
}

impl Needs for Admin {
    fn admit(user: User) -> Result<Admin, User> {
        if user.is_admin() {
            Ok(Admin(user))
        } else {
            Err(user)
        }
    }
    fn user(&self) -> &User {
        &self.0
    }
}

/// How a request is answered when refused: which part of the console it is for.
#[derive(Debug, Clone, Copy)]
struct Surface {
    /// Under `/api/`: JSON.
    api: bool,
    /// Anything but GET and HEAD.
    write: bool,
}

impl Surface {
    fn of(parts: &Parts) -> Surface {
        Surface {
            api: parts.uri.path().starts_with("/api/"),
            write: !matches!(parts.method, Method::GET | Method::HEAD),
        }
    }
}

/// Why a request was refused; answered as JSON under `/api/`, as a page elsewhere.
#[derive(Debug)]
pub struct Refusal {
    surface: Surface,
    why: Why,
}

#[derive(Debug)]
enum Why {
    SignedOut,
    NotAdmin(User),
    BadCsrf(User),
    /// The form or upload could not be read.
    BadBody(User, StatusCode),
}

impl Refusal {
    /// Whether the request was refused for want of a sign-in.
    pub fn signed_out(&self) -> bool {
        matches!(self.why, Why::SignedOut)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Surface { api, write } = self.surface;
        if api {
            let (status, code, message) = match &self.why {
                Why::SignedOut => (
                    StatusCode::UNAUTHORIZED,
                    "signed_out",
                    "请先登录（或带上 API 令牌）",
                ),
                Why::NotAdmin(_) => (StatusCode::FORBIDDEN, "forbidden", "只有管理员可以这样做"),
                Why::BadCsrf(_) => (
                    StatusCode::FORBIDDEN,
                    "bad_csrf",
                    "页面已过期，请刷新后再试",
                ),
                Why::BadBody(_, status) => (*status, "bad_body", "请求内容没有收完整"),
            };
            let mut res = (
                status,
                axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
            )
                .into_response();
            if status == StatusCode::UNAUTHORIZED {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return res;
        }
        let page = |status: StatusCode, user: Option<&User>, heading: &str, text: &str| {
            let (link, link_text) = match user {
                None => ("/login", "去登录"),
                Some(u) if u.is_admin() => ("/admin", "回到事项列表"),
                Some(_) => ("/desk", "回到工单"),
            };
            super::pages::page(
                status,
                "message.html",
                user,
                minijinja::context! { heading, text, link, link_text },
            )
        };
        match &self.why {
            Why::SignedOut if !write => Redirect::to("/login").into_response(),
            // A form posted signed out is refused, not redirected, so nothing looks saved.
            Why::SignedOut => page(
                StatusCode::FORBIDDEN,
                None,
                "请先登录",
                "登录已过期或还没有登录，这次提交没有保存。",
            ),
            Why::NotAdmin(u) => page(
                StatusCode::FORBIDDEN,
                Some(u),
                "没有权限",
                "这个页面只对管理员开放。帮办专员请在专员群里或“工单”页处理工单。",
            ),
            Why::BadCsrf(u) => page(
                StatusCode::FORBIDDEN,
                Some(u),
                "页面已过期",
                "请回到上一页刷新后再提交。",
            ),
            Why::BadBody(u, status) if *status == StatusCode::PAYLOAD_TOO_LARGE => page(
                *status,
                Some(u),
                "文件太大了",
                "最大 8 MB，这次提交没有保存。",
            ),
            Why::BadBody(u, status) => page(
                *status,
                Some(u),
                "没有收完整",
                "提交的内容没有收完整，这次提交没有保存。请重新提交。",
            ),
        }
    }
}

/// The signed-in user of `parts` admitted as `W` (the CSRF token is checked apart).
fn admit<W: Needs>(parts: &Parts, c: &Console) -> Result<W, Refusal> {
    let surface = Surface::of(parts);
    let refuse = |why| Refusal { surface, why };
    let user = signed_in(c.engine.store(), &c.engine.config().org, &parts.headers)
        .ok_or_else(|| refuse(Why::SignedOut))?;
    W::admit(user).map_err(|u| refuse(Why::NotAdmin(u)))
}

/// A write must carry the session's CSRF token (`given`); a read needs none.
fn check_csrf<W: Needs>(surface: Surface, who: W, given: Option<&str>) -> Result<W, Refusal> {
    if surface.write && !csrf_ok(who.user(), given) {
        return Err(Refusal {
            surface,
            why: Why::BadCsrf(who.user().clone()),
        });
    }
    Ok(who)
}

/// [`admit`], with the token of `X-CSRF-Token`.
fn admit_with_header<W: Needs>(parts: &Parts, c: &Console) -> Result<W, Refusal> {
    let who = admit(parts, c)?;
    check_csrf(Surface::of(parts), who, csrf_header(parts))
}

fn csrf_header(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
}

impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Self, Refusal> {
        admit_with_header(parts, c)
    }
}

impl FromRequestParts<Arc<Console>> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Self, Refusal> {
        admit_with_header(parts, c)
    }
}

/// Signed out is `None` (the sign-in page, the statistics API's other tokens); signed in, the
/// same checks as [`SignedIn`].
impl OptionalFromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        c: &Arc<Console>,
    ) -> Result<Option<Self>, Refusal> {
        match admit_with_header(parts, c) {
            Err(r) if r.signed_out() => Ok(None),
            other => other.map(Some),
        }
    }
}

/// A page's form post (`application/x-www-form-urlencoded`) by `W`, its `csrf` field checked
/// (a signed-out post is refused before its body is read).
pub struct Posted<W, T> {
    pub by: W,
    pub form: T,
}

impl<W: Needs, T: DeserializeOwned + Send> FromRequest<Arc<Console>> for Posted<W, T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, c: &Arc<Console>) -> Result<Self, Refusal> {
        let (parts, body) = req.into_parts();
        let surface = Surface::of(&parts);
        let by: W = admit(&parts, c)?;
        let user = by.user().clone();
        let bad = |status| Refusal {
            surface,
            why: Why::BadBody(user.clone(), status),
        };
        let kind = parts.headers.get(header::CONTENT_TYPE).cloned();
        let bytes = Bytes::from_request(Request::from_parts(parts, body), c)
            .await
            .map_err(|e| bad(e.status()))?;
        let form = |bytes: Bytes| {
            let mut req = Request::new(Body::from(bytes));
            *req.method_mut() = Method::POST;
            if let Some(k) = &kind {
                req.headers_mut().insert(header::CONTENT_TYPE, k.clone());
            }
            req
        };
        let axum::Form(pairs) =
            axum::Form::<Vec<(String, String)>>::from_request(form(bytes.clone()), c)
                .await
                .map_err(|_| bad(StatusCode::BAD_REQUEST))?;
        let token = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        let by = check_csrf(surface, by, token)?;
        let axum::Form(form) = axum::Form::<T>::from_request(form(bytes), c)
            .await
            .map_err(|_| bad(StatusCode::BAD_REQUEST))?;
        Ok(Posted { by, form })
    }
}

/// The import page's multipart upload by `W`: its text fields (the `csrf` one checked) and its
/// `file` parts (a signed-out upload is refused before its body is read).
pub struct Uploaded<W> {
    pub by: W,
    pub form: Fields,
    pub files: Vec<super::import::Upload>,
}

impl<W: Needs> FromRequest<Arc<Console>> for Uploaded<W> {
    type Rejection = Refusal;

    async fn from_request(req: Request, c: &Arc<Console>) -> Result<Self, Refusal> {
        let (parts, body) = req.into_parts();
        let surface = Surface::of(&parts);
        let by: W = admit(&parts, c)?;
        let user = by.user().clone();
        let bad = |status| Refusal {
            surface,
            why: Why::BadBody(user.clone(), status),
        };
        let mut multipart =
            axum::extract::Multipart::from_request(Request::from_parts(parts, body), c)
                .await
                .map_err(|_| bad(StatusCode::BAD_REQUEST))?;
        let (form, files) = match super::pages::read_upload(&mut multipart).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(detail = %e, "an upload could not be read");
                let status = if e.contains("limit") {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                return Err(bad(status));
            }
        };
        let by = check_csrf(surface, by, form.get("csrf").map(String::as_str))?;
        Ok(Uploaded { by, form, files })
    }
}

/// Failed sign-ins per user name and per address, in a sliding window.
#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// Whether a sign-in as `user` from `addr` may be tried now.
    pub fn allowed(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> bool {
        let mut f = self.failures.lock().expect("limiter lock");
        let mut count = |k: String| {
            let q = f.entry(k).or_default();
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) > LIMIT_WINDOW)
            {
                q.pop_front();
            }
            q.len()
        };
        let by_user = count(format!("u:{user}"));
        let by_addr = addr.map_or(0, |a| count(format!("a:{a}")));
        by_user < USER_FAILURES && by_addr < ADDRESS_FAILURES
    }

    pub fn failed(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let mut f = self.failures.lock().expect("limiter lock");
        f.entry(format!("u:{user}")).or_default().push_back(now);
        if let Some(a) = addr {
            f.entry(format!("a:{a}")).or_default().push_back(now);
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.failures
            .lock()
            .expect("limiter lock")
            .remove(&format!("u:{user}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("春耕2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "春耕2026"));
        assert!(!verify_password(&h, "春耕2025"));
        assert!(!verify_password("not a hash", "春耕2026"));
    }

    #[test]
    fn the_limiter_counts_failures_per_user_and_forgets_them_later() {
        let l = Limiter::default();
        let t0 = Instant::now();
        let addr = Some("203.0.113.9".parse().unwrap());
        for _ in 0..USER_FAILURES {
            assert!(l.allowed("wang", addr, t0));
            l.failed("wang", addr, t0);
        }
        assert!(!l.allowed("wang", addr, t0));
        assert!(
            l.allowed("li", addr, t0),
            "another user from the same address"
        );
        assert!(l.allowed("wang", addr, t0 + LIMIT_WINDOW + Duration::from_secs(1)));
    }

    #[test]
    fn only_a_trusted_proxy_says_where_the_client_is() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = |ip: IpAddr| ip == proxy || ip == "10.0.0.2".parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        // The client wrote the first entry itself; nginx appended the address it saw.
        h.append(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.5".parse().unwrap(),
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let c = Client::of(proxy, &h, trusted);
        assert_eq!(c.addr, "203.0.113.5".parse::<IpAddr>().unwrap());
        assert!(c.https);
        // Through two trusted proxies (the second one's entry is skipped), in two headers.
        let mut two = HeaderMap::new();
        two.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        two.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        assert_eq!(
            Client::of("::ffff:127.0.0.1".parse().unwrap(), &two, trusted).addr,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Any other peer: its headers are ignored.
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            Client::of(other, &h, trusted),
            Client {
                addr: other,
                https: false
            }
        );
        // Garbage ends the walk at the last address believed.
        let mut junk = HeaderMap::new();
        junk.insert(
            "x-forwarded-for",
            "unknown, 203.0.113.5:4711".parse().unwrap(),
        );
        assert_eq!(
            Client::of(proxy, &junk, trusted).addr,
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        junk.insert("x-forwarded-for", "203.0.113.5, unknown".parse().unwrap());
        assert_eq!(Client::of(proxy, &junk, trusted).addr, proxy);
        assert!(!Client::of(proxy, &junk, trusted).https);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let c = session_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!session_cookie("abc", false).contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; bangban_session=xyz".parse().unwrap());
        assert_eq!(session_id(&h).as_deref(), Some("xyz"));
    }
}
