//! What the adapter's routes and sends share.

use std::sync::{Arc, RwLock};

use bangban_contract::EventSink;
use tokio::sync::watch;

use crate::api::Api;
use crate::clock::Clock;
use crate::config::WeComConfig;
use crate::crypto::MsgCrypt;
use crate::health::Health;
use crate::replies::Exchanges;

/// The self-built app, ready to use.
pub(crate) struct App {
    pub(crate) crypt: MsgCrypt,
    pub(crate) account: String,
    pub(crate) agent_id: u64,
}

/// The AI bot, ready to use.
pub(crate) struct AiBot {
    pub(crate) crypt: MsgCrypt,
    pub(crate) account: String,
    pub(crate) aibot_id: String,
    pub(crate) name: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) config: WeComConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// `None` when the app is not configured or its key does not decode (`run` says why).
    pub(crate) app: Option<App>,
    pub(crate) aibot: Option<AiBot>,
    /// The AI bot's messages still answerable: their passive replies and `response_url`s.
    pub(crate) replies: Arc<Exchanges>,
    /// `None` when the HTTP client could not be built (`run` says why).
    pub(crate) api: Option<Api>,
    /// Whether WeCom accepts the app's and the robots' credentials.
    pub(crate) health: Health,
    sink: RwLock<Option<Arc<dyn EventSink>>>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(config: WeComConfig, clock: Arc<dyn Clock>) -> Shared {
        let window = config.timestamp_window;
        let app = config.app.as_ref().and_then(|app| {
            let crypt = MsgCrypt::new(app.token.trim(), &app.encoding_aes_key, app.corp_id.trim())
                .ok()?
                .with_window(window);
            Some(App {
                crypt,
                account: app.account(),
                agent_id: app.agent_id,
            })
        });
        let aibot = config.aibot.as_ref().and_then(|bot| {
            // The AI bot's receive id is the empty string (WeCom's 智能机器人 crypto docs).
            let crypt = MsgCrypt::new(bot.token.trim(), &bot.encoding_aes_key, "")
                .ok()?
                .with_window(window);
            Some(AiBot {
                crypt,
                account: bot.account(),
                aibot_id: bot.aibot_id.trim().to_owned(),
                name: bot.name.clone(),
            })
        });
        let api = Api::new(&config).ok();
        let health = Health::new(config.recheck_interval);
        Shared {
            config,
            clock,
            app,
            aibot,
            replies: Arc::new(Exchanges::default()),
            api,
            health,
            sink: RwLock::new(None),
            shutdown: watch::Sender::new(true),
        }
    }

    /// Until when a message to the AI bot that arrived at `arrived` can be answered passively
    /// (the first wait, then the stream); `None` with passive replies off.
    pub(crate) fn passive_until(
        &self,
        arrived: tokio::time::Instant,
    ) -> Option<tokio::time::Instant> {
        let wait = self.config.passive_wait;
        (!wait.is_zero()).then(|| arrived + wait + self.config.stream_window)
    }

    /// Every account with whether it can send now: the app's while WeCom accepts its
    /// credentials, the robots' while it accepts at least one robot's key (see
    /// `health`); the AI bot's always (each message brings its own passive reply and
    /// `response_url`).
    pub(crate) fn states(&self) -> Vec<(String, bool)> {
        let mut states = Vec::new();
        if let Some(app) = &self.app {
            states.push((app.account.clone(), !self.health.app_refused()));
        }
        if let Some(bot) = &self.aibot {
            states.push((bot.account.clone(), true));
        }
        if !self.config.robots.is_empty() {
            states.push((
                self.robot_account(),
                !self.health.robots_refused(self.config.robots.len()),
            ));
        }
        states
    }

    /// The account robot chats are sent from.
    pub(crate) fn robot_account(&self) -> String {
        self.config.robot_account.trim().to_owned()
    }

    pub(crate) fn sink(&self) -> Option<Arc<dyn EventSink>> {
        self.sink.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn running(&self) -> bool {
        !*self.shutdown.borrow()
    }

    /// Starts taking callbacks, reporting into `sink`.
    pub(crate) fn start(&self, sink: Arc<dyn EventSink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shutdown.send_replace(false);
    }

    /// Refuses callbacks and sends from now on.
    pub(crate) fn stop(&self) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.shutdown.send_replace(true);
    }

    /// Resolves when the adapter stops after having started.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signal = self.shutdown.subscribe();
        async move {
            let _ = signal.wait_for(|stop| *stop).await;
        }
    }
}
