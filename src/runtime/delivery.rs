//! The outbox's delivery worker: sends what the event loop stored, paced, in order per chat,
//! retried with backoff, and removes a message from the store only when its platform confirmed
//! it.
//!
//! - **Order.** Each chat has a queue and at most one send in flight, so a reply split in parts
//!   arrives in order and a retry never overtakes the message after it.
//! - **Pacing.** A send takes a token from its chat's bucket and its account's bucket
//!   ([`TokenBucket`]). Chats are served round-robin: a chat that just sent goes to the back.
//! - **Connections.** Nothing is sent for an account that is down. On `Up` every waiting message
//!   of the account is tried at once, retry delays forgotten: that is how replies queued during a
//!   disconnect, or left from before a restart, go out.
//! - **Failures.** A permanent refusal gives the message up (moved to `outbox_failed`). A
//!   retryable one is tried again after a doubling delay, up to `max_attempts`; a send that
//!   failed because the account went down does not count. A send that may have reached the
//!   platform (`maybe_delivered`) is sent again when `resend_uncertain` is set (the default):
//!   a resident may rarely see a reply twice, never none. A platform that asks the bot to slow
//!   down (`RateLimited`) is obeyed: the chat waits that long, and it is not counted as a try.
//! - **Ahead of bulk.** A reply to a chat's first message for a while, or an agents' notice of a
//!   quiet village's ticket, goes ahead of what waits in its chat (never before the send in
//!   flight, and parts keep their order), and chats with such a message are served first. So a
//!   flooding group's backlog never delays another group's answer or a real ticket's notice.
//! - **Under load.** Every send that has finished is taken in before the chats are served again,
//!   so one pass over the chats serves many confirmations. With one pass per confirmation a
//!   backlog made each pass cost all 76 chats, the worker fell behind the round trips, and a
//!   burst of 100 ms became seconds of delay at 5,000 replies a second.
//! - **Confirmed is done.** A confirmed message is taken out of the outbox before anything else;
//!   if the store refuses, the worker remembers it as sent (it is never sent again in this run)
//!   and retries the removal every second and at shutdown, so a restart does not send it again.
//! - **Held for the next message.** A platform that only lets the bot reply to a recent message
//!   (the QQ official bot) answers `AwaitingMessage`: the chat's queue is held, stored, until
//!   someone writes in that chat again; then it goes as the reply to that message.

use super::backlog::{Depths, action_key};
use super::limits::ChatLimits;
use super::metrics::Metrics;
use super::pacing::TokenBucket;
use crate::config::service::{Outbox, Pacing};
use crate::store::Store;
use crate::store::outbox::Queued;
use crate::store::seen::platform_name;
use bangban_contract::{
    Adapter, Chat, ConnectionChange, ConnectionState, Delivered, Outgoing, Platform, SendError,
};
use futures_util::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// What the rest of the runtime tells the worker.
pub(crate) enum Command {
    /// Messages stored and flushed: send them.
    Queued(Vec<ToSend>),
    /// An account came up or went down.
    Connection(ConnectionChange),
    /// Someone wrote in a chat: what was held for the chat's next message may go now.
    Heard(Platform, String, Chat),
    /// Start no more sends; answer when the sends in flight have finished.
    Stop(oneshot::Sender<()>),
}

/// A message stored and flushed, for the worker.
pub(crate) struct ToSend {
    pub(crate) queued: Queued,
    /// It goes ahead of what waits in its chat (see the module's doc).
    pub(crate) ahead: bool,
}

impl ToSend {
    pub(crate) fn bulk(queued: Vec<Queued>) -> Vec<ToSend> {
        queued
            .into_iter()
            .map(|queued| ToSend {
                queued,
                ahead: false,
            })
            .collect()
    }
}

/// How often a failed removal of a confirmed message is tried again.
const REMOVAL_RETRY: Duration = Duration::from_secs(1);

pub(crate) struct Settings {
    pub(crate) pacing: Pacing,
    pub(crate) outbox: Outbox,
    /// The platforms' own per-chat limits, kept even with pacing off.
    pub(crate) limits: ChatLimits,
    /// Each chat's outbox depth, shared with the event loop.
    pub(crate) depths: Arc<Depths>,
}

type AccountKey = (Platform, String);
type ChatKey = (Platform, String, Chat);

struct Account {
    key: AccountKey,
    up: bool,
    bucket: TokenBucket,
    /// The chats of this account, to wake them on `Up`.
    chats: Vec<usize>,
}

struct ChatQueue {
    key: ChatKey,
    account: usize,
    entries: VecDeque<Queued>,
    /// How many entries at the front go ahead of bulk.
    ahead: usize,
    /// How many entries are bulk: they are the last ones (after a head in flight, if any), so a
    /// reply's place is found without a scan of a long queue.
    bulk: usize,
    bucket: TokenBucket,
    /// The platform's own limit on this chat (a WeCom group robot's), if any.
    limit: Option<TokenBucket>,
    /// Whether the head of `entries` is being sent.
    busy: bool,
    /// Whether the chat is in `active`.
    active: bool,
    /// Failed sends of the head entry (not counting sends to a down account).
    attempts: u32,
    /// The head entry waits for its retry until then.
    retry_at: Option<Instant>,
    /// The platform lets the chat's head go only as a reply to the chat's next message.
    held: bool,
}

type SendOutcome = Result<Delivered, SendError>;

impl ChatQueue {
    /// The serving tier: 0 a message that goes ahead, 1 a reply, 2 a broadcast's entry.
    fn tier(&self) -> usize {
        if self.ahead > 0 {
            0
        } else if self.entries.front().is_some_and(|e| e.bulk) {
            2
        } else {
            1
        }
    }
}

pub(crate) struct Worker {
    store: Store,
    adapters: HashMap<Platform, Arc<dyn Adapter>>,
    metrics: Arc<Metrics>,
    settings: Settings,
    account_ids: HashMap<AccountKey, usize>,
    accounts: Vec<Account>,
    chat_ids: HashMap<ChatKey, usize>,
    chats: Vec<ChatQueue>,
    /// Chats with entries, in serving order.
    active: VecDeque<usize>,
    inflight: JoinSet<(usize, SendOutcome)>,
    depth: i64,
    /// Confirmed messages the store could not remove yet, and when to try again.
    unremoved: Vec<Queued>,
    removal_retry: Option<Instant>,
}

impl Worker {
    pub(crate) fn new(
        store: Store,
        adapters: HashMap<Platform, Arc<dyn Adapter>>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Worker {
        Worker {
            store,
            adapters,
            metrics,
            settings,
            account_ids: HashMap::new(),
            accounts: Vec::new(),
            chat_ids: HashMap::new(),
            chats: Vec::new(),
            active: VecDeque::new(),
            inflight: JoinSet::new(),
            depth: 0,
            unremoved: Vec::new(),
            removal_retry: None,
        }
    }

    /// Runs until [`Command::Stop`] (or until every sender of `commands` is gone).
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut stopping: Option<Option<oneshot::Sender<()>>> = None;
        loop {
            let now = Instant::now();
            if self.removal_retry.is_some_and(|at| at <= now) {
                self.retry_removals(now);
            }
            let wake = match stopping {
                None => self.start_ready(now),
                Some(_) => None,
            };
            let wake = [wake, self.removal_retry].into_iter().flatten().min();
            if let Some(reply) = &mut stopping
                && self.inflight.is_empty()
            {
                self.retry_removals(now);
                if let Some(reply) = reply.take() {
                    let _ = reply.send(());
                }
                info!(
                    queued = self.depth,
                    "delivery stopped; what is queued stays stored"
                );
                return;
            }
            tokio::select! {
                command = commands.recv(), if stopping.is_none() => match command {
                    Some(Command::Queued(queued)) => self.push(queued),
                    Some(Command::Connection(change)) => self.on_connection(change),
                    Some(Command::Heard(platform, account, chat)) => self.on_heard(platform, account, chat),
                    Some(Command::Stop(reply)) => stopping = Some(Some(reply)),
                    None => stopping = Some(None),
                },
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    // Every send finished by now, before the chats are served again: under load
                    // one pass over the chats serves many.
                    let now = Instant::now();
                    let mut done = Some(done);
                    while let Some(d) = done.take().or_else(|| self.inflight.try_join_next()) {
                        match d {
                            Ok((chat, outcome)) => self.on_done(chat, outcome, now),
                            Err(e) => error!(error = %e, "a send task failed"),
                        }
                    }
                }
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
        }
    }

    /// Adds stored messages to their chats' queues.
    pub(crate) fn push(&mut self, queued: Vec<ToSend>) {
        let now = Instant::now();
        for ToSend { queued: q, ahead } in queued {
            let key = action_key(&q.action);
            let account = self.account(key.0, &key.1, now);
            let chat = self.chat(account, key, now);
            let queue = &mut self.chats[chat];
            // Never before a head in flight or being retried (its tries are its own).
            let pinned = usize::from(
                queue.busy || queue.held || queue.attempts > 0 || queue.retry_at.is_some(),
            );
            if ahead {
                // After what already goes ahead, in order.
                let at = queue.ahead.max(pinned).min(queue.entries.len());
                queue.bulk += usize::from(q.bulk);
                queue.entries.insert(at, q);
                queue.ahead = at + 1;
            } else if q.bulk {
                queue.entries.push_back(q);
                queue.bulk += 1;
            } else {
                // A reply goes before the chat's bulk entries, after the other replies.
                let pinned_bulk = pinned == 1 && queue.entries.front().is_some_and(|e| e.bulk);
                let at = queue.entries.len() - (queue.bulk - usize::from(pinned_bulk));
                queue.entries.insert(at, q);
            }
            if !queue.active {
                queue.active = true;
                self.active.push_back(chat);
            }
            self.depth += 1;
        }
        self.metrics.set("bangban_outbox_depth", &[], self.depth);
    }

    fn on_connection(&mut self, change: ConnectionChange) {
        let up = change.state == ConnectionState::Up;
        let account = self.account(change.platform, &change.account, Instant::now());
        self.set_up(account, up);
    }

    fn on_heard(&mut self, platform: Platform, account: String, chat: Chat) {
        if let Some(&i) = self.chat_ids.get(&(platform, account, chat)) {
            let queue = &mut self.chats[i];
            queue.held = false;
            queue.retry_at = None;
        }
    }

    fn set_up(&mut self, account: usize, up: bool) {
        let a = &mut self.accounts[account];
        a.up = up;
        if up {
            // Flush on Up: what waited for this account goes now, retry delays forgotten.
            for &chat in &a.chats {
                self.chats[chat].retry_at = None;
            }
        }
        let a = &self.accounts[account];
        self.metrics.set(
            "bangban_connection_up",
            &[("platform", platform_name(a.key.0)), ("account", &a.key.1)],
            i64::from(up),
        );
    }

    /// Starts every send that may go at `now`; when to look again for the ones that must wait.
    fn start_ready(&mut self, now: Instant) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut later = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        let mut waiting = VecDeque::with_capacity(self.active.len());
        let mut served = Vec::new();
        // Chats with a message that goes ahead are served first, then chats whose next message
        // is a reply, then those whose next is a broadcast's (bulk): each tier in turn order.
        let chats = &self.chats;
        let mut tiers: [VecDeque<usize>; 3] = Default::default();
        for c in self.active.drain(..) {
            tiers[chats[c].tier()].push_back(c);
        }
        let [mut first, second, third] = tiers;
        first.extend(second);
        first.extend(third);
        self.active = first;
        while let Some(chat) = self.active.pop_front() {
            let queue = &mut self.chats[chat];
            if queue.entries.is_empty() {
                queue.active = false;
                continue;
            }
            let account = &mut self.accounts[queue.account];
            let blocked = if queue.busy || queue.held || !account.up {
                true
            } else if let Some(at) = queue.retry_at.filter(|at| *at > now) {
                later(at);
                true
            } else {
                let pacing = self.settings.pacing.enabled;
                // A broadcast's entry leaves the account a token for a resident's reply.
                let reserve = u32::from(queue.entries.front().is_some_and(|e| e.bulk));
                let ready = [
                    pacing.then(|| queue.bucket.ready_at()),
                    pacing.then(|| account.bucket.ready_at_keeping(reserve)),
                    queue.limit.as_ref().map(TokenBucket::ready_at),
                ]
                .into_iter()
                .flatten()
                .max();
                match ready {
                    Some(ready) if ready > now => {
                        later(ready);
                        true
                    }
                    _ => {
                        if pacing {
                            queue.bucket.take(now);
                            account.bucket.take(now);
                        }
                        if let Some(limit) = &mut queue.limit {
                            limit.take(now);
                        }
                        false
                    }
                }
            };
            if blocked {
                waiting.push_back(chat);
            } else {
                self.start(chat);
                served.push(chat);
            }
        }
        waiting.extend(served);
        self.active = waiting;
        wake
    }

    fn start(&mut self, chat: usize) {
        let queue = &mut self.chats[chat];
        queue.busy = true;
        queue.retry_at = None;
        let action = queue.entries.front().expect("checked").action.clone();
        let platform = action_platform(&action);
        let adapter = self.adapters.get(&platform).cloned();
        self.inflight.spawn(async move {
            let outcome = match adapter {
                Some(adapter) => AssertUnwindSafe(adapter.send(&action))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(SendError::Retryable {
                            reason: "the adapter panicked while sending".into(),
                            maybe_delivered: true,
                        })
                    }),
                None => Err(SendError::Retryable {
                    reason: format!("{} is not enabled", platform_name(platform)),
                    maybe_delivered: false,
                }),
            };
            (chat, outcome)
        });
    }

    fn on_done(&mut self, chat: usize, outcome: SendOutcome, now: Instant) {
        let queue = &mut self.chats[chat];
        queue.busy = false;
        let head = queue
            .entries
            .front()
            .expect("the head was in flight")
            .clone();
        let platform = action_platform(&head.action);
        let name = platform_name(platform);
        match outcome {
            Ok(delivered) => {
                // Taken out of the outbox before anything else: once confirmed, never again.
                if let Err(e) = self.store.delivered(&head) {
                    if self.unremoved.is_empty() {
                        error!(id = head.id, error = %e,
                            "sent, but could not remove it from the outbox; not sent again, removal retried");
                    }
                    self.unremoved.push(head.clone());
                    self.removal_retry.get_or_insert(now + REMOVAL_RETRY);
                }
                debug!(id = head.id, platform = name, message_id = ?delivered.message_id, "sent");
                self.metrics
                    .inc("bangban_messages_out_total", &[("platform", name)]);
                self.pop(chat);
            }
            Err(SendError::Permanent { reason }) => {
                self.metrics.inc(
                    "bangban_send_failures_total",
                    &[("platform", name), ("kind", "permanent")],
                );
                self.give_up(chat, &reason);
            }
            Err(SendError::RateLimited {
                reason,
                retry_after,
            }) => {
                self.metrics.inc(
                    "bangban_send_failures_total",
                    &[("platform", name), ("kind", "rate_limited")],
                );
                let wait = retry_after.max(Duration::from_secs(1));
                self.chats[chat].retry_at = Some(now + wait);
                warn!(id = head.id, platform = name, %reason, retry_in = ?wait,
                    "the platform asked to slow down; will retry");
            }
            Err(SendError::AwaitingMessage { reason }) => {
                self.metrics.inc(
                    "bangban_send_failures_total",
                    &[("platform", name), ("kind", "held")],
                );
                self.chats[chat].held = true;
                info!(id = head.id, platform = name, %reason,
                    "held until someone writes in the chat again");
            }
            Err(SendError::Retryable {
                reason,
                maybe_delivered,
            }) => {
                self.metrics.inc(
                    "bangban_send_failures_total",
                    &[("platform", name), ("kind", "retryable")],
                );
                let account = self.chats[chat].account;
                let account_name = action_account(&head.action).to_owned();
                let connected = self
                    .adapters
                    .get(&platform)
                    .is_some_and(|a| a.connected_accounts().contains(&account_name));
                if maybe_delivered && !self.settings.outbox.resend_uncertain {
                    self.give_up(
                        chat,
                        &format!("{reason}; may have been delivered, not sent again"),
                    );
                } else if !connected {
                    // Waits for the account's next Up; does not count as an attempt.
                    info!(id = head.id, platform = name, account = %account_name, %reason,
                        "account not connected: the message waits for it");
                    if self.accounts[account].up {
                        self.set_up(account, false);
                    }
                } else {
                    self.chats[chat].attempts += 1;
                    let attempts = self.chats[chat].attempts;
                    if attempts >= self.settings.outbox.max_attempts {
                        self.give_up(chat, &format!("{attempts} tries failed, last: {reason}"));
                    } else {
                        let delay = self.backoff(attempts);
                        self.chats[chat].retry_at = Some(now + delay);
                        warn!(id = head.id, platform = name, %reason, maybe_delivered,
                            attempt = attempts, retry_in = ?delay, "send failed; will retry");
                    }
                }
            }
        }
        self.metrics.set("bangban_outbox_depth", &[], self.depth);
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let o = &self.settings.outbox;
        let initial = Duration::from_secs(o.retry_initial_secs);
        initial
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
            .min(Duration::from_secs(o.retry_max_secs))
    }

    fn give_up(&mut self, chat: usize, reason: &str) {
        let head = self.chats[chat].entries.front().expect("checked").clone();
        let name = platform_name(action_platform(&head.action));
        error!(id = head.id, platform = name, %reason, "message given up (kept in outbox_failed)");
        self.metrics
            .inc("bangban_outbox_gave_up_total", &[("platform", name)]);
        if let Err(e) = self.store.give_up(head.id, reason) {
            error!(id = head.id, error = %e, "could not move the message to outbox_failed");
        }
        self.pop(chat);
    }

    /// Removes the confirmed messages the store refused to remove before.
    fn retry_removals(&mut self, now: Instant) {
        if self.unremoved.is_empty() {
            self.removal_retry = None;
            return;
        }
        let before = self.unremoved.len();
        let store = &self.store;
        self.unremoved.retain(|q| store.delivered(q).is_err());
        if self.unremoved.is_empty() {
            info!(
                count = before,
                "confirmed messages removed from the outbox after all"
            );
            self.removal_retry = None;
        } else {
            self.removal_retry = Some(now + REMOVAL_RETRY);
        }
    }

    fn pop(&mut self, chat: usize) {
        let queue = &mut self.chats[chat];
        queue.ahead = queue.ahead.saturating_sub(1);
        self.settings.depths.remove(&queue.key);
        if queue.entries.pop_front().is_some_and(|e| e.bulk) {
            queue.bulk -= 1;
        }
        queue.attempts = 0;
        queue.retry_at = None;
        self.depth -= 1;
    }

    fn account(&mut self, platform: Platform, account: &str, now: Instant) -> usize {
        let key = (platform, account.to_owned());
        if let Some(&i) = self.account_ids.get(&key) {
            return i;
        }
        let i = self.accounts.len();
        self.accounts.push(Account {
            key: key.clone(),
            up: false,
            bucket: TokenBucket::new(self.settings.pacing.account, now),
            chats: Vec::new(),
        });
        self.account_ids.insert(key, i);
        i
    }

    fn chat(&mut self, account: usize, key: ChatKey, now: Instant) -> usize {
        if let Some(&i) = self.chat_ids.get(&key) {
            return i;
        }
        let i = self.chats.len();
        let limit = self.settings.limits.bucket(key.0, &key.2);
        self.chats.push(ChatQueue {
            key: key.clone(),
            account,
            entries: VecDeque::new(),
            ahead: 0,
            bulk: 0,
            bucket: TokenBucket::new(self.settings.pacing.group, now),
            limit: limit.map(|b| TokenBucket::new(b, now)),
            busy: false,
            active: false,
            attempts: 0,
            retry_at: None,
            held: false,
        });
        self.accounts[account].chats.push(i);
        self.chat_ids.insert(key, i);
        i
    }
}

fn action_platform(action: &Outgoing) -> Platform {
    let Outgoing::SendText { platform, .. } = action;
    *platform
}

fn action_account(action: &Outgoing) -> &str {
    let Outgoing::SendText { account, .. } = action;
    account
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::service::Bucket;
    use bangban_contract::{AdapterError, BoxFuture, ConnectionState, EventSink};

    /// Confirms every send at once and reports it (text, time) to the test.
    struct Recorder(mpsc::UnboundedSender<(String, Instant)>);

    impl Adapter for Recorder {
        fn platform(&self) -> Platform {
            Platform::Onebot
        }
        fn run(
            self: Arc<Self>,
            _sink: Arc<dyn EventSink>,
        ) -> BoxFuture<'static, Result<(), AdapterError>> {
            Box::pin(std::future::pending())
        }
        fn send<'a>(&'a self, action: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, SendError>> {
            let Outgoing::SendText { text, .. } = action;
            let _ = self.0.send((text.clone(), Instant::now()));
            Box::pin(std::future::ready(Ok(Delivered::default())))
        }
        fn connected_accounts(&self) -> Vec<String> {
            vec!["1".into()]
        }
    }

    fn entry(id: u64, group: u32, text: &str, bulk: bool) -> ToSend {
        ToSend {
            queued: Queued {
                id,
                action: Outgoing::SendText {
                    platform: Platform::Onebot,
                    account: "1".into(),
                    chat: Chat::Group(format!("9000{group:02}")),
                    text: text.into(),
                    quote: None,
                    mention: None,
                },
                bulk,
            },
            ahead: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_goes_before_the_broadcast_entries_waiting_for_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (sent_tx, mut sent) = mpsc::unbounded_channel();
        let adapter: Arc<dyn Adapter> = Arc::new(Recorder(sent_tx));
        let pacing = Pacing {
            enabled: true,
            account: Bucket {
                burst: 3,
                per_minute: 60.0,
            },
            ..Pacing::default()
        };
        let worker = Worker::new(
            store,
            HashMap::from([(Platform::Onebot, adapter)]),
            Arc::new(Metrics::default()),
            Settings {
                pacing: pacing.clone(),
                outbox: Outbox::default(),
                limits: ChatLimits::default(),
                depths: Arc::default(),
            },
        );
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(worker.run(rx));
        commands
            .send(Command::Connection(ConnectionChange {
                platform: Platform::Onebot,
                account: "1".into(),
                state: ConnectionState::Up,
            }))
            .unwrap();
        // A broadcast to ten groups.
        let bulk = (0..10)
            .map(|g| entry(u64::from(g), g, "通知", true))
            .collect();
        commands.send(Command::Queued(bulk)).unwrap();
        let t0 = Instant::now();
        // The broadcast takes the account's burst but one token…
        for _ in 0..2 {
            assert_eq!(sent.recv().await.unwrap().0, "通知");
        }
        // …so a resident's reply in group 7 (whose notice still waits) goes at once.
        commands
            .send(Command::Queued(vec![entry(100, 7, "答复", false)]))
            .unwrap();
        let (text, at) = sent.recv().await.unwrap();
        assert_eq!(text, "答复", "the reply went before the waiting notices");
        assert_eq!(at, t0, "at once");
        // The rest of the broadcast, at the account's pace.
        let mut times = Vec::new();
        for _ in 0..8 {
            let (text, at) = sent.recv().await.unwrap();
            assert_eq!(text, "通知");
            times.push(at);
        }
        let interval = pacing.account.interval();
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= interval, "{times:?}");
        }
        task.abort();
    }
}
