//! What the core tells the adapter: the bot token, where the Bot API is, how to receive.

use std::fmt;
use std::time::Duration;

use bangban_contract::AdapterError;

/// The public Bot API server.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// How updates reach the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The adapter asks for updates with `getUpdates` (long polling). Needs no public address:
    /// the usual choice behind NAT or a firewall.
    #[default]
    Polling,
    /// Telegram posts each update to [`WEBHOOK_PATH`](crate::WEBHOOK_PATH) on the core's web
    /// server, which must be reachable from the internet over HTTPS (through a reverse proxy).
    Webhook,
}

/// The Telegram adapter's settings. The core builds it from `bot-config/` and the environment.
///
/// `Debug` prints whether secrets are set, never their values.
#[derive(Clone)]
pub struct TelegramConfig {
    /// The bot token from @BotFather, `123456789:AA…` (the core reads it from
    /// `BANGBAN_TELEGRAM_TOKEN`). It is part of every Bot API URL: never logged.
    pub token: String,
    /// The Bot API base URL, without the `/bot<token>` part: [`DEFAULT_API_URL`], or a local
    /// Bot API server, or a fake in tests.
    pub api_url: String,
    /// Long polling or webhook.
    pub mode: Mode,
    /// The webhook's secret (the core reads it from `BANGBAN_TELEGRAM_WEBHOOK_SECRET`): Telegram
    /// sends it in `X-Telegram-Bot-Api-Secret-Token` with every update, and requests without it
    /// are refused. Required in webhook mode: 1 to 256 characters of `A-Z a-z 0-9 _ -`.
    pub webhook_secret: Option<String>,
    /// The public HTTPS URL of [`WEBHOOK_PATH`](crate::WEBHOOK_PATH), e.g.
    /// `https://bot.example.cn/telegram/webhook`. When set, the adapter registers it with
    /// `setWebhook` (with the secret) at start-up; when `None`, the operator registers it.
    /// Webhook mode only.
    pub webhook_url: Option<String>,
    /// How long one `getUpdates` long poll waits on Telegram's side for updates (whole
    /// seconds, 1 s to an hour).
    pub poll_timeout: Duration,
    /// How long one Bot API call (a send, `getMe`) may take in all.
    pub action_timeout: Duration,
    /// Delays between failed Bot API calls of the receiving side (`getMe`, `getUpdates`,
    /// `setWebhook`).
    pub reconnect: Backoff,
    /// How many `getUpdates` calls must fail in a row (network errors, server errors) before the
    /// account is reported [`Down`](bangban_contract::ConnectionState::Down). Polling mode only.
    pub down_after_failures: u32,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            token: String::new(),
            api_url: DEFAULT_API_URL.to_owned(),
            mode: Mode::Polling,
            webhook_secret: None,
            webhook_url: None,
            poll_timeout: Duration::from_secs(30),
            action_timeout: Duration::from_secs(15),
            reconnect: Backoff::default(),
            down_after_failures: 3,
            max_body_bytes: 1 << 20,
        }
    }
}

impl TelegramConfig {
    /// Checks the settings; the error says what is wrong without repeating any secret.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let error = |reason: &str| Err(AdapterError::new(format!("Telegram: {reason}")));
        if self.token.trim().is_empty() {
            return error("no bot token set (BANGBAN_TELEGRAM_TOKEN)");
        }
        if bot_id_of(&self.token).is_none() {
            return error(
                "the bot token is malformed: it should look like 123456789:AAH… (from @BotFather)",
            );
        }
        if let Err(reason) = self.parsed_api_url() {
            return error(&reason);
        }
        if self.poll_timeout < Duration::from_secs(1)
            || self.poll_timeout > Duration::from_secs(3600)
        {
            // Telegram counts the long poll in whole seconds; 0 would poll in a tight loop.
            return error("poll_timeout must be between 1 second and an hour");
        }
        if self.action_timeout.is_zero() {
            return error("action_timeout must be more than zero");
        }
        if self.down_after_failures == 0 {
            return error("down_after_failures must be at least 1");
        }
        if self.reconnect.initial.is_zero() || self.reconnect.max < self.reconnect.initial {
            return error("reconnect delays must be positive, initial at most max");
        }
        match self.mode {
            Mode::Polling => {
                if self.webhook_url.is_some() {
                    return error("webhook_url is set but the mode is polling");
                }
            }
            Mode::Webhook => {
                let Some(secret) = self.secret() else {
                    return error(
                        "webhook mode needs a webhook secret (BANGBAN_TELEGRAM_WEBHOOK_SECRET)",
                    );
                };
                if !valid_secret(secret) {
                    return error(
                        "the webhook secret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -",
                    );
                }
                if let Some(url) = &self.webhook_url {
                    match url::Url::parse(url) {
                        Ok(parsed) if parsed.scheme() == "https" => {}
                        _ => return error("webhook_url must be an https:// URL"),
                    }
                }
            }
        }
        Ok(())
    }

    /// The webhook secret, if set and not empty.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref().filter(|s| !s.is_empty())
    }

    /// [`api_url`](Self::api_url) as a URL the Bot API paths can be appended to.
    pub(crate) fn parsed_api_url(&self) -> Result<url::Url, String> {
        let trimmed = self.api_url.trim().trim_end_matches('/');
        let url = url::Url::parse(trimmed).map_err(|e| format!("api_url is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err("api_url must be an http:// or https:// URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err("api_url must have no query, fragment or user".into());
        }
        Ok(url)
    }
}

/// The bot's user id, the part of the token before the colon; `None` for a malformed token.
pub(crate) fn bot_id_of(token: &str) -> Option<u64> {
    let (id, secret) = token.split_once(':')?;
    let secret_ok = !secret.is_empty()
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !secret_ok || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// What Telegram takes as a webhook `secret_token`.
fn valid_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |set: bool| if set { "<set>" } else { "<unset>" };
        f.debug_struct("TelegramConfig")
            .field("token", &set(!self.token.is_empty()))
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("webhook_secret", &set(self.secret().is_some()))
            .field("webhook_url", &self.webhook_url)
            .field("poll_timeout", &self.poll_timeout)
            .field("action_timeout", &self.action_timeout)
            .field("reconnect", &self.reconnect)
            .field("down_after_failures", &self.down_after_failures)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// Exponential backoff between failed calls: `initial`, doubling up to `max`, with ±20% jitter.
/// Reset after a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before attempt `failures + 1` after `failures` failures in a row (≥ 1).
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(16);
        let base = self.initial.saturating_mul(1 << exponent).min(self.max);
        // Jitter from the clock's nanoseconds: no need for a random number generator here.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let factor = 0.8 + 0.4 * f64::from(nanos % 1000) / 1000.0;
        base.mul_f64(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn config() -> TelegramConfig {
        TelegramConfig {
            token: TOKEN.into(),
            ..TelegramConfig::default()
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let config = TelegramConfig {
            mode: Mode::Webhook,
            webhook_secret: Some("hook-Secret_42".into()),
            ..config()
        };
        let printed = format!("{config:?}");
        for secret in [TOKEN, "AAHdqTcv", "hook-Secret_42"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("token: \"<set>\""), "{printed}");
        assert!(printed.contains("webhook_secret: \"<set>\""), "{printed}");
    }

    #[test]
    fn validation() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(bot_id_of(TOKEN), Some(123456789));
        for token in [
            "",
            "   ",
            "123456789",
            "abc:def",
            "123:",
            ":abc",
            "123:a/b",
            "123:a b",
        ] {
            let bad = TelegramConfig {
                token: token.into(),
                ..config()
            };
            assert!(bad.validate().is_err(), "{token:?}");
        }
        let malformed = TelegramConfig {
            token: "123:sec/ret".into(),
            ..config()
        };
        let error = malformed.validate().unwrap_err();
        assert!(!error.reason.contains("sec/ret"), "{error}");

        for url in ["ftp://x", "not a url", "http://h/?q=1", "mailto:a@b"] {
            let bad = TelegramConfig {
                api_url: url.into(),
                ..config()
            };
            assert!(bad.validate().is_err(), "{url}");
        }
        let local = TelegramConfig {
            api_url: "http://127.0.0.1:8081/".into(),
            ..config()
        };
        assert_eq!(local.validate(), Ok(()));
        assert_eq!(
            local.parsed_api_url().unwrap().as_str(),
            "http://127.0.0.1:8081/"
        );

        let webhook = |secret: Option<&str>, url: Option<&str>| TelegramConfig {
            mode: Mode::Webhook,
            webhook_secret: secret.map(str::to_owned),
            webhook_url: url.map(str::to_owned),
            ..config()
        };
        assert!(webhook(None, None).validate().is_err());
        assert!(webhook(Some(""), None).validate().is_err());
        assert!(webhook(Some("has space"), None).validate().is_err());
        assert!(webhook(Some(&"x".repeat(257)), None).validate().is_err());
        assert_eq!(webhook(Some("ok_Secret-1"), None).validate(), Ok(()));
        assert_eq!(
            webhook(Some("ok"), Some("https://bot.example.cn/telegram/webhook")).validate(),
            Ok(())
        );
        assert!(
            webhook(Some("ok"), Some("http://bot.example.cn/"))
                .validate()
                .is_err()
        );
        let short_poll = TelegramConfig {
            poll_timeout: Duration::from_millis(500),
            ..config()
        };
        assert!(short_poll.validate().is_err());
        let polling_with_url = TelegramConfig {
            webhook_url: Some("https://x/".into()),
            ..config()
        };
        assert!(polling_with_url.validate().is_err());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let d1 = backoff.delay(1);
        assert!(d1 >= Duration::from_millis(80) && d1 <= Duration::from_millis(120));
        let d3 = backoff.delay(3);
        assert!(d3 >= Duration::from_millis(320) && d3 <= Duration::from_millis(480));
        assert!(backoff.delay(30) <= Duration::from_secs(1));
        assert!(backoff.delay(30) >= Duration::from_millis(800));
    }
}
