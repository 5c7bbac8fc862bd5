//! Who is asking: sign-in with a password (argon2id), sessions in an HttpOnly, SameSite=Strict
//! cookie, per-user API tokens (`Authorization: Bearer`), the CSRF token every form carries, and
//! the sign-in rate limit.
//!
//! Users are the admins and agents of `org.toml` (their ids are the user names); the console
//! keeps only their credentials. Session ids and API tokens are 32 random bytes, stored as
//! SHA-256 digests. A session lasts [`SESSION_SECS`].

use crate::config::org::Org;
use crate::store::Store;
use crate::store::users::Session;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
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

/// The session cookie; `Secure` when the request came over TLS through a proxy that says so.
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

/// Whether the browser reached us over TLS (a reverse proxy's `X-Forwarded-Proto: https`).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
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
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let c = session_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!session_cookie("abc", false).contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; bangban_session=xyz".parse().unwrap());
        assert_eq!(session_id(&h).as_deref(), Some("xyz"));
    }
}
