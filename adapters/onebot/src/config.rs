//! What the core tells the adapter: secrets, where to connect, limits.

use std::fmt;
use std::time::Duration;

/// The OneBot adapter's settings. The core builds it from `bot-config/` and the environment.
///
/// `Debug` prints whether secrets are set, never their values.
#[derive(Clone)]
pub struct OneBotConfig {
    /// The access token (the core reads it from `BANGBAN_ONEBOT_TOKEN`). Required from reverse
    /// WebSocket and HTTP POST clients (unless `signature_secret` is set), and sent to forward
    /// WebSocket servers and the HTTP API. `None` (or empty) lets anyone connect.
    pub access_token: Option<String>,
    /// The HMAC-SHA1 key of the HTTP POST `X-Signature` header (NapCat signs with its HTTP
    /// client's "token"). When set, every HTTP POST must carry a valid signature.
    pub signature_secret: Option<String>,
    /// Forward WebSocket servers to connect to, e.g. `ws://127.0.0.1:3001` (an implementation's
    /// WebSocket server). Each is kept connected, reconnecting with [`Backoff`].
    pub forward_ws: Vec<String>,
    /// HTTP API base URLs to send through, e.g. `http://127.0.0.1:3000`, for implementations that
    /// report by HTTP POST. The account behind each is learnt with `get_login_info`.
    pub http_api: Vec<String>,
    /// How long an action call waits for its response.
    pub action_timeout: Duration,
    /// Reconnection delays of the forward WebSocket client (and HTTP API probing).
    pub reconnect: Backoff,
    /// The largest frame or HTTP body accepted from an implementation.
    pub max_frame_bytes: usize,
    /// How many missed heartbeat intervals make a WebSocket connection count as dead (it is then
    /// closed, and the implementation or the forward client reconnects).
    pub heartbeat_misses: u32,
    /// Send messages as CQ strings instead of segment arrays, for old implementations that
    /// take only strings. NapCat, LLBot and go-cqhttp take arrays (the default).
    pub send_cq_strings: bool,
}

impl Default for OneBotConfig {
    fn default() -> Self {
        OneBotConfig {
            access_token: None,
            signature_secret: None,
            forward_ws: Vec::new(),
            http_api: Vec::new(),
            action_timeout: Duration::from_secs(15),
            reconnect: Backoff::default(),
            max_frame_bytes: 16 << 20,
            heartbeat_misses: 3,
            send_cq_strings: false,
        }
    }
}

impl OneBotConfig {
    pub(crate) fn token(&self) -> Option<&str> {
        self.access_token.as_deref().filter(|t| !t.is_empty())
    }

    pub(crate) fn secret(&self) -> Option<&str> {
        self.signature_secret.as_deref().filter(|t| !t.is_empty())
    }
}

impl fmt::Debug for OneBotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: Option<&str>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("OneBotConfig")
            .field("access_token", &set(self.token()))
            .field("signature_secret", &set(self.secret()))
            .field(
                "forward_ws",
                &self
                    .forward_ws
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field(
                "http_api",
                &self
                    .http_api
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("action_timeout", &self.action_timeout)
            .field("reconnect", &self.reconnect)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("heartbeat_misses", &self.heartbeat_misses)
            .field("send_cq_strings", &self.send_cq_strings)
            .finish()
    }
}

/// A URL fit for logs: without its query (which may hold `access_token`) or user info.
pub(crate) fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}{path}")
}

/// Exponential backoff between reconnection attempts: `initial`, doubling up to `max`, with
/// ±20% jitter so that many clients do not reconnect in step. Reset after a success.
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

    #[test]
    fn debug_hides_secrets() {
        let config = OneBotConfig {
            access_token: Some("tok-123".into()),
            signature_secret: Some("sec-456".into()),
            forward_ws: vec!["ws://u:pw@host:3001/?access_token=tok-123".into()],
            ..OneBotConfig::default()
        };
        let printed = format!("{config:?}");
        for secret in ["tok-123", "sec-456", "pw"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("ws://host:3001/"), "{printed}");
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
