//! What the core tells the adapter: the bot's credentials, where the APIs are, the windows.

use std::fmt;
use std::time::Duration;

use bangban_contract::AdapterError;
use reqwest::Url;

/// The OpenAPI base URL.
pub const DEFAULT_API_BASE: &str = "https://api.sgroup.qq.com";
/// Where access tokens come from.
pub const DEFAULT_TOKEN_URL: &str = "https://bots.qq.com/app/getAppAccessToken";

/// The QQ bot adapter's settings. The core builds it from `bot-config/` and the environment.
///
/// `Debug` prints whether the secret is set, never its value.
#[derive(Clone)]
pub struct QqBotConfig {
    /// The bot's AppID (开发设置 → AppID), e.g. `102012345`. It is the account of every
    /// [`Incoming`](bangban_contract::Incoming) and [`Outgoing`](bangban_contract::Outgoing).
    pub app_id: String,
    /// The bot secret, AppSecret (the core reads it from `BANGBAN_QQBOT_SECRET`). It signs and
    /// checks the webhook (Ed25519, see the crate doc) and obtains access tokens. Never logged.
    pub secret: String,
    /// The OpenAPI base URL: [`DEFAULT_API_BASE`], the sandbox
    /// (`https://sandbox.api.sgroup.qq.com`), or a fake in tests.
    pub api_base: String,
    /// The access-token endpoint: [`DEFAULT_TOKEN_URL`], or a fake in tests.
    pub token_url: String,
    /// How long after a group message arrived the adapter replies to it. The platform takes
    /// replies for 5 minutes; the default keeps 15 s back for the request's own time.
    pub group_reply_window: Duration,
    /// How long after a C2C (private) message arrived the adapter replies to it. The platform
    /// takes replies for 60 minutes; the default keeps 15 s back.
    pub c2c_reply_window: Duration,
    /// How many replies one message takes (the platform's limit is 5, groups and C2C alike).
    pub max_replies_per_message: u32,
    /// How long one OpenAPI call (a send, a token request) may take in all. The platform
    /// advises at least 5 s, lest a message is sent but its answer missed.
    pub action_timeout: Duration,
    /// How long before its expiry an access token is replaced. The platform hands out a new
    /// token only in the last 60 s of the old one (which stays valid meanwhile), so this must
    /// be under 60 s.
    pub token_refresh_margin: Duration,
    /// Delays between failed token requests in the background.
    pub token_retry: Backoff,
    /// How far an `X-Signature-Timestamp` may be from now (either way) for the webhook to take
    /// the request: refuses replays of old signed bodies. `None` takes any timestamp.
    pub max_timestamp_skew: Option<Duration>,
    /// The largest webhook body accepted. Events are a few KiB.
    pub max_body_bytes: usize,
}

impl Default for QqBotConfig {
    fn default() -> Self {
        QqBotConfig {
            app_id: String::new(),
            secret: String::new(),
            api_base: DEFAULT_API_BASE.to_owned(),
            token_url: DEFAULT_TOKEN_URL.to_owned(),
            group_reply_window: Duration::from_secs(5 * 60 - 15),
            c2c_reply_window: Duration::from_secs(60 * 60 - 15),
            max_replies_per_message: 5,
            action_timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(50),
            token_retry: Backoff::default(),
            max_timestamp_skew: Some(Duration::from_secs(10 * 60)),
            max_body_bytes: 64 << 10,
        }
    }
}

impl QqBotConfig {
    /// Checks the settings; the error names the field and never repeats the secret.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let error = |field: &str, reason: &str| {
            Err(AdapterError::new(format!("QQ bot: {field}: {reason}")))
        };
        if self.app_id.trim().is_empty() {
            return error("app_id", "not set");
        }
        if !self.app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return error("app_id", "must be the AppID, letters and digits only");
        }
        if self.secret.is_empty() {
            return error("secret", "not set (BANGBAN_QQBOT_SECRET)");
        }
        if self.secret.chars().any(char::is_whitespace) {
            return error("secret", "has white space (copied with a line break?)");
        }
        if let Err(reason) = base_url(&self.api_base) {
            return error("api_base", &reason);
        }
        if let Err(reason) = base_url(&self.token_url) {
            return error("token_url", &reason);
        }
        if self.group_reply_window.is_zero() {
            return error("group_reply_window", "must be more than zero");
        }
        if self.c2c_reply_window.is_zero() {
            return error("c2c_reply_window", "must be more than zero");
        }
        if self.max_replies_per_message == 0 {
            return error("max_replies_per_message", "must be at least 1");
        }
        if self.action_timeout.is_zero() {
            return error("action_timeout", "must be more than zero");
        }
        if self.token_refresh_margin >= Duration::from_secs(60) {
            return error(
                "token_refresh_margin",
                "must be under 60 s: the platform renews a token only in its last minute",
            );
        }
        if self.token_retry.initial.is_zero() || self.token_retry.max < self.token_retry.initial {
            return error(
                "token_retry",
                "delays must be positive, initial at most max",
            );
        }
        if self.max_body_bytes < 1024 {
            return error("max_body_bytes", "must be at least 1 KiB");
        }
        Ok(())
    }

    /// [`api_base`](Self::api_base) without its trailing slash.
    pub(crate) fn api_base(&self) -> &str {
        self.api_base.trim().trim_end_matches('/')
    }
}

/// Checks an http(s) URL without query, fragment or user info.
fn base_url(url: &str) -> Result<Url, String> {
    let url = Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must have no query, fragment or user".into());
    }
    Ok(url)
}

impl fmt::Debug for QqBotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |set: bool| if set { "<set>" } else { "<unset>" };
        f.debug_struct("QqBotConfig")
            .field("app_id", &self.app_id)
            .field("secret", &set(!self.secret.is_empty()))
            .field("api_base", &self.api_base)
            .field("token_url", &self.token_url)
            .field("group_reply_window", &self.group_reply_window)
            .field("c2c_reply_window", &self.c2c_reply_window)
            .field("max_replies_per_message", &self.max_replies_per_message)
            .field("action_timeout", &self.action_timeout)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .field("token_retry", &self.token_retry)
            .field("max_timestamp_skew", &self.max_timestamp_skew)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// Exponential backoff between failed token requests: `initial`, doubling up to `max`, with
/// ±20% jitter. Reset after a success.
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
    /// The delay after `failures` failures in a row (≥ 1).
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

    fn config() -> QqBotConfig {
        QqBotConfig {
            app_id: "102012345".into(),
            secret: "s3cretS3cretS3cret".into(),
            ..QqBotConfig::default()
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let printed = format!("{:?}", config());
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("<set>"), "{printed}");
        assert!(printed.contains("102012345"), "{printed}");
    }

    #[test]
    fn validate_names_the_field() {
        assert_eq!(config().validate(), Ok(()));
        let cases: Vec<(&str, QqBotConfig)> = vec![
            (
                "app_id",
                QqBotConfig {
                    app_id: " ".into(),
                    ..config()
                },
            ),
            (
                "app_id",
                QqBotConfig {
                    app_id: "10 2".into(),
                    ..config()
                },
            ),
            (
                "secret",
                QqBotConfig {
                    secret: String::new(),
                    ..config()
                },
            ),
            (
                "secret",
                QqBotConfig {
                    secret: "abc\n".into(),
                    ..config()
                },
            ),
            (
                "api_base",
                QqBotConfig {
                    api_base: "ftp://x".into(),
                    ..config()
                },
            ),
            (
                "api_base",
                QqBotConfig {
                    api_base: "https://x/?a=1".into(),
                    ..config()
                },
            ),
            (
                "token_url",
                QqBotConfig {
                    token_url: "nope".into(),
                    ..config()
                },
            ),
            (
                "group_reply_window",
                QqBotConfig {
                    group_reply_window: Duration::ZERO,
                    ..config()
                },
            ),
            (
                "c2c_reply_window",
                QqBotConfig {
                    c2c_reply_window: Duration::ZERO,
                    ..config()
                },
            ),
            (
                "max_replies_per_message",
                QqBotConfig {
                    max_replies_per_message: 0,
                    ..config()
                },
            ),
            (
                "action_timeout",
                QqBotConfig {
                    action_timeout: Duration::ZERO,
                    ..config()
                },
            ),
            (
                "token_refresh_margin",
                QqBotConfig {
                    token_refresh_margin: Duration::from_secs(60),
                    ..config()
                },
            ),
            (
                "token_retry",
                QqBotConfig {
                    token_retry: Backoff {
                        initial: Duration::ZERO,
                        max: Duration::ZERO,
                    },
                    ..config()
                },
            ),
            (
                "max_body_bytes",
                QqBotConfig {
                    max_body_bytes: 10,
                    ..config()
                },
            ),
        ];
        for (field, bad) in cases {
            let error = bad.validate().unwrap_err();
            assert!(error.reason.contains(field), "{field}: {error}");
            assert!(!error.reason.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn the_api_base_loses_its_trailing_slash() {
        let config = QqBotConfig {
            api_base: "http://127.0.0.1:9/".into(),
            ..config()
        };
        assert_eq!(config.api_base(), "http://127.0.0.1:9");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let d1 = backoff.delay(1);
        assert!(d1 >= Duration::from_millis(80) && d1 <= Duration::from_millis(120));
        assert!(backoff.delay(30) <= Duration::from_secs(1));
    }
}
