//! The event loop: reads what the adapters report, drops what was already handled, asks the
//! engine, and hands the replies to the committer, which stores them and marks the event seen
//! before the delivery worker may send them.
//!
//! Events are taken in batches: every event of a batch is handled and stored, then the batch's
//! replies go to the committer (`commit.rs`), which hands them to the worker once a flush has
//! made them durable, while the loop reads the next batches. Under load this is group commit
//! (one disk sync for many batches); when quiet, a batch is one event.
//!
//! Before the engine reads a message it passes [`Admission`]: the input limits (`flood.rs`) and
//! the chat's outbox bound; the engine's replies then pass the notice policy (`backlog.rs`).

use super::backlog::{Depths, Notice, Notices, action_key};
use super::commit::{Accept, Committer};
use super::delivery::{Command, ToSend};
use super::flood::{self, ChatKey, InputLimits, Verdict};
use super::limits::ChatLimits;
use super::metrics::Metrics;
use super::posts::Post;
use super::release::Accounts;
use super::split::split_action;
use crate::config::Config;
use crate::engine::Engine;
use crate::store::Store;
use crate::store::outbox::Queued;
use crate::store::seen::platform_name;
use bangban_contract::{Chat, Event, Incoming, Outgoing};
use futures_util::FutureExt;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

/// The most events handled in one batch (one hand-over to the committer).
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
    pub(crate) admission: Admission,
    pub(crate) accounts: Mutex<Accounts>,
    pub(crate) committer: Committer,
}

/// What a message and the engine's replies must pass before they are stored.
pub(crate) struct Admission {
    config: Arc<Config>,
    depths: Arc<Depths>,
    state: Mutex<AdmissionState>,
}

struct AdmissionState {
    inputs: InputLimits,
    notices: Notices,
    /// Chats whose full outbox was logged, until it has room again.
    full: HashSet<ChatKey>,
}

/// Whether the engine reads a message.
enum Entry {
    /// Read it; its replies go ahead of bulk when `first`.
    Read { first: bool, agents: bool },
    /// Dropped unread (counted under `scope`); `tell`: answer it with `limits.too_fast`.
    Dropped { scope: &'static str, tell: bool },
}

impl Admission {
    pub(crate) fn new(config: Arc<Config>, depths: Arc<Depths>) -> Admission {
        let service = &config.service;
        let state = AdmissionState {
            inputs: InputLimits::new(&config),
            notices: Notices::new(&service.limits, service.outbox.max_per_chat),
            full: HashSet::new(),
        };
        Admission {
            depths,
            state: Mutex::new(state),
            config,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AdmissionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry(&self, m: &Incoming, now: Instant) -> Entry {
        if flood::from_agents(&self.config, m) {
            return Entry::Read {
                first: true,
                agents: true,
            };
        }
        let chat = flood::chat_key(m);
        let mut state = self.lock();
        if self.config.service.limits.enabled
            && self.depths.get(&chat) >= self.config.service.outbox.max_per_chat
        {
            if state.full.insert(chat) {
                warn!(platform = platform_name(m.platform), chat = %chat_label(&m.chat),
                    "the chat's outbox is full: its messages are dropped unread until it has room");
            }
            return Entry::Dropped {
                scope: "backlog",
                tell: false,
            };
        }
        state.full.remove(&chat);
        match state.inputs.check(m, now) {
            Verdict::Admit { first } => Entry::Read {
                first,
                agents: false,
            },
            Verdict::Over { scope, tell, log } => {
                if log {
                    warn!(platform = platform_name(m.platform), chat = %chat_label(&m.chat), scope,
                        "over the input limit: its messages are dropped until the limit lets them in");
                }
                Entry::Dropped { scope, tell }
            }
        }
    }

    /// The replies to keep, each with whether it goes ahead of bulk; agents' notices over the
    /// policy are counted for their summary instead (`summed`).
    fn outgoing(
        &self,
        actions: Vec<Outgoing>,
        source: Option<&ChatKey>,
        entry: (bool, bool),
        now: Instant,
        summed: &mut usize,
    ) -> Vec<(Outgoing, bool)> {
        let (first, agents) = entry;
        let mut state = self.lock();
        let mut kept = Vec::with_capacity(actions.len());
        // What this call keeps per chat, not yet counted in `depths`.
        let mut adding: HashMap<ChatKey, usize> = HashMap::new();
        for action in actions {
            let to = action_key(&action);
            let ahead =
                if agents || source == Some(&to) || !flood::to_agents(&self.config, to.0, &to.2) {
                    agents || first
                } else {
                    let waiting = self.depths.get(&to) + adding.get(&to).copied().unwrap_or(0);
                    match state.notices.admit(&action, source, waiting, now) {
                        Notice::Send { first } => first,
                        Notice::Summed => {
                            *summed += 1;
                            continue;
                        }
                    }
                };
            *adding.entry(to).or_insert(0) += 1;
            kept.push((action, ahead));
        }
        kept
    }

    fn next_summary(&self) -> Option<Instant> {
        self.lock().notices.next_due()
    }

    fn summaries(&self, now: Instant) -> Vec<Outgoing> {
        self.lock()
            .notices
            .due(now)
            .into_iter()
            .map(|(summary, _)| summary)
            .collect()
    }
}

/// The chat as logs name it: a group's id, never a resident's.
fn chat_label(chat: &Chat) -> String {
    match chat {
        Chat::Group(id) => format!("group {id}"),
        Chat::Private(_) => "private".to_owned(),
    }
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
        mut posts: mpsc::UnboundedReceiver<Post>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_prune: Option<Instant> = None;
        let mut pruning: Option<tokio::task::JoinHandle<()>> = None;
        // Whether an adapter may still report: false once every sender is gone.
        let mut open = true;
        loop {
            let summary_due = self.admission.next_summary();
            tokio::select! {
                n = events.recv_many(&mut batch, BATCH), if open => {
                    if n == 0 {
                        debug!("no adapter reports events; the clock work goes on");
                        open = false;
                        continue;
                    }
                    self.handle_batch(&mut batch).await;
                }
                Some(post) = posts.recv() => match post {
                    Post::Actions(actions, done) => {
                        let _ = done.send(self.store_and_send(actions, (true, true)).await);
                    }
                    Post::Broadcasts => self.release_broadcasts().await,
                },
                _ = ticks.tick() => {
                    self.tick().await;
                    self.release_broadcasts().await;
                    let idle = pruning.as_ref().is_none_or(|p| p.is_finished());
                    if idle && last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                        last_prune = Some(Instant::now());
                        pruning = Some(self.prune());
                    }
                }
                () = tokio::time::sleep_until(summary_due.unwrap_or_else(Instant::now)), if summary_due.is_some() => {
                    self.summaries().await;
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
        self.committer.close().await;
        self.engine.persist_all_context();
        self.store.settle_questions();
        if let Err(e) = self.store.flush().await {
            error!(error = %e, "could not flush the data directory at shutdown");
        }
        info!("event loop stopped");
    }

    async fn handle_batch(&self, batch: &mut Vec<Event>) {
        let mut replies = Vec::new();
        let mut keys = HashSet::new();
        let mut came_up = false;
        for event in batch.drain(..) {
            match event {
                Event::Message(incoming) => {
                    self.accounts().heard(&incoming);
                    let _ = self.commands.send(Command::Heard(
                        incoming.platform,
                        incoming.account.clone(),
                        incoming.chat.clone(),
                    ));
                    if let Some(reply) = self.handle_message(&incoming, &mut keys).await {
                        replies.push(reply);
                    }
                }
                Event::Connection(change) => {
                    self.accounts().connection(&change);
                    came_up |= change.state == bangban_contract::ConnectionState::Up;
                    let _ = self.commands.send(Command::Connection(change));
                }
            }
        }
        // Stored, with the dialogue contexts the batch changed, in the committer's next round.
        self.committer.accept(replies);
        if came_up {
            // A broadcast may have waited for an account of this platform.
            self.release_broadcasts().await;
        }
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases the broadcasts due now to the outbox and hands their entries to the worker.
    async fn release_broadcasts(&self) {
        let now_ms = crate::store::seen::now_ms(SystemTime::now());
        let service = &self.engine.config().service;
        let queued = self
            .accounts()
            .release_due(&self.store, service, now_ms, |a| {
                let Outgoing::SendText {
                    platform,
                    account,
                    chat,
                    ..
                } = &a;
                let max_chars = self
                    .limits
                    .max_chars(*platform, account, chat, self.max_chars);
                split_action(a, max_chars)
            });
        if queued.is_empty() {
            return;
        }
        let ahead = vec![false; queued.len()];
        let queued = self.to_send(queued, ahead);
        self.commit(queued);
    }

    /// Handles one message; its replies, to be stored with the batch. `keys`: the dedupe keys
    /// of the batch so far, so a repeat within the batch is not handled twice.
    async fn handle_message(
        &self,
        incoming: &Incoming,
        keys: &mut HashSet<String>,
    ) -> Option<Accept> {
        let platform = platform_name(incoming.platform);
        self.metrics
            .inc("bangban_messages_in_total", &[("platform", platform)]);
        // Never the text: residents post ID-card and phone numbers.
        let chat = chat_label(&incoming.chat);
        let key = dedupe_key(incoming);
        match self.store.is_seen(&key) {
            Ok(false) if keys.insert(key.message_id.clone()) => {}
            Ok(_) => {
                self.duplicate(incoming, platform);
                return None;
            }
            Err(e) => {
                error!(platform, account = %incoming.account, message_id = %incoming.message_id,
                    error = %e, "could not check whether the message was seen; skipped");
                return None;
            }
        }
        let now = Instant::now();
        let (first, agents) = match self.admission.entry(incoming, now) {
            Entry::Read { first, agents } => (first, agents),
            Entry::Dropped { scope, tell } => {
                self.metrics.inc(
                    "bangban_messages_limited_total",
                    &[("platform", platform), ("scope", scope)],
                );
                return if tell {
                    self.too_fast(incoming, key)
                } else {
                    None
                };
            }
        };
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
        let mut summed = 0;
        let source = flood::chat_key(incoming);
        let kept =
            self.admission
                .outgoing(actions, Some(&source), (first, agents), now, &mut summed);
        self.summed(incoming.platform, summed);
        let (parts, ahead) = self.split(kept);
        Some(self.counted(Accept { key, parts, ahead }))
    }

    fn duplicate(&self, incoming: &Incoming, platform: &'static str) {
        self.metrics.inc(
            "bangban_messages_duplicate_total",
            &[("platform", platform)],
        );
        debug!(platform, account = %incoming.account, message_id = %incoming.message_id,
            "message seen before; not handled again");
    }

    /// Answers a message over the input limit with `limits.too_fast`, once (it is marked seen).
    fn too_fast(&self, incoming: &Incoming, key: Incoming) -> Option<Accept> {
        let notice = Outgoing::SendText {
            platform: incoming.platform,
            account: incoming.account.clone(),
            chat: incoming.chat.clone(),
            text: self.admission.config.service.limits.too_fast.clone(),
            quote: Some(incoming.message_id.clone()),
            mention: matches!(incoming.chat, Chat::Group(_)).then(|| incoming.sender.clone()),
        };
        Some(self.counted(Accept {
            key,
            parts: vec![notice],
            ahead: vec![false],
        }))
    }

    /// A message's replies count in their chats' depths from the moment they are decided, so
    /// the next message of the same batch already sees them.
    fn counted(&self, accept: Accept) -> Accept {
        for part in &accept.parts {
            self.admission.depths.add(action_key(part), 1);
        }
        accept
    }

    fn summed(&self, platform: bangban_contract::Platform, n: usize) {
        if n > 0 {
            self.metrics.add(
                "bangban_notices_summarized_total",
                &[("platform", platform_name(platform))],
                n as i64,
            );
        }
    }

    /// The stored messages for the worker, counted in their chats' depths.
    fn to_send(&self, queued: Vec<Queued>, ahead: Vec<bool>) -> Vec<ToSend> {
        queued
            .into_iter()
            .zip(ahead)
            .map(|(queued, ahead)| {
                self.admission.depths.add(action_key(&queued.action), 1);
                ToSend { queued, ahead }
            })
            .collect()
    }

    /// The messages to store, split to their chats' lengths, and whether each goes ahead.
    fn split(&self, actions: Vec<(Outgoing, bool)>) -> (Vec<Outgoing>, Vec<bool>) {
        actions
            .into_iter()
            .flat_map(|(a, ahead)| {
                let Outgoing::SendText {
                    platform,
                    account,
                    chat,
                    ..
                } = &a;
                let max_chars = self
                    .limits
                    .max_chars(*platform, account, chat, self.max_chars);
                split_action(a, max_chars)
                    .into_iter()
                    .map(move |p| (p, ahead))
            })
            .unzip()
    }

    /// Hands `queued` (written to the store) to the committer: the worker gets it once it is
    /// flushed, while the loop goes on (see [`super::commit`]).
    fn commit(&self, queued: Vec<ToSend>) {
        if queued.is_empty() {
            return;
        }
        self.committer.commit(queued);
    }

    /// Stores and hands over the agents' summaries that are due.
    async fn summaries(&self) {
        let summaries = self.admission.summaries(Instant::now());
        if summaries.is_empty() {
            return;
        }
        let count = summaries.len();
        let (parts, ahead) = self.split(summaries.into_iter().map(|s| (s, false)).collect());
        match self.store.enqueue(&parts) {
            Ok(queued) => {
                info!(count, "agents' notices summed up");
                let queued = self.to_send(queued, ahead);
                self.commit(queued);
            }
            Err(e) => error!(error = %e, "could not store the summary of agents' notices"),
        }
    }

    async fn tick(&self) {
        let work = async {
            let now = SystemTime::now();
            let mut out = self.engine.tick(now).await?;
            out.extend(self.engine.digests(now).await?);
            anyhow::Ok(out)
        };
        let outcome = AssertUnwindSafe(work).catch_unwind().await;
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
        self.store_and_send(actions, (false, false)).await;
    }

    /// Stores messages decided outside a chat (the clock work's, the desk's) through the notice
    /// policy as a message's replies would be (`entry` as in [`Admission::outgoing`]), and hands
    /// them to the worker; whether they are durable.
    async fn store_and_send(&self, actions: Vec<Outgoing>, entry: (bool, bool)) -> bool {
        if actions.is_empty() {
            return true;
        }
        let mut summed = 0;
        let kept = self
            .admission
            .outgoing(actions, None, entry, Instant::now(), &mut summed);
        if summed > 0 {
            self.metrics.add(
                "bangban_notices_summarized_total",
                &[("platform", "all")],
                summed as i64,
            );
        }
        let (parts, ahead) = self.split(kept);
        match self.store.enqueue(&parts) {
            Ok(queued) => {
                let queued = self.to_send(queued, ahead);
                self.committer.commit_and_wait(queued).await
            }
            Err(e) => {
                error!(error = %e, "could not store messages decided outside a chat");
                false
            }
        }
    }

    /// Forgets the message ids older than [`SEEN_KEPT`], on a blocking thread: it scans the
    /// whole dedupe store (millions of ids after days of a busy district), which on the loop
    /// held every answer for as long.
    fn prune(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(
            move || match store.prune_seen(SystemTime::now() - SEEN_KEPT) {
                Ok(0) => {}
                Ok(n) => info!(pruned = n, "forgot old message ids"),
                Err(e) => warn!(error = %e, "could not prune old message ids"),
            },
        )
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
