//! bangban's OneBot v11 adapter: QQ groups through NapCat, LLBot (LuckyLilliaBot) and other
//! OneBot v11 implementations.
//!
//! It translates between OneBot v11 JSON and the platform-neutral
//! [`bangban_contract`] types, and holds no business rules: no dedupe, no pacing, no outbox.
//!
//! # Use from the core
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use bangban_contract::{Adapter, Event, EventSink};
//! use bangban_onebot::{OneBot, OneBotConfig};
//!
//! let config = OneBotConfig {
//!     access_token: std::env::var("BANGBAN_ONEBOT_TOKEN").ok(),
//!     ..OneBotConfig::default()
//! };
//! let onebot = Arc::new(OneBot::new(config));
//! // 1. Mount the reverse WebSocket and HTTP POST routes in the core's axum app.
//! let app = axum::Router::new().merge(onebot.router());
//! // 2. Run the adapter with a sink; keep the future alive for the life of the process.
//! let (tx, mut events) = tokio::sync::mpsc::channel::<Event>(4096);
//! // From this call on the routes accept connections.
//! tokio::spawn(onebot.clone().run(Arc::new(tx)));
//! // 3. Read `Event::Message` and `Event::Connection` from `events`; send with `onebot.send(&outgoing)`.
//! # let _ = (app, events.recv().await);
//! # }
//! ```
//!
//! # Transports
//!
//! - **Reverse WebSocket** (the usual deployment): the implementation connects to
//!   [`WS_PATH`] (Universal), or [`WS_API_PATH`] and [`WS_EVENT_PATH`] (split clients). The
//!   account is the `X-Self-ID` header.
//! - **Forward WebSocket**: the adapter connects to each [`OneBotConfig::forward_ws`] URL and
//!   reconnects with exponential backoff.
//! - **HTTP**: the implementation posts events to [`HTTP_PATH`] (checked with `X-Signature`,
//!   HMAC-SHA1 of the body); actions go to each [`OneBotConfig::http_api`] endpoint.
//!
//! Several accounts may be connected at once, over any mix of transports; an action goes out
//! through the newest link of its account.
//!
//! # Architecture invariants
//!
//! - **Only this crate knows OneBot JSON.** The core gets `Incoming` and `ConnectionChange`.
//! - **A bad frame never closes a connection and never panics**: it is logged and skipped.
//! - **The bot's own messages never reach the core** (`message_sent`, or `user_id == self_id`).
//! - **Secrets are never logged**: tokens, signatures and URL queries are left out of logs and
//!   of `OneBotConfig`'s `Debug`. Message text is logged at no level.

mod accounts;
mod action;
mod adapter;
mod auth;
mod config;
mod cq;
mod forward_ws;
mod frame;
mod http_api;
mod http_post;
mod ids;
mod link;
mod pending;
mod reverse_ws;
mod segment;
mod state;
mod ws_conn;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, post};

pub use config::{Backoff, OneBotConfig};

use state::Shared;

/// The reverse WebSocket route for Universal clients.
pub const WS_PATH: &str = "/onebot/v11/ws";
/// The reverse WebSocket route for split API clients.
pub const WS_API_PATH: &str = "/onebot/v11/ws/api";
/// The reverse WebSocket route for split Event clients.
pub const WS_EVENT_PATH: &str = "/onebot/v11/ws/event";
/// The HTTP POST route for events.
pub const HTTP_PATH: &str = "/onebot/v11/http";

/// The OneBot v11 adapter. Build it once and keep it in an `Arc`.
pub struct OneBot {
    shared: Arc<Shared>,
}

impl OneBot {
    pub fn new(config: OneBotConfig) -> OneBot {
        OneBot {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// The routes implementations connect to ([`WS_PATH`], [`WS_API_PATH`], [`WS_EVENT_PATH`],
    /// [`HTTP_PATH`]), for the core to merge into its web server. They answer 503 until
    /// [`Adapter::run`](bangban_contract::Adapter::run) has been called, and after its future
    /// is dropped.
    ///
    /// Serve the app with `into_make_service_with_connect_info::<SocketAddr>()` to get peer
    /// addresses in the logs (optional).
    pub fn router(&self) -> Router {
        // The HTTP POST route reads its body itself, after the token check, up to
        // `http_post::MAX_EVENT_BYTES`; the WebSocket routes have no body.
        Router::new()
            .route(WS_PATH, any(reverse_ws::universal))
            .route(WS_API_PATH, any(reverse_ws::api))
            .route(WS_EVENT_PATH, any(reverse_ws::event))
            .route(HTTP_PATH, post(http_post::receive))
            .with_state(self.shared.clone())
    }
}

/// Entry points for the fuzz targets (`fuzz/`) and their corpus replay (`tests/fuzz_replay.rs`):
/// the parsers that read what an implementation sends. Not part of the adapter's API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a CQ string, renders the segments back and parses that again. Panics if the
    /// second parse differs from the first (rendering must keep what was parsed). Returns the
    /// number of segments.
    pub fn cq_round_trip(s: &str) -> usize {
        let segments = crate::cq::parse(s);
        let again = crate::cq::parse(&crate::cq::render(&segments));
        assert_eq!(segments, again, "render then parse changed {s:?}");
        segments.len()
    }

    /// Parses a frame as the reverse WebSocket and the HTTP POST receiver do. Returns whether
    /// it was read (an event or an action response) rather than refused.
    pub fn frame(bytes: &[u8]) -> bool {
        crate::frame::parse(bytes, Some("10001")).is_ok()
    }
}
