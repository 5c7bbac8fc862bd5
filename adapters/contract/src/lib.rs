//! The contract between bangban's platform adapters and its core.
//!
//! Adapters translate platform JSON into [`Incoming`] events and carry out [`Outgoing`] actions.
//! The core sees only these types; adapters hold no business rules.
//!
//! # Shape
//!
//! Modelled on mautrix-go bridgev2's `networkinterface.go`: one required trait, [`Adapter`],
//! that every platform implements, and small optional capability traits ([`Recall`],
//! [`MemberLookup`]) that the core asks for through [`Adapter::as_recall`] and
//! [`Adapter::as_member_lookup`]. A `None` there means "this platform cannot do it"; the core
//! then does without, it never fails because of it.
//!
//! An adapter pushes what happens on the platform into an [`EventSink`] as [`Event`]s: messages
//! ([`Incoming`]) and connection changes per account ([`ConnectionChange`]), so that the core can
//! flush what it queued for an account when the account comes back up.
//!
//! # Why boxed futures and not `async fn` in the traits
//!
//! The core holds its adapters as `Arc<dyn Adapter>` in one list, whatever the platform, and
//! calls them from spawned tokio tasks. `async fn` in traits is not dyn-compatible (as of Rust
//! 1.95) and its futures carry no `Send` bound a caller can name, so every async method here
//! returns a [`BoxFuture`] (`Pin<Box<dyn Future + Send>>`). The cost, one allocation per call,
//! is nothing next to a network round trip. An implementation writes
//! `Box::pin(async move { ... })`; the core simply `.await`s. [`Adapter::run`] takes
//! `self: Arc<Self>` and returns a `'static` future, so the core can `tokio::spawn` it
//! directly (`Arc<Self>` receivers are dyn-compatible).
//!
//! A closed enum of adapters would avoid the boxing, but it would have to live in the core and
//! grow a variant and a match arm per platform; with trait objects the core's outbox, metrics
//! and routing handle every adapter the same way.
//!
//! # Architecture invariants
//!
//! - **No platform JSON crosses this crate.** Ids are strings; text is plain text.
//! - **No business rules in adapters.** Dedupe, pacing, the outbox and retries belong to the
//!   core; adapters translate, report connection state and classify errors
//!   ([`SendError::Retryable`] or [`SendError::Permanent`]).
//! - **No runtime in the contract.** The only runtime-specific item is the `EventSink` impl for
//!   tokio's channels, behind the `tokio` feature.

mod adapter;
mod event;
mod sink;

pub use adapter::{
    AccountDown, Adapter, AdapterError, BoxFuture, Delivered, MemberLookup, Recall, SendError,
};
pub use event::{ConnectionChange, ConnectionState, Event};
pub use sink::{EventSink, SinkClosed};

use serde::{Deserialize, Serialize};

/// Which chat platform an event came from or an action goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// OneBot v11 implementations (NapCat, LLBot…) in QQ groups.
    Onebot,
    /// WeCom (企业微信).
    Wecom,
    /// The QQ official bot platform (QQ开放平台).
    Qqbot,
    /// Telegram.
    Telegram,
    /// The built-in sandbox (web page or terminal).
    Sandbox,
}

/// A chat: a group or a one-to-one conversation, by its platform id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Chat {
    Group(String),
    Private(String),
}

impl Chat {
    /// The platform id of the chat, whatever its kind.
    pub fn id(&self) -> &str {
        match self {
            Chat::Group(id) | Chat::Private(id) => id,
        }
    }
}

/// A message a person sent, as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub platform: Platform,
    /// The bot account that received it (e.g. the QQ number the OneBot implementation logs in as).
    pub account: String,
    pub chat: Chat,
    /// The sender's platform user id.
    pub sender: String,
    /// The sender's display name in that chat, if the platform gives one.
    pub sender_name: Option<String>,
    /// The platform's message id; with `platform` and `account` it identifies the event for dedupe.
    pub message_id: String,
    /// The message as plain text: mentions and media already removed by the adapter.
    pub text: String,
    /// Whether the bot itself was @-mentioned (or the chat is private, where every message is addressed).
    pub mentions_bot: bool,
    /// The message this one replies to, if any.
    pub reply_to: Option<String>,
}

/// Something the core wants done on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outgoing {
    /// Send text to a chat, optionally quoting a message and @-mentioning a user.
    SendText {
        platform: Platform,
        account: String,
        chat: Chat,
        text: String,
        quote: Option<String>,
        mention: Option<String>,
    },
}
