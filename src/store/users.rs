//! Console users' credentials and sessions. The users themselves (names, roles) are the admins
//! and agents of `org.toml`; here are only their password hashes (argon2id, PHC strings), their
//! API tokens and the open sessions — both stored as SHA-256 digests, never in the clear.

use super::{Store, StoreError, decode, encode};
use serde::{Deserialize, Serialize};

const CREDENTIALS: &str = "users";
const SESSIONS: &str = "sessions";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// The argon2id PHC string, when a password was set.
    pub password: Option<String>,
    /// SHA-256 hex digests of the user's API tokens.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// The session's CSRF token, carried by every form.
    pub csrf: String,
    /// Unix seconds.
    pub expires: u64,
}

impl Store {
    pub fn credentials(&self, user: &str) -> Result<Credentials, StoreError> {
        match self.tree(CREDENTIALS)?.get(user).map_err(|e| self.err(e))? {
            Some(v) => decode(CREDENTIALS, &v),
            None => Ok(Credentials::default()),
        }
    }

    pub fn set_credentials(&self, user: &str, c: &Credentials) -> Result<(), StoreError> {
        self.tree(CREDENTIALS)?
            .insert(user, encode(c))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The user whose API token has this digest.
    pub fn token_user(&self, digest: &str) -> Result<Option<String>, StoreError> {
        for entry in self.tree(CREDENTIALS)?.iter() {
            let (user, v) = entry.map_err(|e| self.err(e))?;
            let c: Credentials = decode(CREDENTIALS, &v)?;
            if c.tokens.iter().any(|t| t == digest) {
                return Ok(Some(String::from_utf8_lossy(&user).into_owned()));
            }
        }
        Ok(None)
    }

    pub fn put_session(&self, digest: &str, s: &Session) -> Result<(), StoreError> {
        self.tree(SESSIONS)?
            .insert(digest, encode(s))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The session with this digest, if it has not expired at `now` (Unix seconds).
    pub fn session(&self, digest: &str, now: u64) -> Result<Option<Session>, StoreError> {
        let Some(v) = self.tree(SESSIONS)?.get(digest).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let s: Session = decode(SESSIONS, &v)?;
        Ok((s.expires > now).then_some(s))
    }

    pub fn end_session(&self, digest: &str) -> Result<(), StoreError> {
        self.tree(SESSIONS)?
            .remove(digest)
            .map(drop)
            .map_err(|e| self.err(e))
    }
}
