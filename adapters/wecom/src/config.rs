//! What the core tells the adapter: the app, the AI bot, the robots, where the API is, limits.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::crypto::{self, DEFAULT_TIMESTAMP_WINDOW, ENCODING_AES_KEY_LEN};

/// WeCom's API host, for the app message API, the token and the robot webhooks.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";
/// The largest callback body accepted. WeCom's callbacks are a few KiB (a text message is at
/// most 2,048 bytes before encryption); 64 KiB leaves room for long mixed messages.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The account robot-webhook chats are reported under, unless configured otherwise.
pub const DEFAULT_ROBOT_ACCOUNT: &str = "wecom-robot";

/// The WeCom adapter's settings. The core builds it from `bot-config/` and the environment.
///
/// Each part is optional: configure the self-built app, the AI bot, robot webhooks, or any mix.
/// `Debug` prints whether secrets are set, never their values (nor the robots' keys).
#[derive(Clone)]
pub struct WeComConfig {
    /// The self-built app (自建应用): receives private messages at [`APP_PATH`](crate::APP_PATH),
    /// sends through the app message API.
    pub app: Option<AppConfig>,
    /// The AI bot (智能机器人, API mode): receives @-messages in groups and private messages at
    /// [`AIBOT_PATH`](crate::AIBOT_PATH), replies in the callback's response (passive) or
    /// through each message's `response_url`.
    pub aibot: Option<AiBotConfig>,
    /// Group robots (群机器人, send-only): a group chat id (as the core names it in
    /// `Chat::Group`) → the robot's webhook key. Sends to these chats go to the webhook.
    pub robots: BTreeMap<String, String>,
    /// The account robot chats are sent from and reported up under.
    pub robot_account: String,
    /// The API base for `gettoken` and `message/send`: [`DEFAULT_API_BASE`] (tests point it at
    /// a fake server).
    pub api_base: String,
    /// The base of the robot webhooks (`{webhook_base}/cgi-bin/webhook/send?key=…`).
    pub webhook_base: String,
    /// How far a callback's `timestamp` may be from the adapter's clock (replay protection).
    pub timestamp_window: Duration,
    /// How long one `send` may take in all (token fetch, send, one refresh and resend).
    pub action_timeout: Duration,
    /// The largest callback body accepted (413 above it).
    pub max_body_bytes: usize,
    /// How long the AI bot's callback waits for the core's answer to its message before WeCom
    /// is answered: an answer ready by then goes in the callback's own HTTP response (the
    /// passive reply, a stream message with `finish` true), keeping the message's
    /// `response_url` for a later reply. WeCom drops a callback it has no answer to within
    /// 5 s, so at most [`PASSIVE_WAIT_MAX`]. Zero: no passive replies, every answer goes
    /// through a `response_url`. Default 3 s.
    pub passive_wait: Duration,
    /// How long after the first wait the AI bot keeps a stream open for an answer that was not
    /// ready: the callback is answered with an unfinished stream, WeCom asks for it again
    /// (stream refresh callbacks) and an answer ready meanwhile goes in the next refresh's
    /// response. After it the stream is closed and later answers use a `response_url`.
    /// Zero: no stream; a callback without an answer in time is answered empty. At most
    /// [`STREAM_WINDOW_MAX`] (WeCom stops refreshing 6 minutes after the message). Default 60 s.
    pub stream_window: Duration,
    /// How soon after WeCom refuses an account's credentials (the app's corp id and secret, a
    /// robot's webhook key) the adapter asks again whether they are accepted; the wait doubles
    /// after each refusal, up to [`RECHECK_MAX`]. Default 2 s.
    pub recheck_interval: Duration,
}

/// The longest [`WeComConfig::passive_wait`]: WeCom gives a callback 5 s.
pub const PASSIVE_WAIT_MAX: Duration = Duration::from_secs(4);
/// The longest [`WeComConfig::stream_window`]: WeCom refreshes a stream for at most 6
/// minutes after the user's message.
pub const STREAM_WINDOW_MAX: Duration = Duration::from_secs(5 * 60);

/// The longest wait between two checks of refused credentials.
pub const RECHECK_MAX: Duration = Duration::from_secs(5 * 60);

/// The self-built app (自建应用): its API credentials and its callback's token and key.
#[derive(Clone)]
pub struct AppConfig {
    /// The corp id (企业ID, `ww…`): the receive id of the app's callbacks and `gettoken`'s `corpid`.
    pub corp_id: String,
    /// The app's Secret (`gettoken`'s `corpsecret`). Secret.
    pub corp_secret: String,
    /// The app's AgentId.
    pub agent_id: u64,
    /// The callback Token (接收消息 → Token). Secret.
    pub token: String,
    /// The callback EncodingAESKey (43 characters). Secret.
    pub encoding_aes_key: String,
    /// The account the app's messages are reported under and sent from; the AgentId when unset.
    pub account: Option<String>,
}

/// The AI bot (智能机器人) in API mode: its id and its callback's token and key.
#[derive(Clone)]
pub struct AiBotConfig {
    /// The bot's id (`aibotid` in its callbacks). Callbacks for another bot are dropped.
    pub aibot_id: String,
    /// The callback Token. Secret.
    pub token: String,
    /// The callback EncodingAESKey (43 characters). Secret.
    pub encoding_aes_key: String,
    /// The account the bot's messages are reported under and sent from; `aibot_id` when unset.
    pub account: Option<String>,
    /// The bot's display name, to strip `@name` from group messages. When unset, a leading
    /// `@word` is stripped from group messages (the AI bot is always mentioned there).
    pub name: Option<String>,
}

impl Default for WeComConfig {
    fn default() -> Self {
        WeComConfig {
            app: None,
            aibot: None,
            robots: BTreeMap::new(),
            robot_account: DEFAULT_ROBOT_ACCOUNT.to_owned(),
            api_base: DEFAULT_API_BASE.to_owned(),
            webhook_base: DEFAULT_API_BASE.to_owned(),
            timestamp_window: DEFAULT_TIMESTAMP_WINDOW,
            action_timeout: Duration::from_secs(15),
            max_body_bytes: MAX_BODY_BYTES,
            recheck_interval: Duration::from_secs(2),
            passive_wait: Duration::from_secs(3),
            stream_window: Duration::from_secs(60),
        }
    }
}

impl AppConfig {
    /// The account the app's messages are reported under.
    pub fn account(&self) -> String {
        match self.account.as_deref().map(str::trim) {
            Some(account) if !account.is_empty() => account.to_owned(),
            _ => self.agent_id.to_string(),
        }
    }
}

impl AiBotConfig {
    /// The account the AI bot's messages are reported under.
    pub fn account(&self) -> String {
        match self.account.as_deref().map(str::trim) {
            Some(account) if !account.is_empty() => account.to_owned(),
            _ => self.aibot_id.trim().to_owned(),
        }
    }
}

/// One thing wrong with a [`WeComConfig`]: which field, and what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as a path (`app.encoding_aes_key`, `robots["群"]`).
    pub field: String,
    /// What is expected there.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.expected)
    }
}

impl std::error::Error for ConfigError {}

impl WeComConfig {
    /// Everything wrong with the configuration; empty when the adapter can run with it.
    /// Never includes a secret's value.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut error = |field: &str, expected: &str| {
            errors.push(ConfigError {
                field: field.to_owned(),
                expected: expected.to_owned(),
            })
        };
        if self.app.is_none() && self.aibot.is_none() && self.robots.is_empty() {
            error(
                "wecom",
                "at least one of app, aibot or robots must be configured",
            );
        }
        if let Some(app) = &self.app {
            if app.corp_id.trim().is_empty() {
                error("app.corp_id", "the corp id (企业ID, e.g. ww…), not empty");
            }
            if app.corp_secret.trim().is_empty() {
                error("app.corp_secret", "the app's Secret, not empty");
            }
            if app.agent_id == 0 {
                error("app.agent_id", "the app's AgentId, a positive number");
            }
            check_callback(&mut error, "app", &app.token, &app.encoding_aes_key);
        }
        if let Some(aibot) = &self.aibot {
            if aibot.aibot_id.trim().is_empty() {
                error("aibot.aibot_id", "the AI bot's id (aibotid), not empty");
            }
            check_callback(&mut error, "aibot", &aibot.token, &aibot.encoding_aes_key);
        }
        for (chat, key) in &self.robots {
            if chat.trim().is_empty() {
                error("robots", "chat ids must not be empty");
            }
            if key.trim().is_empty() || key.chars().any(|c| c.is_whitespace() || c == '&') {
                error(
                    &format!("robots[{chat:?}]"),
                    "the robot's webhook key (the `key=` of its webhook URL), without spaces",
                );
            }
        }
        if !self.robots.is_empty() && self.robot_account.trim().is_empty() {
            error("robot_account", "a name for the robots' account, not empty");
        }
        let mut accounts: Vec<(String, &str)> = Vec::new();
        if let Some(app) = &self.app {
            accounts.push((app.account(), "app.account"));
        }
        if let Some(aibot) = &self.aibot {
            accounts.push((aibot.account(), "aibot.account"));
        }
        if !self.robots.is_empty() {
            accounts.push((self.robot_account.trim().to_owned(), "robot_account"));
        }
        for (i, (account, field)) in accounts.iter().enumerate() {
            if accounts[..i].iter().any(|(other, _)| other == account) {
                error(
                    field,
                    "an account name no other part (app, aibot, robots) uses",
                );
            }
        }
        for (field, url) in [
            ("api_base", &self.api_base),
            ("webhook_base", &self.webhook_base),
        ] {
            match reqwest::Url::parse(url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.query().is_none() => {}
                _ => error(field, "an http:// or https:// URL without a query"),
            }
        }
        if self.timestamp_window.is_zero() {
            error("timestamp_window", "a positive duration (default 300 s)");
        }
        if self.action_timeout.is_zero() {
            error("action_timeout", "a positive duration (default 15 s)");
        }
        if self.max_body_bytes < 1024 {
            error("max_body_bytes", "at least 1024 bytes (default 64 KiB)");
        }
        if self.recheck_interval.is_zero() {
            error("recheck_interval", "a positive duration (default 2 s)");
        }
        if self.passive_wait > PASSIVE_WAIT_MAX {
            error(
                "passive_wait",
                "at most 4 s: WeCom drops a callback not answered within 5 s (default 3 s)",
            );
        }
        if self.stream_window > STREAM_WINDOW_MAX {
            error(
                "stream_window",
                "at most 5 minutes: WeCom stops refreshing a stream 6 minutes after the message (default 60 s)",
            );
        }
        if !self.passive_wait.is_zero()
            && self.action_timeout < self.passive_wait + Duration::from_secs(5)
        {
            error(
                "action_timeout",
                "at least passive_wait + 5 s: a send may wait passive_wait + 2 s for WeCom to \
                 collect a passive reply, then post to a response_url",
            );
        }
        errors
    }
}

fn check_callback(error: &mut impl FnMut(&str, &str), part: &str, token: &str, key: &str) {
    if token.trim().is_empty() {
        error(&format!("{part}.token"), "the callback Token, not empty");
    }
    let key = key.trim();
    let expected = format!(
        "the callback EncodingAESKey: {ENCODING_AES_KEY_LEN} characters of A-Z, a-z, 0-9 (got {})",
        key.chars().count()
    );
    if crypto::decode_aes_key(key).is_err() {
        error(&format!("{part}.encoding_aes_key"), &expected);
    }
}

fn set(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<unset>"
    } else {
        "<set>"
    }
}

impl fmt::Debug for WeComConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeComConfig")
            .field("app", &self.app)
            .field("aibot", &self.aibot)
            .field(
                "robots",
                &self
                    .robots
                    .iter()
                    .map(|(chat, key)| (chat.as_str(), set(key)))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("robot_account", &self.robot_account)
            .field("api_base", &self.api_base)
            .field("webhook_base", &self.webhook_base)
            .field("timestamp_window", &self.timestamp_window)
            .field("action_timeout", &self.action_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("recheck_interval", &self.recheck_interval)
            .field("passive_wait", &self.passive_wait)
            .field("stream_window", &self.stream_window)
            .finish()
    }
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("corp_id", &self.corp_id)
            .field("corp_secret", &set(&self.corp_secret))
            .field("agent_id", &self.agent_id)
            .field("token", &set(&self.token))
            .field("encoding_aes_key", &set(&self.encoding_aes_key))
            .field("account", &self.account)
            .finish()
    }
}

impl fmt::Debug for AiBotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiBotConfig")
            .field("aibot_id", &self.aibot_id)
            .field("token", &set(&self.token))
            .field("encoding_aes_key", &set(&self.encoding_aes_key))
            .field("account", &self.account)
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";

    fn full() -> WeComConfig {
        WeComConfig {
            app: Some(AppConfig {
                corp_id: "ww1436e0e65a779aee".into(),
                corp_secret: "corp-secret-123".into(),
                agent_id: 1000002,
                token: "app-token-456".into(),
                encoding_aes_key: KEY.into(),
                account: None,
            }),
            aibot: Some(AiBotConfig {
                aibot_id: "aib-1".into(),
                token: "bot-token-789".into(),
                encoding_aes_key: KEY.into(),
                account: Some("帮办助手".into()),
                name: None,
            }),
            robots: [("agents".to_owned(), "robot-key-000".to_owned())].into(),
            ..WeComConfig::default()
        }
    }

    #[test]
    fn a_full_configuration_is_valid() {
        assert_eq!(full().validate(), vec![]);
        assert_eq!(full().app.unwrap().account(), "1000002");
        assert_eq!(full().aibot.unwrap().account(), "帮办助手");
    }

    #[test]
    fn debug_hides_secrets() {
        let printed = format!("{:?}", full());
        for secret in [
            "corp-secret-123",
            "app-token-456",
            "bot-token-789",
            "robot-key-000",
            KEY,
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("ww1436e0e65a779aee"), "{printed}");
        assert!(printed.contains("agents"), "{printed}");
    }

    #[test]
    fn validate_names_each_bad_field() {
        let mut config = full();
        let app = config.app.as_mut().unwrap();
        app.encoding_aes_key = KEY[..42].into();
        app.corp_secret = String::new();
        app.agent_id = 0;
        config.aibot.as_mut().unwrap().account = Some("wecom-robot".into());
        config.robots.insert("other".into(), "has space".into());
        config.api_base = "ftp://example".into();
        config.timestamp_window = Duration::ZERO;
        let errors = config.validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "app.corp_secret",
                "app.agent_id",
                "app.encoding_aes_key",
                "robots[\"other\"]",
                "robot_account",
                "api_base",
                "timestamp_window"
            ],
            "{errors:?}"
        );
        let key_error = errors
            .iter()
            .find(|e| e.field == "app.encoding_aes_key")
            .unwrap();
        assert!(
            key_error.to_string().contains("43 characters") && key_error.expected.contains("42"),
            "{key_error}"
        );
        assert!(!format!("{errors:?}").contains("has space"));

        let mut passive = full();
        passive.passive_wait = Duration::from_secs(5);
        passive.stream_window = Duration::from_secs(6 * 60);
        let fields: Vec<String> = passive.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["passive_wait", "stream_window"]);
        let mut slow = full();
        slow.action_timeout = Duration::from_secs(7);
        let fields: Vec<String> = slow.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["action_timeout"]);
        slow.passive_wait = Duration::ZERO;
        assert_eq!(slow.validate(), vec![], "no passive replies: no constraint");

        let empty = WeComConfig::default().validate();
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].field, "wecom");
    }
}
