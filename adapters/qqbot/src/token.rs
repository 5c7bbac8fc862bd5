//! Access tokens: `POST {token_url}` with `{"appId", "clientSecret"}`, cached until shortly
//! before they expire.
//!
//! The platform answers `{"access_token", "expires_in"}` (`expires_in` in seconds, sent as a
//! string, at most 7200). It hands out a new token only in the last 60 s of the old one, which
//! stays valid meanwhile: so the adapter replaces a token [`QqBotConfig::token_refresh_margin`]
//! (under 60 s) before its expiry. One request at a time: concurrent senders wait for it and
//! share its token.
//!
//! [`QqBotConfig::token_refresh_margin`]: crate::QqBotConfig::token_refresh_margin

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::Clock;

/// Whether the adapter holds a usable token: what it reports as the account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// No token yet, or the last one expired and could not be replaced.
    Down,
    Up,
}

struct Token {
    /// The token itself: a credential, never logged.
    value: String,
    refresh_at: SystemTime,
    expires_at: SystemTime,
}

/// Why no token could be had, for logs. Never holds the secret or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError(pub(crate) String);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) struct Tokens {
    client: reqwest::Client,
    url: String,
    app_id: String,
    /// The bot secret: a credential, never logged.
    secret: String,
    margin: Duration,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    /// The cached token; held across a request so that only one is in flight.
    cache: tokio::sync::Mutex<Option<Token>>,
    /// When the cached token is due for replacement, readable without waiting.
    refresh_at: Mutex<Option<SystemTime>>,
    status: watch::Sender<Status>,
}

impl Tokens {
    pub(crate) fn new(
        client: reqwest::Client,
        url: &str,
        app_id: &str,
        secret: &str,
        margin: Duration,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Tokens {
        Tokens {
            client,
            url: url.trim().to_owned(),
            app_id: app_id.to_owned(),
            secret: secret.to_owned(),
            margin,
            timeout,
            clock,
            cache: tokio::sync::Mutex::new(None),
            refresh_at: Mutex::new(None),
            status: watch::Sender::new(Status::Down),
        }
    }

    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// When the cached token is due for replacement; `None` without a token.
    pub(crate) fn refresh_at(&self) -> Option<SystemTime> {
        *self.refresh_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token to call the API with: the cached one, or a new one when it is due. When the
    /// request for a new one fails, the old one serves while it is still valid.
    pub(crate) async fn get(&self) -> Result<String, TokenError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some(token) = cache.as_ref()
            && now < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        self.replace(&mut cache, now).await
    }

    /// A token other than `rejected`, which the API refused (HTTP 401): `rejected` is dropped
    /// and a new one requested, unless another caller already replaced it.
    pub(crate) async fn renew(&self, rejected: &str) -> Result<String, TokenError> {
        let mut cache = self.cache.lock().await;
        match cache.as_ref() {
            Some(token) if token.value != rejected => return Ok(token.value.clone()),
            _ => {}
        }
        *cache = None;
        let now = self.clock.now();
        self.replace(&mut cache, now).await
    }

    async fn replace(
        &self,
        cache: &mut Option<Token>,
        now: SystemTime,
    ) -> Result<String, TokenError> {
        match self.request().await {
            Ok((value, expires_in)) => {
                // A token with less than the margin left (the old one handed out again) is
                // used for half its life; the next request gets its successor.
                let refresh_after = if expires_in > self.margin {
                    expires_in - self.margin
                } else {
                    expires_in / 2
                };
                let token = Token {
                    value: value.clone(),
                    refresh_at: now + refresh_after,
                    expires_at: now + expires_in,
                };
                *self.refresh_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.refresh_at);
                *cache = Some(token);
                if self.status.send_replace(Status::Up) == Status::Down {
                    info!(app_id = %self.app_id, expires_in = expires_in.as_secs(), "QQ bot access token obtained");
                }
                Ok(value)
            }
            Err(error) => {
                if let Some(token) = cache.as_ref()
                    && now < token.expires_at
                {
                    warn!(app_id = %self.app_id, %error, "QQ bot access token not renewed; the current one serves until it expires");
                    return Ok(token.value.clone());
                }
                *cache = None;
                *self.refresh_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
                if self.status.send_replace(Status::Down) == Status::Up {
                    warn!(app_id = %self.app_id, %error, "QQ bot access token expired and could not be renewed");
                }
                Err(error)
            }
        }
    }

    /// One token request: the token and how long it lives.
    async fn request(&self) -> Result<(String, Duration), TokenError> {
        let body = json!({"appId": self.app_id, "clientSecret": self.secret}).to_string();
        let response = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| TokenError(format!("token request failed: {}", e.without_url())))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| TokenError(format!("token response unreadable: {}", e.without_url())))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let token = value
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let expires_in = value.get("expires_in").and_then(|v| match v {
            Value::String(s) => s.trim().parse::<u64>().ok(),
            other => other.as_u64(),
        });
        match (status.is_success(), token, expires_in) {
            (true, Some(token), Some(seconds)) if seconds > 0 => {
                Ok((token.to_owned(), Duration::from_secs(seconds)))
            }
            _ => {
                let code = value
                    .get("code")
                    .or_else(|| value.get("err_code"))
                    .map(Value::to_string);
                let message = value
                    .get("message")
                    .and_then(Value::as_str)
                    .map(|m| m.chars().take(200).collect::<String>());
                Err(TokenError(format!(
                    "token refused: HTTP {status}, code {}, message {:?}",
                    code.as_deref().unwrap_or("none"),
                    message.as_deref().unwrap_or("")
                )))
            }
        }
    }
}
