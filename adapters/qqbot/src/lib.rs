//! bangban's adapter for the QQ official bot platform (QQ开放平台, bots.qq.com), in webhook
//! mode: @-mentions of the bot in QQ groups and one-to-one (C2C) messages, answered with
//! passive replies.
//!
//! It translates between the platform's JSON and the platform-neutral [`bangban_contract`]
//! types, and holds no business rules: no dedupe, no pacing, no outbox, no retries.
//!
//! # Use from the core
//!
//! ```no_run
//! # async fn demo() -> Result<(), bangban_contract::AdapterError> {
//! use std::sync::Arc;
//! use bangban_contract::{Adapter, Event};
//! use bangban_qqbot::{QqBot, QqBotConfig};
//!
//! let config = QqBotConfig {
//!     app_id: "102012345".into(),
//!     secret: std::env::var("BANGBAN_QQBOT_SECRET").unwrap_or_default(),
//!     ..QqBotConfig::default()
//! };
//! let qqbot = Arc::new(QqBot::new(config)?); // checks the config
//! // 1. Mount the webhook route in the core's axum app (behind HTTPS: the platform calls
//! //    only https:// callback URLs).
//! let app = axum::Router::new().merge(qqbot.router());
//! // 2. Run the adapter with a sink; from this call on the route takes requests.
//! let (tx, mut events) = tokio::sync::mpsc::channel::<Event>(4096);
//! tokio::spawn(qqbot.clone().run(Arc::new(tx)));
//! // 3. Read `Event::Message` and `Event::Connection`; send with `qqbot.send(&outgoing)`.
//! # let _ = (app, events.recv().await);
//! # Ok(())
//! # }
//! ```
//!
//! # The webhook ([`WEBHOOK_PATH`])
//!
//! The platform POSTs JSON payloads `{"op", "d", "s", "t", "id"}`:
//!
//! - **Every request is signed**: `X-Signature-Ed25519` is the hex Ed25519 signature of
//!   `X-Signature-Timestamp` followed by the raw body. The key pair comes from the bot
//!   secret: the secret repeated until it is at least 32 bytes long, its first 32 bytes the
//!   seed. A missing or wrong signature, or a timestamp further than
//!   [`QqBotConfig::max_timestamp_skew`] from now, is answered 401 before the body is read as
//!   JSON. Bodies over [`QqBotConfig::max_body_bytes`] get 413.
//! - **op 13**, callback URL validation: `d` is `{"plain_token", "event_ts"}`; the answer is
//!   `{"plain_token", "signature"}`, the signature being the hex signature of `event_ts` +
//!   `plain_token` with the same key.
//! - **op 0**, dispatch, with the event type in `t`:
//!   `GROUP_AT_MESSAGE_CREATE` (a group message @-mentioning the bot) becomes an
//!   [`Incoming`](bangban_contract::Incoming) in [`Chat::Group`](bangban_contract::Chat)
//!   (`d.group_openid`) from `d.author.member_openid`; `C2C_MESSAGE_CREATE` one in
//!   [`Chat::Private`](bangban_contract::Chat) (`d.author.user_openid`). The account is the
//!   app id, the message id `d.id`, the text `d.content` without mention and emoji tags,
//!   trimmed (`[图片]` and the like for attachments only); `mentions_bot` is always true. The
//!   answer, once the core's sink took the event, is the op 12 HTTP callback ACK
//!   `{"op": 12, "d": 0}`. Other event types are logged at debug and acknowledged the same.
//! - **op 1**, heartbeat: answered `{"op": 11, "d": <the same d>}`.
//! - Anything else (malformed JSON, unknown op, an event missing its ids) is logged and
//!   answered 400. Before [`run`](bangban_contract::Adapter::run) and after its future is
//!   dropped, the route answers 503.
//!
//! # Sending: passive replies only
//!
//! Since 2025-04-21 the platform takes no unprompted (主动) group or C2C messages: the bot
//! may only reply to a resident's message, by its `msg_id`, up to 5 times, within 5 minutes
//! in groups and 60 minutes in C2C. The adapter remembers each chat's recent messages (when
//! they arrived, how many replies they used); [`send`](bangban_contract::Adapter::send)
//! posts `POST {api_base}/v2/groups/{group_openid}/messages` (or `/v2/users/{openid}/messages`)
//! with `{"content", "msg_type": 0, "msg_id", "msg_seq"}`: `msg_id` the quoted message's if it
//! is still in its window with replies left, else the newest such message; `msg_seq` 1, 2, …
//! per `msg_id`. A mention in a group becomes a `<@member_openid>` prefix.
//!
//! With no such message the send fails with
//! [`SendError::AwaitingMessage`](bangban_contract::SendError::AwaitingMessage): the core keeps
//! the action and sends it again when the chat's next message arrives. The platform's own
//! passive-window errors (`40034005` msg_id expired, `40034024` msg_id invalid, `40034128`
//! window or count exceeded, and the like) map to the same, or to a
//! [`Retryable`](bangban_contract::SendError::Retryable) when another recent message of the
//! chat can still be replied to. Rate limits (HTTP 429, `22009`…) map to
//! [`RateLimited`](bangban_contract::SendError::RateLimited), server errors and timeouts to
//! `Retryable`, other refusals (bad target, content) to `Permanent`.
//!
//! # Access tokens and the account's state
//!
//! API calls carry `Authorization: QQBot {access_token}`. Tokens come from
//! `POST {token_url}` with `{"appId", "clientSecret"}` and live `expires_in` seconds (7200);
//! the adapter caches one and replaces it [`QqBotConfig::token_refresh_margin`] before it
//! expires (the platform issues a new one only in the old one's last minute). A send the API
//! answers 401 renews the token once and is posted once more.
//!
//! The future of [`run`](bangban_contract::Adapter::run) obtains the first token, retrying
//! with [`QqBotConfig::token_retry`] backoff, and keeps it fresh. The app id is reported
//! [`Up`](bangban_contract::ConnectionState::Up) once a token is held, and
//! [`Down`](bangban_contract::ConnectionState::Down) when the token expired and could not be
//! renewed; sends while down fail at once as `Retryable`.
//!
//! # Architecture invariants
//!
//! - **Only this crate knows the platform's JSON.** The core gets `Incoming` and
//!   `ConnectionChange`.
//! - **Bad input never panics**: it is logged (without message text) and refused with an HTTP
//!   error.
//! - **Secrets are never logged**: the bot secret, its key and access tokens are left out of
//!   logs and of `QqBotConfig`'s `Debug`.
//! - **Time comes from a [`Clock`]**, so tests move past reply windows and token expiry
//!   without waiting.

mod adapter;
mod api;
mod clock;
mod config;
mod event;
mod replies;
mod sign;
mod state;
mod token;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use bangban_contract::AdapterError;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Backoff, DEFAULT_API_BASE, DEFAULT_TOKEN_URL, QqBotConfig};

use state::Shared;

/// The webhook route: the callback URL to set in the platform's console is
/// `https://<host><WEBHOOK_PATH>`.
pub const WEBHOOK_PATH: &str = "/qqbot/webhook";

/// The QQ bot adapter. Build it once and keep it in an `Arc`.
pub struct QqBot {
    shared: Arc<Shared>,
}

impl QqBot {
    /// The adapter for `config`, after [`QqBotConfig::validate`].
    pub fn new(config: QqBotConfig) -> Result<QqBot, AdapterError> {
        QqBot::with_clock(config, Arc::new(SystemClock))
    }

    /// The adapter reading the time from `clock` (tests use a [`ManualClock`]).
    pub fn with_clock(config: QqBotConfig, clock: Arc<dyn Clock>) -> Result<QqBot, AdapterError> {
        Ok(QqBot {
            shared: Arc::new(Shared::new(config, clock)?),
        })
    }

    /// The webhook route ([`WEBHOOK_PATH`]), for the core to merge into its web server. It
    /// answers 503 until [`run`](bangban_contract::Adapter::run) has been called, and after its
    /// future is dropped.
    pub fn router(&self) -> Router {
        Router::new()
            .route(WEBHOOK_PATH, post(webhook::receive))
            .layer(DefaultBodyLimit::max(self.shared.config.max_body_bytes))
            .with_state(self.shared.clone())
    }

    /// The bot's Ed25519 public key (what the platform checks the op 13 answer with).
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.keys.public_key()
    }
}

/// The Ed25519 public key the bot secret `secret` gives.
pub fn public_key_of(secret: &str) -> [u8; 32] {
    sign::Keys::from_secret(secret).public_key()
}

/// The `X-Signature-Ed25519` value the platform sends with `body` at `timestamp` for a bot
/// whose secret is `secret`: for tests and tools that play the platform.
pub fn webhook_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    sign::Keys::from_secret(secret).sign_hex(&message)
}
