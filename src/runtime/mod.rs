//! The runtime: what turns the platform-blind engine into a running service.
//!
//! ```text
//!  adapters ──Event──▶ event loop ──▶ engine.handle ──▶ committer (seen + outbox, own thread)
//!     ▲                    │                                   │ flush
//!     │                    └──Connection──┐                    ▼
//!     └────── adapter.send ◀── delivery worker (pacing, order per chat, retries) ◀──┘
//!                                  │ confirmed: removed from the outbox
//! ```
//!
//! **Architecture invariants**
//! - **Stored before sent.** No message reaches a platform before it is in the outbox on disk;
//!   it leaves the outbox only when the platform confirmed it or it was given up (and recorded).
//! - **Events are drained apart from sends.** The event loop never waits for a send; the worker
//!   never waits for an event. (Adapters read send confirmations on the same connections they
//!   read events from.)
//! - **The runtime knows no platform JSON and no business rule.** It sees the contract's types;
//!   deciding what to say is the engine's.
//! - **Message text is never logged**: residents post ID-card and phone numbers.
//!
//! The console reaches the outbox through a [`Poster`]: its messages and the release of due
//! broadcasts go through the event loop, the way the clock work's messages do.
//!
//! The event loop runs until shutdown whether or not any adapter runs (the clock work — the
//! ladder, dialogue expiry, forgetting old message ids — needs no platform). An adapter that refuses its
//! configuration fails [`Runtime::start`]; one that stops on its own later is reported by
//! [`Runtime::failed`], and the service then stops rather than look healthy while serving nobody.

mod backlog;
mod commit;
mod delivery;
mod events;
mod flood;
mod limits;
pub mod metrics;
pub mod pacing;
mod posts;
mod release;
pub mod split;

pub use posts::{PostError, Poster};

use crate::config::Config;
use crate::engine::Engine;
use crate::store::seen::platform_name;
use crate::store::{Store, StoreError};
use bangban_contract::{Adapter, AdapterError, BoxFuture, Event, EventSink, Outgoing, Platform};
use delivery::{Command, Settings, ToSend, Worker};
use events::EventLoop;
use futures_util::FutureExt;
use metrics::Metrics;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// How many events may wait for the event loop before adapters are slowed down.
const EVENT_QUEUE: usize = 4096;

/// An enabled adapter stopped on its own: it cannot work with its configuration (the only
/// reason [`Adapter::run`] may fail), or it panicked. The service cannot do its job without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {platform} adapter stopped: {reason}")]
pub struct AdapterFailed {
    pub platform: &'static str,
    /// What the adapter said (never a secret), or that it panicked.
    pub reason: String,
    /// `true` when the adapter refused its configuration: starting again will not help until
    /// the configuration is changed. `false` when it panicked.
    pub refused_config: bool,
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Adapter(#[from] AdapterFailed),
}

/// The running event loop, delivery worker and adapters.
pub struct Runtime {
    metrics: Arc<Metrics>,
    store: Store,
    commands: mpsc::UnboundedSender<Command>,
    posts: mpsc::UnboundedSender<posts::Post>,
    worker: JoinHandle<()>,
    stop_events: oneshot::Sender<()>,
    event_loop: JoinHandle<()>,
    adapters: Vec<JoinHandle<()>>,
    /// Counts the dedupe store for `bangban_seen_entries`.
    seen_counter: JoinHandle<()>,
    /// Adapters that stopped on their own.
    failed: mpsc::UnboundedReceiver<AdapterFailed>,
    /// The longest a send may take (the adapters' action timeout), for shutdown.
    send_timeout: Duration,
}

impl Runtime {
    /// Loads the outbox left from the last run, starts every adapter (whose routes accept
    /// connections from this call on), the delivery worker and the event loop.
    ///
    /// An adapter that refuses its configuration when it is started (a malformed URL, an access
    /// token that cannot be sent) fails the start, before anything else runs. One that stops on
    /// its own later is reported by [`Runtime::failed`].
    pub fn start(
        config: Arc<Config>,
        store: Store,
        engine: Arc<Engine>,
        adapters: Vec<Arc<dyn Adapter>>,
    ) -> Result<Runtime, StartError> {
        let service = &config.service;
        let metrics = Arc::new(Metrics::default());
        let by_platform: HashMap<_, _> =
            adapters.iter().map(|a| (a.platform(), a.clone())).collect();

        let left = store.queued()?;

        let (sink, events) = mpsc::channel::<Event>(EVENT_QUEUE);
        let sink: Arc<dyn EventSink> = Arc::new(sink);
        let mut runs: Vec<(&'static str, BoxFuture<'static, Result<(), AdapterError>>)> =
            Vec::with_capacity(adapters.len());
        for adapter in adapters {
            let platform = platform_name(adapter.platform());
            let mut run = adapter.run(sink.clone());
            // Adapters check their configuration when `run` is called: a refusal is a future
            // that is ready at once. (Dropping the futures already made stops those adapters.)
            match (&mut run).now_or_never() {
                None => runs.push((platform, run)),
                Some(Ok(())) => info!(platform, "adapter stopped"),
                Some(Err(AdapterError { reason })) => {
                    return Err(AdapterFailed {
                        platform,
                        reason,
                        refused_config: true,
                    }
                    .into());
                }
            }
        }
        drop(sink);

        report_left(&left, &by_platform);
        for (platform, account) in known_accounts(&config, &left) {
            if by_platform.contains_key(&platform) {
                expect_account(&metrics, platform, &account);
            }
        }
        let depths = Arc::new(backlog::Depths::default());
        for q in &left {
            depths.add(backlog::action_key(&q.action), 1);
        }
        let mut worker = Worker::new(
            store.clone(),
            by_platform,
            metrics.clone(),
            Settings {
                pacing: service.pacing.clone(),
                outbox: service.outbox.clone(),
                limits: limits::ChatLimits::new(service),
                depths: depths.clone(),
            },
        );
        worker.push(ToSend::bulk(left));
        let (commands, command_rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(worker.run(command_rx));

        let (stop_events, stop_rx) = oneshot::channel();
        let event_loop = EventLoop {
            store: store.clone(),
            engine: engine.clone(),
            metrics: metrics.clone(),
            commands: commands.clone(),
            max_chars: service.outbox.max_chars,
            limits: limits::ChatLimits::new(service),
            admission: events::Admission::new(config.clone(), depths.clone()),
            accounts: Default::default(),
            committer: commit::Committer::spawn(
                store.clone(),
                commands.clone(),
                depths,
                metrics.clone(),
                {
                    let engine = engine.clone();
                    Box::new(move || engine.persist_context())
                },
            ),
        };
        let (posts, posts_rx) = mpsc::unbounded_channel();
        let event_loop = tokio::spawn(event_loop.run(events, posts_rx, stop_rx));
        let seen_counter = tokio::spawn(metrics::count_seen_every(metrics.clone(), store.clone()));

        let (failed_tx, failed) = mpsc::unbounded_channel();
        let adapters = runs
            .into_iter()
            .map(|(platform, run)| {
                let failed_tx = failed_tx.clone();
                tokio::spawn(async move {
                    let failure = match AssertUnwindSafe(run).catch_unwind().await {
                        Ok(Ok(())) => {
                            info!(platform, "adapter stopped");
                            return;
                        }
                        Ok(Err(AdapterError { reason })) => AdapterFailed {
                            platform,
                            reason,
                            refused_config: true,
                        },
                        Err(_) => AdapterFailed {
                            platform,
                            reason: "the adapter panicked".into(),
                            refused_config: false,
                        },
                    };
                    error!(platform, reason = %failure.reason, "adapter stopped on its own");
                    let _ = failed_tx.send(failure);
                })
            })
            .collect();

        Ok(Runtime {
            metrics,
            store,
            commands,
            posts,
            worker,
            stop_events,
            event_loop,
            adapters,
            seen_counter,
            failed,
            send_timeout: Duration::from_secs(service.onebot.action_timeout_secs),
        })
    }

    /// A handle the console stores and sends through (see [`Poster`]).
    pub fn poster(&self) -> Poster {
        Poster(self.posts.clone())
    }

    /// The counters and gauges `/metrics` shows.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Shows `bangban_connection_up` at 0 for `account` on `platform` until it connects: for a
    /// bot account the caller knows of that [`Runtime::start`] could not (one named only by a
    /// secret). An account already reported keeps its value.
    pub fn expect_account(&self, platform: Platform, account: &str) {
        expect_account(&self.metrics, platform, account);
    }

    /// Resolves when an adapter stopped on its own (see [`AdapterFailed`]); never while they
    /// all run. The caller should then shut down: the platform is no longer served.
    pub async fn failed(&mut self) -> AdapterFailed {
        match self.failed.recv().await {
            Some(failure) => failure,
            None => std::future::pending().await,
        }
    }

    /// Stops in an order that leaves nothing unsent unrecorded: no new sends, and the sends in
    /// flight are waited for (their confirmations still arrive); then no new events, and those
    /// already received are handled and stored; then the adapters close their connections and
    /// everything is flushed. What was not sent stays in the outbox for the next start.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Stop(done)).is_ok()
            && tokio::time::timeout(self.send_timeout + Duration::from_secs(5), wait)
                .await
                .is_err()
        {
            warn!(
                "sends still in flight at shutdown; they stay in the outbox and go again next start"
            );
        }
        self.seen_counter.abort();
        let _ = self.stop_events.send(());
        let _ = self.event_loop.await;
        for adapter in self.adapters {
            adapter.abort();
            let _ = adapter.await;
        }
        self.worker.abort();
        let _ = self.worker.await;
        match self.store.flush().await {
            Ok(()) => info!(
                queued = self.store.queued_len().unwrap_or(0),
                "stopped; the data directory is flushed"
            ),
            Err(e) => error!(error = %e, "could not flush the data directory at shutdown"),
        }
    }
}

/// The bot accounts known before any connects: those named in the configuration (an agents'
/// chat's `account`, the QQ bot's `app_id`) and those the last run left messages for.
fn known_accounts(
    config: &Config,
    left: &[crate::store::outbox::Queued],
) -> HashSet<(Platform, String)> {
    let mut known = HashSet::new();
    for chat in &config.org.agents_chats {
        if let Some(account) = &chat.account {
            known.insert((chat.platform, account.0.clone()));
        }
    }
    let qqbot = &config.service.qqbot;
    if qqbot.enabled && !qqbot.app_id.is_empty() {
        known.insert((Platform::Qqbot, qqbot.app_id.clone()));
    }
    for q in left {
        let Outgoing::SendText {
            platform, account, ..
        } = &q.action;
        known.insert((*platform, account.clone()));
    }
    known
}

/// `bangban_connection_up` at 0 for an account not reported yet.
fn expect_account(metrics: &Metrics, platform: Platform, account: &str) {
    metrics.init(
        "bangban_connection_up",
        &[("platform", platform_name(platform)), ("account", account)],
        0,
    );
}

/// Logs what the last run left in the outbox.
fn report_left(
    left: &[crate::store::outbox::Queued],
    adapters: &HashMap<bangban_contract::Platform, Arc<dyn Adapter>>,
) {
    if left.is_empty() {
        return;
    }
    let mut per_platform: BTreeMap<&str, usize> = BTreeMap::new();
    for q in left {
        let Outgoing::SendText { platform, .. } = &q.action;
        *per_platform.entry(platform_name(*platform)).or_default() += 1;
    }
    for (platform, count) in per_platform {
        let enabled = adapters.keys().any(|p| platform_name(*p) == platform);
        if enabled {
            info!(
                platform,
                count, "messages left from the last run: sent when their account connects"
            );
        } else {
            warn!(
                platform,
                count, "messages left for a platform that is not enabled: kept until it is"
            );
        }
    }
}
