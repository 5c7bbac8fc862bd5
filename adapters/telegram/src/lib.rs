//! bangban's Telegram adapter: groups, supergroups and private chats through the Telegram Bot
//! API, with [teloxide](https://docs.rs/teloxide)'s client and types.
//!
//! It translates between Bot API JSON and the platform-neutral [`bangban_contract`] types, and
//! holds no business rules: no dedupe, no pacing, no outbox, no retries of sends.
//!
//! # Use from the core
//!
//! ```no_run
//! # async fn demo() -> Result<(), bangban_contract::AdapterError> {
//! use std::sync::Arc;
//! use bangban_contract::{Adapter, Event};
//! use bangban_telegram::{Telegram, TelegramConfig};
//!
//! let config = TelegramConfig {
//!     token: std::env::var("BANGBAN_TELEGRAM_TOKEN").unwrap_or_default(),
//!     ..TelegramConfig::default()
//! };
//! // `new` validates the configuration.
//! let telegram = Arc::new(Telegram::new(config)?);
//! // 1. Mount the webhook route in the core's axum app (it answers 404 in polling mode).
//! let app = axum::Router::new().merge(telegram.router());
//! // 2. Run the adapter with a sink; keep the future alive for the life of the process.
//! let (tx, mut events) = tokio::sync::mpsc::channel::<Event>(4096);
//! tokio::spawn(telegram.clone().run(Arc::new(tx)));
//! // 3. Read `Event::Message` and `Event::Connection` from `events`; send with
//! //    `telegram.send(&outgoing)`.
//! # let _ = (app, events.recv().await);
//! # Ok(())
//! # }
//! ```
//!
//! # Receiving
//!
//! [`Adapter::run`](bangban_contract::Adapter::run) first calls `getMe`, retrying with
//! [`Backoff`] until it answers; a token Telegram refuses (401, or 404 for a wrong `api_url`)
//! ends `run` with an error, as a configuration the adapter cannot work with. Then, by
//! [`Mode`]:
//!
//! - **Long polling** ([`Mode::Polling`], the default): `getUpdates` with `offset`, `timeout`
//!   = [`TelegramConfig::poll_timeout`] and `allowed_updates = ["message"]`. The offset moves
//!   past an update only after the update was handed to the sink (or ignored), so a failed call
//!   loses and repeats nothing. A 429 waits its `retry_after`; network errors, 5xx and
//!   unreadable answers back off exponentially. A 409 because a webhook is set deletes the
//!   webhook once (`deleteWebhook`, pending updates kept); a 409 because another client polls
//!   the same bot is logged as an error and retried with backoff.
//! - **Webhook** ([`Mode::Webhook`]): Telegram posts updates to [`WEBHOOK_PATH`], which checks
//!   `X-Telegram-Bot-Api-Secret-Token` against [`TelegramConfig::webhook_secret`] in constant
//!   time (401 if missing or wrong). With [`TelegramConfig::webhook_url`] set, `run` registers
//!   the webhook with `setWebhook` (URL, secret, `allowed_updates`); without, the operator
//!   registers it. The route answers 503 until `getMe` succeeded and after `run`'s future is
//!   dropped, 400 for a body that is not an update, 413 for one over
//!   [`TelegramConfig::max_body_bytes`], and 200 otherwise.
//!
//! # Connection state
//!
//! The account is the bot's user id (from `getMe`, the digits before the token's colon). It is
//! reported [`Up`](bangban_contract::ConnectionState::Up) once `getMe` succeeded (and, in
//! webhook mode, `setWebhook` if configured). In polling mode it is reported
//! [`Down`](bangban_contract::ConnectionState::Down) after
//! [`TelegramConfig::down_after_failures`] failed `getUpdates` calls in a row (network errors,
//! 5xx, a refused token; not 429s or polling conflicts), and `Up` again after the next
//! successful call. Webhook mode has no signal of its own and stays up. While not up, `send`
//! fails at once as retryable, not delivered.
//!
//! # Messages
//!
//! Only `message` updates become [`Incoming`](bangban_contract::Incoming): in groups and
//! supergroups (`Chat::Group(chat id)`) and private chats (`Chat::Private(chat id)`). Edited
//! messages, channel posts, automatic forwards from a linked channel, the bot's own messages,
//! messages without text or caption (stickers, photos without caption…) and every other update
//! are ignored. The text is the message's text or a media caption.
//!
//! - `message_id` is `"chat_id:message_id"` (Telegram's ids are unique per chat only), and so
//!   is `reply_to` (from `reply_to_message`).
//! - `sender` is the user id and `sender_name` the full name; for an anonymous group admin or
//!   a channel speaking in a group, the sender chat's id and title.
//! - `mentions_bot` is true in private chats, for an `@botname` mention entity or a text
//!   mention of the bot, for a reply to one of the bot's messages, and for a bot command at the
//!   start of the text that names the bot (`/claim@bangban_bot 3`) or no bot (`/claim 3`). The
//!   bot's `@botname` mentions are removed from the text, and `/cmd@botname` becomes `/cmd`, so
//!   the core sees `/claim 3`. A command for another bot is left as it is, not addressed.
//!
//! # Sending
//!
//! [`Adapter::send`](bangban_contract::Adapter::send) is one `sendMessage` call, without
//! retries and without teloxide's `Throttle` (the core's outbox paces). A `quote`
//! (`"chat_id:message_id"`) becomes `reply_parameters` (with `allow_sending_without_reply`, so
//! the text still goes out if the quoted message was deleted). A `mention` is omitted when
//! quoting (the reply already notifies its author); without a quote, in a group, it is a link
//! to the user (`tg://user?id=…`, a Telegram mention) on an `@` put before the text. Texts over
//! [`MAX_TEXT_CHARS`] characters are refused as permanent: the core splits. Errors: 429 →
//! `RateLimited { retry_after }`; network errors → `Retryable` (`maybe_delivered` unless the
//! connection was never made); 5xx → `Retryable`, maybe delivered; 400, 403 and other refusals
//! → `Permanent`.
//!
//! # Secrets and logs
//!
//! The token is part of every Bot API URL. It is never in this crate's logs or errors (they
//! describe failures from their kind and causes, and scrub the token from anything they quote),
//! nor in [`TelegramConfig`]'s `Debug`; neither is the webhook secret, nor any message text.
//! The HTTP stack under teloxide (reqwest, hyper, which log through the `log` crate) may log
//! request details at debug and trace level, and reqwest errors can carry the URL: the core's
//! log filter must keep `reqwest`, `hyper`, `hyper_util`, `teloxide` and `teloxide_core` at
//! `info` or above, e.g. by appending [`LOG_FILTER`] to its `EnvFilter`.
//!
//! teloxide waits 10 s after a 5xx answer before reading it; sends are cut at the action
//! timeout all the same. teloxide's HTTP client honours `HTTPS_PROXY`/`ALL_PROXY` from the
//! environment (HTTP proxies), or point [`TelegramConfig::api_url`] at a local Bot API server.
//!
//! Forum topics: a reply lands in the topic of the message it quotes; an unquoted message goes
//! to the group's General topic.

mod adapter;
mod config;
mod failure;
mod receive;
mod state;
mod translate;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use bangban_contract::AdapterError;

pub use config::{Backoff, DEFAULT_API_URL, Mode, TelegramConfig};

use state::Shared;

/// The webhook route: register `https://<public host>/telegram/webhook` with Telegram.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// The longest text `send` takes, in characters (Unicode scalar values, as the core's splitter
/// counts): Telegram's limit for a message, 4,096 characters after entity parsing.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Log filter directives that keep the token out of the logs: the HTTP stack under teloxide may
/// log request details, and the URLs carry the token, at debug and trace level. Append to the
/// core's `EnvFilter`, after the user's own directives.
pub const LOG_FILTER: &str =
    "reqwest=info,hyper=info,hyper_util=info,teloxide=info,teloxide_core=info";

/// The Telegram adapter. Build it once and keep it in an `Arc`.
pub struct Telegram {
    shared: Arc<Shared>,
}

impl Telegram {
    /// Checks `config` (see [`TelegramConfig::validate`]) and sets up the HTTP clients. No I/O.
    pub fn new(config: TelegramConfig) -> Result<Telegram, AdapterError> {
        Ok(Telegram {
            shared: Arc::new(Shared::new(config)?),
        })
    }

    /// The webhook route ([`WEBHOOK_PATH`]), for the core to merge into its web server. It
    /// answers 404 in polling mode, and 503 until [`Adapter::run`](bangban_contract::Adapter::run)
    /// has identified the bot and after its future is dropped.
    pub fn router(&self) -> Router {
        Router::new()
            // The route reads its body itself, after the secret check.
            .route(WEBHOOK_PATH, post(webhook::receive))
            .with_state(self.shared.clone())
    }
}
