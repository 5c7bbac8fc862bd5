//! The traits the core drives: [`Adapter`] (required) and the optional capabilities.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Chat, EventSink, Outgoing, Platform};

/// A boxed, `Send` future: what every async method of the contract returns (see the crate doc).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One platform, as the core sees it. Every platform adapter implements it.
///
/// The core builds each enabled adapter once at start-up from its configuration, keeps it as an
/// `Arc<dyn Adapter>` for the life of the process, spawns the future of [`run`](Adapter::run)
/// once, and calls [`send`](Adapter::send) from any task, concurrently.
pub trait Adapter: Send + Sync {
    /// Which platform this adapter speaks for.
    ///
    /// Called whenever the core routes an [`Outgoing`] or labels a metric. Must return the same
    /// value every time and must not do any I/O or block.
    fn platform(&self) -> Platform;

    /// Connects to the platform and reports what happens on it into `sink`, until dropped.
    ///
    /// Called exactly once, by the core, at start-up, before it serves HTTP. Takes `Arc<Self>`
    /// so that the returned future owns what it needs and can be `tokio::spawn`ed. Adapters that
    /// receive through routes the core mounts start accepting on the call itself, before the
    /// future is first polled (and refuse connections before the call), so the core can spawn
    /// the future and serve HTTP at once. The future runs for the life of the process: it keeps
    /// outbound connections alive, reconnecting with backoff, and it never ends because the
    /// platform went away. Dropping it is how the core shuts the adapter down: it closes the
    /// adapter's connections.
    ///
    /// Resolves to `Ok(())` only when `sink` reports [`SinkClosed`](crate::SinkClosed), and to
    /// `Err` only for a configuration the adapter cannot work with (a malformed URL, say), never
    /// for a network failure. Must not apply business rules to events (no dedupe, no filtering
    /// beyond dropping the bot's own messages and what is not a message).
    fn run(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
    ) -> BoxFuture<'static, Result<(), AdapterError>>;

    /// Carries out one action on the platform and reports how it went.
    ///
    /// Called by the core's outbox, possibly from several tasks at once, for actions whose
    /// `platform` is [`Adapter::platform`]. Sends immediately: must not queue, pace, split or
    /// retry (the core does), and must not wait for the account to come up. An action for an
    /// account that is not connected fails at once with a [`SendError::Retryable`] whose
    /// `maybe_delivered` is false. Resolves within the adapter's configured action timeout.
    /// `Ok` means the platform confirmed the action; a [`Delivered`] without `message_id`
    /// means it confirmed without naming the message.
    fn send<'a>(&'a self, action: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>>;

    /// The accounts that can currently send, in no particular order.
    ///
    /// Called by the core for health checks and metrics. Must not do any I/O or block. An empty
    /// list means no account is connected (or none has been seen yet), not an error.
    fn connected_accounts(&self) -> Vec<String>;

    /// Why accounts of this adapter cannot send, where the adapter knows a reason the operator
    /// can act on (the platform refuses a secret, or the server's address).
    ///
    /// Called by the core for health checks. Must not do any I/O or block. An empty list means
    /// no account is down for a reason the adapter knows (an account may still be down for an
    /// unknown one, such as a lost connection); an account listed here is not in
    /// [`connected_accounts`](Adapter::connected_accounts).
    fn down_reasons(&self) -> Vec<AccountDown> {
        Vec::new()
    }

    /// The recall capability, if this platform can take back a sent message.
    ///
    /// Called whenever the core wants to recall. Must not do any I/O. `None` means the platform
    /// cannot recall; the core then leaves the message in place.
    fn as_recall(&self) -> Option<&dyn Recall> {
        None
    }

    /// The member-lookup capability, if this platform can name a member of a chat.
    ///
    /// Called whenever the core wants a display name it did not get with the message. Must not do
    /// any I/O. `None` means the platform cannot look members up; the core uses the sender id.
    fn as_member_lookup(&self) -> Option<&dyn MemberLookup> {
        None
    }
}

/// Optional capability: take back (recall, 撤回) a message the bot sent.
pub trait Recall: Send + Sync {
    /// Recalls the bot's message `message_id` (as returned in [`Delivered::message_id`]) that
    /// `account` sent to `chat`.
    ///
    /// Called by the core on an admin's or agent's request. Must not retry. `Ok(())` means the
    /// platform confirmed the recall. Platforms limit how long after sending a recall works;
    /// past that it fails with [`SendError::Permanent`].
    fn recall<'a>(
        &'a self,
        account: &'a str,
        chat: &'a Chat,
        message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Optional capability: find the display name of a chat member.
pub trait MemberLookup: Send + Sync {
    /// The display name of `user` in `chat` as `account` sees it (the group card, else the
    /// nickname).
    ///
    /// Called by the core when an [`Incoming`](crate::Incoming) came without `sender_name` or a
    /// name is needed for someone who has not written. Asks the platform each time: must not
    /// cache (the core does if it wants to). `Ok(None)` means the platform knows the user but
    /// gives no name, or does not know the user in that chat.
    fn member_name<'a>(
        &'a self,
        account: &'a str,
        chat: &'a Chat,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendError>>;
}

/// An account that cannot send, and why, for the operator (see [`Adapter::down_reasons`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDown {
    /// The bot account, as in [`Incoming::account`](crate::Incoming::account).
    pub account: String,
    /// What is wrong and what to do about it, in the operator's language (Chinese), one or two
    /// short sentences. Never contains a secret.
    pub reason: String,
}

/// The platform accepted an action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    /// The platform's id of the message sent, for quoting or recalling it later. `None` when the
    /// platform confirmed without giving one (some answer asynchronously).
    pub message_id: Option<String>,
}

/// Why an action was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The action failed for a passing reason (not connected, timeout, platform busy): the core
    /// may try it again later, e.g. after the account's next [`ConnectionState::Up`](crate::ConnectionState::Up).
    Retryable {
        /// What went wrong, for logs. Never contains secrets.
        reason: String,
        /// `true` when the request may have reached the platform before the failure (a timeout,
        /// a connection lost while waiting for the answer), so a retry can duplicate the message.
        maybe_delivered: bool,
    },
    /// The platform refused the action (bad target, no permission, unknown action, muted):
    /// trying the same action again will fail the same way.
    Permanent {
        /// What went wrong, for logs, including the platform's error code if it gave one.
        reason: String,
    },
    /// The platform asked the bot to slow down (HTTP 429, a WeCom robot's 45009): the core
    /// tries the action again no sooner than `retry_after`. Nothing was delivered.
    RateLimited {
        /// What went wrong, for logs.
        reason: String,
        /// How long the platform asked the bot to wait.
        retry_after: std::time::Duration,
    },
    /// The platform lets the bot speak in this chat only in reply to a recent message (the QQ
    /// official bot's passive replies), and there is none to reply to now. The core keeps the
    /// action and tries it again when the chat's next message arrives. Nothing was delivered.
    AwaitingMessage {
        /// What went wrong, for logs.
        reason: String,
    },
}

impl SendError {
    /// Whether the core may try the action again later.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Permanent { .. })
    }

    /// What went wrong, for logs.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Retryable { reason, .. }
            | SendError::Permanent { reason }
            | SendError::RateLimited { reason, .. }
            | SendError::AwaitingMessage { reason } => reason,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Retryable {
                reason,
                maybe_delivered,
            } => {
                write!(f, "send failed, retryable: {reason}")?;
                if *maybe_delivered {
                    f.write_str(" (may have been delivered)")?;
                }
                Ok(())
            }
            SendError::Permanent { reason } => write!(f, "send refused: {reason}"),
            SendError::RateLimited {
                reason,
                retry_after,
            } => write!(
                f,
                "send rate-limited, retry after {} ms: {reason}",
                retry_after.as_millis()
            ),
            SendError::AwaitingMessage { reason } => {
                write!(f, "send held until the chat's next message: {reason}")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// An adapter cannot run with the configuration it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterError {
    /// What is wrong, for the operator. Never contains secrets.
    pub reason: String,
}

impl AdapterError {
    pub fn new(reason: impl Into<String>) -> Self {
        AdapterError {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for AdapterError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest adapter: proves the trait is dyn-compatible and its defaults say "cannot".
    struct Null;

    impl Adapter for Null {
        fn platform(&self) -> Platform {
            Platform::Sandbox
        }
        fn run(
            self: Arc<Self>,
            _sink: Arc<dyn EventSink>,
        ) -> BoxFuture<'static, Result<(), AdapterError>> {
            Box::pin(std::future::ready(Ok(())))
        }
        fn send<'a>(&'a self, _: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
            Box::pin(std::future::ready(Err(SendError::Permanent {
                reason: "null".into(),
            })))
        }
        fn connected_accounts(&self) -> Vec<String> {
            Vec::new()
        }
    }

    #[test]
    fn adapters_are_trait_objects_and_capabilities_optional() {
        let adapter: Arc<dyn Adapter> = Arc::new(Null);
        assert_eq!(adapter.platform(), Platform::Sandbox);
        assert!(adapter.as_recall().is_none());
        assert!(adapter.as_member_lookup().is_none());
        assert!(adapter.down_reasons().is_empty());
    }

    #[test]
    fn send_errors_say_whether_to_retry() {
        let retry = SendError::Retryable {
            reason: "timeout".into(),
            maybe_delivered: true,
        };
        assert!(retry.is_retryable());
        assert_eq!(
            retry.to_string(),
            "send failed, retryable: timeout (may have been delivered)"
        );
        let refuse = SendError::Permanent {
            reason: "retcode 1400".into(),
        };
        assert!(!refuse.is_retryable());
        assert_eq!(refuse.reason(), "retcode 1400");
    }
}
