//! What an adapter reports to the core: messages and connection changes.

use serde::{Deserialize, Serialize};

use crate::{Incoming, Platform};

/// One thing that happened on a platform, pushed by an adapter into its [`EventSink`](crate::EventSink).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A person sent a message the bot can see. Never the bot's own messages.
    Message(Incoming),
    /// A bot account became able, or stopped being able, to send.
    Connection(ConnectionChange),
}

/// A bot account's ability to send changed.
///
/// Adapters report transitions only: `Up` after `Down` (or first `Up`), never `Up` twice in a
/// row for the same account. The core flushes its outbox for the account on `Up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionChange {
    pub platform: Platform,
    /// The bot account, as in [`Incoming::account`].
    pub account: String,
    pub state: ConnectionState,
}

/// Whether an account can currently send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// At least one live link to the platform can carry sends for the account.
    Up,
    /// No link can: sends would fail with a retryable error until the next `Up`.
    Down,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_tag() {
        let event = Event::Connection(ConnectionChange {
            platform: Platform::Onebot,
            account: "123".into(),
            state: ConnectionState::Down,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "connection", "platform": "onebot", "account": "123", "state": "down"})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
