//! The event loop: reads what the adapters report, drops what was already handled, asks the
//! engine, and stores the replies (marking the event seen in the same transaction) before the
//! delivery worker may send them.
//!
//! Events are taken in batches: every event of a batch is handled and stored, then one flush
//! makes the whole batch durable, then its replies go to the worker. Under load this is group
//! commit (one disk sync for many messages); when quiet, a batch is one event.

use super::delivery::Command;
use super::limits::ChatLimits;
use super::metrics::Metrics;
use super::split::split_action;
use crate::engine::Engine;
use crate::store::Store;
use crate::store::outbox::Queued;
use crate::store::seen::platform_name;
use bangban_contract::{Chat, Event, Incoming, Outgoing};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// The most events handled before one flush.
const BATCH: usize = 256;
/// How often the engine's clock work runs (ladder, ratings, context expiry).
const TICK: Duration = Duration::from_secs(60);
/// How often old dedupe entries are pruned, and how long they are kept.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const SEEN_KEPT: Duration = Duration::from_secs(3 * 24 * 3600);

pub(crate) struct EventLoop {
    pub(crate) store: Store,
    pub(crate) engine: Arc<Engine>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) max_chars: usize,
    pub(crate) limits: ChatLimits,
}

impl EventLoop {
    /// Runs until `stop` fires (or its sender is dropped); then handles what is already
    /// buffered, refuses the rest (adapters see their sink closed) and flushes.
    ///
    /// The clock work goes on whether or not any adapter runs: with no platform enabled (or
    /// every adapter gone) there are no events, but unclaimed tickets still climb the ladder,
    /// dialogue context still expires and old message ids are still forgotten.
    pub(crate) async fn run(
        self,
        mut events: mpsc::Receiver<Event>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_prune: Option<Instant> = None;
        // Whether an adapter may still report: false once every sender is gone.
        let mut open = true;
        loop {
            tokio::select! {
                n = events.recv_many(&mut batch, BATCH), if open => {
                    if n == 0 {
                        debug!("no adapter reports events; the clock work goes on");
                        open = false;
                        continue;
                    }
                    self.handle_batch(&mut batch).await;
                }
                _ = ticks.tick() => {
                    self.tick().await;
                    if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                        last_prune = Some(Instant::now());
                        self.prune();
                    }
                }
                _ = &mut stop => {
                    events.close();
                    while events.recv_many(&mut batch, BATCH).await > 0 {
                        self.handle_batch(&mut batch).await;
                    }
                    break;
                }
            }
        }
        if let Err(e) = self.store.flush().await {
            error!(error = %e, "could not flush the data directory at shutdown");
        }
        info!("event loop stopped");
    }

    async fn handle_batch(&self, batch: &mut Vec<Event>) {
        let mut queued = Vec::new();
        for event in batch.drain(..) {
            match event {
                Event::Message(incoming) => {
                    let _ = self.commands.send(Command::Heard(
                        incoming.platform,
                        incoming.account.clone(),
                        incoming.chat.clone(),
                    ));
                    if let Some(q) = self.handle_message(&incoming).await {
                        queued.extend(q);
                    }
                }
                Event::Connection(change) => {
                    let _ = self.commands.send(Command::Connection(change));
                }
            }
        }
        self.commit(queued).await;
    }

    /// Handles one message; the replies stored (not yet flushed).
    async fn handle_message(&self, incoming: &Incoming) -> Option<Vec<Queued>> {
        let platform = platform_name(incoming.platform);
        self.metrics
            .inc("bangban_messages_in_total", &[("platform", platform)]);
        // Never the text: residents post ID-card and phone numbers.
        let chat = match &incoming.chat {
            Chat::Group(id) => format!("group {id}"),
            Chat::Private(_) => "private".to_owned(),
        };
        let key = dedupe_key(incoming);
        match self.store.is_seen(&key) {
            Ok(false) => {}
            Ok(true) => {
                self.duplicate(incoming, platform);
                return None;
            }
            Err(e) => {
                error!(platform, account = %incoming.account, message_id = %incoming.message_id,
                    error = %e, "could not check whether the message was seen; skipped");
                return None;
            }
        }
        let outcome = AssertUnwindSafe(self.engine.handle(incoming))
            .catch_unwind()
            .await;
        let actions = match outcome {
            Ok(Ok(actions)) => actions,
            Ok(Err(e)) => {
                self.metrics
                    .inc("bangban_handled_total", &[("outcome", "error")]);
                error!(platform, %chat, message_id = %incoming.message_id, error = %format!("{e:#}"),
                    "the engine could not handle the message");
                return None;
            }
            Err(_) => {
                self.metrics
                    .inc("bangban_handled_total", &[("outcome", "error")]);
                error!(platform, %chat, message_id = %incoming.message_id,
                    "the engine panicked on the message; it is skipped");
                return None;
            }
        };
        let outcome = if actions.is_empty() {
            "silent"
        } else {
            "replied"
        };
        self.metrics
            .inc("bangban_handled_total", &[("outcome", outcome)]);
        debug!(platform, %chat, message_id = %incoming.message_id, chars = incoming.text.chars().count(),
            replies = actions.len(), "message handled");
        let parts = self.split(actions);
        match self.store.accept(&key, &parts) {
            Ok(Some(queued)) => Some(queued),
            Ok(None) => {
                self.duplicate(incoming, platform);
                None
            }
            Err(e) => {
                error!(platform, %chat, message_id = %incoming.message_id, error = %e,
                    "could not store the replies; the message is not answered");
                None
            }
        }
    }

    fn duplicate(&self, incoming: &Incoming, platform: &'static str) {
        self.metrics.inc(
            "bangban_messages_duplicate_total",
            &[("platform", platform)],
        );
        debug!(platform, account = %incoming.account, message_id = %incoming.message_id,
            "message seen before; not handled again");
    }

    fn split(&self, actions: Vec<Outgoing>) -> Vec<Outgoing> {
        actions
            .into_iter()
            .flat_map(|a| {
                let Outgoing::SendText { platform, chat, .. } = &a;
                let max_chars = self.limits.max_chars(*platform, chat, self.max_chars);
                split_action(a, max_chars)
            })
            .collect()
    }

    /// Makes `queued` durable, then hands it to the worker.
    async fn commit(&self, queued: Vec<Queued>) {
        if queued.is_empty() {
            return;
        }
        if let Err(e) = self.store.flush().await {
            error!(error = %e, count = queued.len(),
                "could not flush the outbox; these replies wait until the bot restarts");
            return;
        }
        let _ = self.commands.send(Command::Queued(queued));
    }

    async fn tick(&self) {
        let outcome = AssertUnwindSafe(self.engine.tick(SystemTime::now()))
            .catch_unwind()
            .await;
        let actions = match outcome {
            Ok(Ok(actions)) => actions,
            Ok(Err(e)) => {
                error!(error = %format!("{e:#}"), "the engine's clock work failed");
                return;
            }
            Err(_) => {
                error!("the engine panicked in its clock work");
                return;
            }
        };
        if actions.is_empty() {
            return;
        }
        let parts = self.split(actions);
        match self.store.enqueue(&parts) {
            Ok(queued) => self.commit(queued).await,
            Err(e) => error!(error = %e, "could not store the engine's scheduled messages"),
        }
    }

    fn prune(&self) {
        match self.store.prune_seen(SystemTime::now() - SEEN_KEPT) {
            Ok(0) => {}
            Ok(n) => info!(pruned = n, "forgot old message ids"),
            Err(e) => warn!(error = %e, "could not prune old message ids"),
        }
    }
}

/// The event as the store's dedupe keys it (platform, account, message id), with the chat made
/// part of the message id: some implementations number messages per group, so the same OneBot
/// `message_id` in another group is another message. Only the fields of the key are kept.
pub(crate) fn dedupe_key(incoming: &Incoming) -> Incoming {
    let (kind, chat) = match &incoming.chat {
        Chat::Group(id) => ('g', id),
        Chat::Private(id) => ('p', id),
    };
    Incoming {
        platform: incoming.platform,
        account: incoming.account.clone(),
        chat: incoming.chat.clone(),
        sender: String::new(),
        sender_name: None,
        // NUL never occurs in a platform's ids: `g1` + `23` and `g12` + `3` stay apart.
        message_id: format!("{kind}{chat}\0{}", incoming.message_id),
        text: String::new(),
        mentions_bot: false,
        reply_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::Platform;

    fn event(chat: Chat, message_id: &str) -> Incoming {
        Incoming {
            platform: Platform::Onebot,
            account: "1".into(),
            chat,
            sender: "2".into(),
            sender_name: None,
            message_id: message_id.into(),
            text: "老年卡要带什么".into(),
            mentions_bot: true,
            reply_to: None,
        }
    }

    #[test]
    fn dedupe_keys_tell_chats_apart() {
        let key = |chat, id| dedupe_key(&event(chat, id)).message_id;
        let g = |id: &str| Chat::Group(id.into());
        assert_ne!(key(g("900001"), "7"), key(g("900002"), "7"));
        assert_ne!(key(g("1"), "23"), key(g("12"), "3"));
        assert_ne!(key(g("5"), "7"), key(Chat::Private("5".into()), "7"));
        assert_eq!(key(g("900001"), "7"), key(g("900001"), "7"));
    }
}
