//! The runtime: what turns the platform-blind engine into a running service.
//!
//! ```text
//!  adapters ──Event──▶ event loop ──▶ engine.handle ──▶ store (seen + outbox, one transaction)
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

mod delivery;
mod events;
pub mod metrics;
pub mod pacing;
pub mod split;

use crate::config::Config;
use crate::engine::Engine;
use crate::store::seen::platform_name;
use crate::store::{Store, StoreError};
use bangban_contract::{Adapter, AdapterError, Event, EventSink, Outgoing};
use delivery::{Command, Settings, Worker};
use events::EventLoop;
use metrics::Metrics;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// How many events may wait for the event loop before adapters are slowed down.
const EVENT_QUEUE: usize = 4096;

/// The running event loop, delivery worker and adapters.
pub struct Runtime {
    metrics: Arc<Metrics>,
    store: Store,
    commands: mpsc::UnboundedSender<Command>,
    worker: JoinHandle<()>,
    stop_events: oneshot::Sender<()>,
    event_loop: JoinHandle<()>,
    adapters: Vec<JoinHandle<()>>,
    /// The longest a send may take (the adapters' action timeout), for shutdown.
    send_timeout: Duration,
}

impl Runtime {
    /// Loads the outbox left from the last run, starts the delivery worker and the event loop,
    /// and starts every adapter (whose routes accept connections from this call on).
    pub fn start(
        config: Arc<Config>,
        store: Store,
        engine: Arc<Engine>,
        adapters: Vec<Arc<dyn Adapter>>,
    ) -> Result<Runtime, StoreError> {
        let service = &config.service;
        let metrics = Arc::new(Metrics::default());
        let by_platform: HashMap<_, _> =
            adapters.iter().map(|a| (a.platform(), a.clone())).collect();

        let left = store.queued()?;
        report_left(&left, &by_platform);
        let mut worker = Worker::new(
            store.clone(),
            by_platform,
            metrics.clone(),
            Settings {
                pacing: service.pacing.clone(),
                outbox: service.outbox.clone(),
            },
        );
        worker.push(left);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(worker.run(command_rx));

        let (sink, events) = mpsc::channel::<Event>(EVENT_QUEUE);
        let (stop_events, stop_rx) = oneshot::channel();
        let event_loop = EventLoop {
            store: store.clone(),
            engine,
            metrics: metrics.clone(),
            commands: commands.clone(),
            max_chars: service.outbox.max_chars,
        };
        let event_loop = tokio::spawn(event_loop.run(events, stop_rx));

        let sink: Arc<dyn EventSink> = Arc::new(sink);
        let adapters = adapters
            .into_iter()
            .map(|adapter| {
                let platform = platform_name(adapter.platform());
                let run = adapter.run(sink.clone());
                tokio::spawn(async move {
                    match run.await {
                        Ok(()) => info!(platform, "adapter stopped"),
                        Err(AdapterError { reason }) => {
                            error!(platform, %reason, "adapter cannot run with this configuration")
                        }
                    }
                })
            })
            .collect();

        Ok(Runtime {
            metrics,
            store,
            commands,
            worker,
            stop_events,
            event_loop,
            adapters,
            send_timeout: Duration::from_secs(service.onebot.action_timeout_secs),
        })
    }

    /// The counters and gauges `/metrics` shows.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
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
