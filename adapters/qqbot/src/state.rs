//! What the adapter's routes, its run loop and its senders share.

use std::sync::{Arc, RwLock};

use bangban_contract::{AdapterError, EventSink};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::QqBotConfig;
use crate::replies::Anchors;
use crate::sign::Keys;
use crate::token::Tokens;

pub(crate) struct Shared {
    pub(crate) config: QqBotConfig,
    pub(crate) keys: Keys,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) anchors: Anchors,
    pub(crate) tokens: Tokens,
    pub(crate) client: reqwest::Client,
    /// The core's sink, from `Adapter::run` on; `None` before and after.
    sink: RwLock<Option<Arc<dyn EventSink>>>,
    /// `true` once the adapter stops.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(config: QqBotConfig, clock: Arc<dyn Clock>) -> Result<Shared, AdapterError> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| AdapterError::new(format!("QQ bot: HTTP client: {e}")))?;
        let tokens = Tokens::new(
            client.clone(),
            &config.token_url,
            &config.app_id,
            &config.secret,
            config.token_refresh_margin,
            config.action_timeout,
            clock.clone(),
        );
        Ok(Shared {
            keys: Keys::from_secret(&config.secret),
            anchors: Anchors::new(
                config.group_reply_window,
                config.c2c_reply_window,
                config.max_replies_per_message,
            ),
            tokens,
            client,
            clock,
            config,
            sink: RwLock::new(None),
            shutdown: watch::Sender::new(false),
        })
    }

    pub(crate) fn sink(&self) -> Option<Arc<dyn EventSink>> {
        self.sink.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts taking webhook requests, reporting into `sink`.
    pub(crate) fn start(&self, sink: Arc<dyn EventSink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shutdown.send_replace(false);
    }

    /// Refuses webhook requests from now on and ends the run loop.
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
}
