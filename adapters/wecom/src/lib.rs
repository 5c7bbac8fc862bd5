//! bangban's WeCom (企业微信) adapter: the AI bot (智能机器人) in groups and private chats, the
//! self-built app (自建应用) in private chats, and group robots (群机器人) for sending.
//!
//! It translates between WeCom's encrypted callbacks and APIs and the platform-neutral
//! [`bangban_contract`] types, and holds no business rules: no dedupe, no pacing, no splitting,
//! no retries.
//!
//! # Use from the core
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use bangban_contract::{Adapter, Event};
//! use bangban_wecom::{AppConfig, WeCom, WeComConfig};
//!
//! let config = WeComConfig {
//!     app: Some(AppConfig {
//!         corp_id: "ww1436e0e65a779aee".into(),
//!         corp_secret: std::env::var("BANGBAN_WECOM_APP_SECRET").unwrap_or_default(),
//!         agent_id: 1000002,
//!         token: std::env::var("BANGBAN_WECOM_APP_TOKEN").unwrap_or_default(),
//!         encoding_aes_key: std::env::var("BANGBAN_WECOM_APP_AES_KEY").unwrap_or_default(),
//!         account: None,
//!     }),
//!     ..WeComConfig::default()
//! };
//! for problem in config.validate() {
//!     eprintln!("{problem}");
//! }
//! let wecom = Arc::new(WeCom::new(config));
//! // 1. Mount the callback routes in the core's axum app.
//! let app = axum::Router::new().merge(wecom.router());
//! // 2. Run the adapter with a sink; keep the future alive for the life of the process.
//! let (tx, mut events) = tokio::sync::mpsc::channel::<Event>(4096);
//! tokio::spawn(wecom.clone().run(Arc::new(tx)));
//! // 3. Read `Event::Message` and `Event::Connection`; send with `wecom.send(&outgoing)`.
//! # let _ = (app, events.recv().await);
//! # }
//! ```
//!
//! # Routes
//!
//! Both take WeCom's query `msg_signature`, `timestamp`, `nonce` (and `echostr` on GET):
//!
//! - [`AIBOT_PATH`] (`/wecom/aibot`): the AI bot's "URL" in its API settings. GET is URL
//!   verification (answered with the decrypted `echostr` as plain text); POST carries
//!   `{"encrypt": "…"}`, a JSON message: @-messages in groups (`chattype` `group`, `chatid`)
//!   and private messages (`single`), from `from.userid`, with a `response_url`; or a stream
//!   refresh (`msgtype` `stream`, `stream.id`).
//! - [`APP_PATH`] (`/wecom/app`): the self-built app's 接收消息 URL. GET as above; POST carries
//!   `<xml><ToUserName/><Encrypt/><AgentID/></xml>`, an XML message (`FromUserName`,
//!   `MsgType`, `Content`, `MsgId`, `AgentID`).
//!
//! A request is refused before anything is decrypted unless its signature matches and its
//! timestamp is within [`WeComConfig::timestamp_window`] of the adapter's [`Clock`]: 400 for
//! a malformed query or body, 403 for a wrong signature, a stale timestamp or another receive
//! id, 413 above [`WeComConfig::max_body_bytes`], 404 for a part not configured, 503 before
//! [`Adapter::run`](bangban_contract::Adapter::run) and after its future is dropped.
//! Text messages go to the sink as [`Incoming`](bangban_contract::Incoming) with `mentions_bot`
//! true; other types (images, files, events) are dropped with a 200 and an empty body
//! (WeCom's "回复空包"). The app's callbacks are answered that way at once. The AI bot's
//! messages and stream refreshes are answered with its passive reply (below).
//! Text of mixed (图文混排) messages and the transcript WeCom gives with AI bot voice messages
//! count as text. The AI bot's leading `@name` is stripped from group messages.
//!
//! # Crypto
//!
//! [`crypto`] is WXBizMsgCrypt-compatible: SHA1 signature over the sorted token, timestamp,
//! nonce and ciphertext (compared in constant time), AES-256-CBC with the IV the key's first
//! 16 bytes, PKCS#7 padding to 32-byte blocks, `random(16) ‖ len(4, BE) ‖ msg ‖ receive_id`.
//! The receive id is the corp id for the app and empty for the AI bot. The AI bot's passive
//! replies are [`MsgCrypt::encrypt_reply_json`] (`{"encrypt","msgsignature","timestamp",
//! "nonce"}`, the callback's nonce); [`MsgCrypt::encrypt_reply_xml`] is the app's form, unused.
//!
//! # Sending: which path an `Outgoing` takes
//!
//! 1. A `Chat::Group` whose id is in [`WeComConfig::robots`] → that robot's webhook
//!    (`POST {webhook_base}/cgi-bin/webhook/send?key=…`, msgtype text, `mention` as
//!    `mentioned_list`), whatever the account. At most [`ROBOT_TEXT_MAX_BYTES`] (longer text is
//!    refused, never truncated) and [`ROBOT_PER_MINUTE`] messages a minute (the core paces).
//! 2. The AI bot's account → the quoted message's passive reply, else a `response_url`
//!    (markdown). A message's callback waits [`WeComConfig::passive_wait`] for the core's
//!    answer to it (`quote` = its `msgid`) and carries it in its HTTP response: an encrypted
//!    `{"msgtype":"stream","stream":{"id","finish":true,"content"}}`. An answer later than that
//!    goes in the response to WeCom's next stream refresh while [`WeComConfig::stream_window`]
//!    lasts (the callback was answered with an unfinished stream); after it the stream is
//!    closed (`finish` true, no content). The send succeeds only once the HTTP server took
//!    the response to write; a response never written (WeCom hung up) gives it back. Otherwise
//!    each message to the bot brings a `response_url`, usable once within an hour: the quoted
//!    message's own if unused; a fresh send whose message's URL is spent (the help desk quotes
//!    a ticket's first message) answers the message whose callback waits now; a held send
//!    takes the oldest URL whose message's own answer does not need it (answered, or still
//!    able to go passively). With none left the send fails with `SendError::AwaitingMessage`:
//!    the core sends when the chat's next message arrives. The full order is in the
//!    `replies` module. So the passive reply answers the question and the message's URL stays
//!    for an agent's later answer.
//! 3. The app's account and a `Chat::Private(userid)` → `POST {api_base}/cgi-bin/message/send`
//!    (text, `touser`). The access token comes from `GET {api_base}/cgi-bin/gettoken`, is cached
//!    and refreshed [`TOKEN_REFRESH_MARGIN`] before it expires, and on errcode 40014/42001 is
//!    fetched anew and the message sent once more.
//!
//! Errors: errcode -1 (busy) and network failures are retryable; 45009 (frequency limit) is
//! `RateLimited` (60 s); other errcodes are permanent, except the refusals of an account's own
//! credentials below.
//!
//! Lengths: text over a path's limit ([`APP_TEXT_MAX_BYTES`], [`ROBOT_TEXT_MAX_BYTES`],
//! [`AIBOT_MARKDOWN_MAX_BYTES`] for an AI bot reply, passive or not) is refused as permanent,
//! never truncated; the core's splitter cuts messages to the limit of the account they are
//! sent from (a robot's group: the robot's).
//!
//! # Accounts and connection state
//!
//! The app's account is [`AppConfig::account`] (default its AgentId), the AI bot's is
//! [`AiBotConfig::account`] (default its `aibotid`), robot chats use
//! [`WeComConfig::robot_account`]. Nothing here holds a connection (WeCom pushes to the
//! routes; sends are HTTPS calls), so `run` reports each configured account `Up` when it
//! starts, and an account goes `Down` while WeCom refuses its credentials:
//!
//! - the app's when `gettoken` answers an errcode (a wrong corp id or secret; not -1, 45009 or
//!   45033, which pass), or when its API answers 60020: the server's address is not in the
//!   app's 企业可信IP (`gettoken` works from anywhere, every call with the token is refused;
//!   the address WeCom saw is in the warning and the reason);
//! - the robots' when the webhook answers 93000 (`invalid webhook url`: a wrong key, or the
//!   robot removed from its group) for every robot's key; a refused key beside working ones
//!   leaves the account up and only that group's messages are refused.
//!
//! The send that found the refusal fails retryable and not delivered, so the core keeps the
//! message for the account's next `Up`. One warning names the account (and the robot's chat),
//! never a secret. `run` asks WeCom again [`WeComConfig::recheck_interval`] later and then at
//! doubling intervals up to [`RECHECK_MAX`] — `gettoken` (after a 60020 also `agent/get`,
//! which reads the app and posts nothing), or for a robot a text with empty content, which
//! WeCom refuses without posting anything — and reports the account `Up` when that (or any
//! send) is accepted. While down, [`Adapter::down_reasons`](bangban_contract::Adapter) says
//! why in Chinese for `/healthz` (what to check, or the address to add). The AI bot's account
//! stays up: each message brings its own passive reply and `response_url`.
//!
//! # Architecture invariants
//!
//! - **Only this crate knows WeCom's JSON and XML.** The core gets `Incoming` and
//!   `ConnectionChange`.
//! - **Bad input never panics**: it is logged (without secrets or message text) and refused.
//! - **Secrets are never logged**: tokens, keys, the corp secret, access tokens, robot keys and
//!   `response_url`s stay out of logs, errors and `Debug`.

mod adapter;
mod api;
mod callback;
mod clock;
mod config;
pub mod crypto;
mod health;
mod message;
mod replies;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use api::{
    AIBOT_MARKDOWN_MAX_BYTES, APP_TEXT_MAX_BYTES, RATE_LIMIT_RETRY_AFTER, ROBOT_MARKDOWN_MAX_BYTES,
    ROBOT_PER_MINUTE, ROBOT_TEXT_MAX_BYTES, TOKEN_REFRESH_MARGIN,
};
pub use clock::{Clock, SystemClock};
pub use config::{
    AiBotConfig, AppConfig, ConfigError, DEFAULT_API_BASE, DEFAULT_ROBOT_ACCOUNT, MAX_BODY_BYTES,
    PASSIVE_WAIT_MAX, RECHECK_MAX, STREAM_WINDOW_MAX, WeComConfig,
};
pub use crypto::{CryptoError, MsgCrypt};
pub use replies::RESPONSE_URL_TTL;

use state::Shared;

/// The AI bot's callback route (GET verification, POST messages).
pub const AIBOT_PATH: &str = "/wecom/aibot";
/// The self-built app's callback route (GET verification, POST messages).
pub const APP_PATH: &str = "/wecom/app";

/// The WeCom adapter. Build it once and keep it in an `Arc`.
pub struct WeCom {
    shared: Arc<Shared>,
}

impl WeCom {
    /// The adapter on the system clock. A configuration with problems (see
    /// [`WeComConfig::validate`]) is refused by [`run`](bangban_contract::Adapter::run).
    pub fn new(config: WeComConfig) -> WeCom {
        WeCom::with_clock(config, Arc::new(SystemClock))
    }

    /// The adapter reading the time from `clock` (tests use a clock they move).
    pub fn with_clock(config: WeComConfig, clock: Arc<dyn Clock>) -> WeCom {
        WeCom {
            shared: Arc::new(Shared::new(config, clock)),
        }
    }

    /// The callback routes ([`AIBOT_PATH`], [`APP_PATH`]) for the core to merge into its web
    /// server. They answer 503 until [`run`](bangban_contract::Adapter::run) has been called,
    /// and after its future is dropped.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                AIBOT_PATH,
                get(callback::aibot_verify).post(callback::aibot_receive),
            )
            .route(
                APP_PATH,
                get(callback::app_verify).post(callback::app_receive),
            )
            .layer(DefaultBodyLimit::max(self.shared.config.max_body_bytes))
            .with_state(self.shared.clone())
    }
}
