//! What the adapter's tasks, routes and `send()` share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bangban_contract::{
    AdapterError, ConnectionChange, ConnectionState, Event, EventSink, Platform, SinkClosed,
};
use teloxide::Bot;
use tokio::sync::watch;
use tracing::info;

use crate::config::TelegramConfig;
use crate::translate::Me;

pub(crate) struct Shared {
    pub(crate) config: TelegramConfig,
    /// For sends, `getMe` and `setWebhook`: its HTTP client gives up after the action timeout.
    pub(crate) bot: Bot,
    /// For `getUpdates`: its client waits for the long poll plus the action timeout.
    pub(crate) poll_bot: Bot,
    /// The bot, from the first successful `getMe` on.
    me: RwLock<Option<Me>>,
    /// Whether the account was last reported up.
    up: AtomicBool,
    /// The core's sink, from `Adapter::run` on; `None` before and after.
    sink: RwLock<Option<Arc<dyn EventSink>>>,
    /// `true` once the adapter stops.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(config: TelegramConfig) -> Result<Shared, AdapterError> {
        config.validate()?;
        let bot = bot_with_timeout(&config, config.action_timeout)?;
        let poll_bot = bot_with_timeout(&config, config.poll_timeout + config.action_timeout)?;
        Ok(Shared {
            config,
            bot,
            poll_bot,
            me: RwLock::new(None),
            up: AtomicBool::new(false),
            sink: RwLock::new(None),
            shutdown: watch::Sender::new(false),
        })
    }

    pub(crate) fn token(&self) -> &str {
        &self.config.token
    }

    pub(crate) fn me(&self) -> Option<Me> {
        self.me.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_me(&self, me: Me) {
        *self.me.write().unwrap_or_else(|e| e.into_inner()) = Some(me);
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Records whether the account can send and reports a change to `sink`.
    pub(crate) async fn set_up(
        &self,
        sink: &dyn EventSink,
        me: &Me,
        up: bool,
    ) -> Result<(), SinkClosed> {
        if self.up.swap(up, Ordering::AcqRel) == up {
            return Ok(());
        }
        let state = match up {
            true => ConnectionState::Up,
            false => ConnectionState::Down,
        };
        info!(account = %me.account(), ?state, "Telegram account state");
        sink.deliver(Event::Connection(ConnectionChange {
            platform: Platform::Telegram,
            account: me.account(),
            state,
        }))
        .await
    }

    pub(crate) fn sink(&self) -> Option<Arc<dyn EventSink>> {
        self.sink.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts taking webhook updates, reporting into `sink`.
    pub(crate) fn start(&self, sink: Arc<dyn EventSink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shutdown.send_replace(false);
    }

    /// Refuses webhook updates and sends from now on.
    pub(crate) fn stop(&self) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.up.store(false, Ordering::Release);
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

/// A teloxide `Bot` whose HTTP client gives up on a call after `timeout`. (teloxide's own
/// default of 17 s would cut long polls short.)
fn bot_with_timeout(config: &TelegramConfig, timeout: Duration) -> Result<Bot, AdapterError> {
    let api_url = config
        .parsed_api_url()
        .map_err(|reason| AdapterError::new(format!("Telegram: {reason}")))?;
    let client = teloxide::net::default_reqwest_settings()
        .timeout(timeout)
        .build()
        .map_err(|_| AdapterError::new("Telegram: could not set up the HTTP client (TLS)"))?;
    Ok(Bot::with_client(config.token.clone(), client).set_api_url(api_url))
}
