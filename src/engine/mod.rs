//! The engine: platform-neutral events in, platform-neutral actions out.
//!
//! It keeps no platform knowledge (that is the adapters') and touches sled only through
//! [`crate::store`]. Today it answers from the guide; the help desk (tickets, agents, ladder,
//! ratings) plugs in here.

use crate::config::Config;
use crate::reply;
use crate::store::Store;
use crate::understand::Matcher;
use bangban_contract::{Chat, Incoming, Outgoing};
use std::sync::Arc;

/// Everything the engine needs, built once at start-up and shared.
pub struct Engine {
    config: Arc<Config>,
    matcher: Matcher,
    #[allow(dead_code)]
    store: Store,
}

impl Engine {
    pub fn new(config: Arc<Config>, store: Store) -> Engine {
        let matcher = Matcher::new(&config);
        Engine {
            config,
            matcher,
            store,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one incoming message and returns what to send. Every write the returned actions
    /// announce (a ticket number, say) is on disk before this returns.
    pub async fn handle(&self, event: &Incoming) -> anyhow::Result<Vec<Outgoing>> {
        let addressed = event.mentions_bot || matches!(event.chat, Chat::Private(_));
        let u = self.matcher.understand(&event.text, addressed);
        let text = reply::render(&u, &self.config.catalog, &self.config.replies);
        if text.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![reply_to(event, text)])
    }
}

impl Engine {
    /// Called by the runtime about once a minute: unclaimed tickets climb the ladder, ratings are
    /// asked, context expires. Returns what to send.
    pub async fn tick(&self, _now: std::time::SystemTime) -> anyhow::Result<Vec<Outgoing>> {
        Ok(Vec::new())
    }
}

/// A reply in the chat of `event`, quoting it and (in groups) @-mentioning its sender.
pub fn reply_to(event: &Incoming, text: String) -> Outgoing {
    let group = matches!(event.chat, Chat::Group(_));
    Outgoing::SendText {
        platform: event.platform,
        account: event.account.clone(),
        chat: event.chat.clone(),
        text,
        quote: Some(event.message_id.clone()),
        mention: group.then(|| event.sender.clone()),
    }
}
