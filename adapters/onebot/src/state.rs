//! What the adapter's tasks and routes share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bangban_contract::EventSink;
use tokio::sync::watch;

use crate::accounts::Accounts;
use crate::config::OneBotConfig;

pub(crate) struct Shared {
    pub(crate) config: OneBotConfig,
    pub(crate) accounts: Accounts,
    /// The core's sink, from `Adapter::run` on; `None` before and after.
    sink: RwLock<Option<Arc<dyn EventSink>>>,
    /// `true` once the adapter stops: every connection closes.
    shutdown: watch::Sender<bool>,
    next_link_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: OneBotConfig) -> Shared {
        Shared {
            config,
            accounts: Accounts::default(),
            sink: RwLock::new(None),
            shutdown: watch::Sender::new(false),
            next_link_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn sink(&self) -> Option<Arc<dyn EventSink>> {
        self.sink.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts taking connections, reporting into `sink`.
    pub(crate) fn start(&self, sink: Arc<dyn EventSink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shutdown.send_replace(false);
    }

    /// Closes every connection and refuses new ones.
    pub(crate) fn stop(&self) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.shutdown.send_replace(true);
    }

    /// Resolves when the adapter stops (at once if it has).
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signal = self.shutdown.subscribe();
        async move {
            let _ = signal.wait_for(|stop| *stop).await;
        }
    }

    pub(crate) fn next_link_id(&self) -> u64 {
        self.next_link_id.fetch_add(1, Ordering::Relaxed)
    }
}
