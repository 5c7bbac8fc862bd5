//! What a failed Bot API call means to the core, in words fit for logs.
//!
//! teloxide's errors must not be printed as they are: reqwest's errors can name the request
//! URL, and the URL carries the bot token; an unreadable answer carries its raw body.
//! Everything here describes errors from their kind and their causes only, and [`scrub`]s the
//! token out of whatever it keeps.

use std::error::Error as _;
use std::time::Duration;

use bangban_contract::SendError;
use teloxide::{ApiError, RequestError};

/// How long to wait after a 429 that gave no `retry_after`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(3);

/// `text` with every occurrence of the token (and of its secret half) replaced.
pub(crate) fn scrub(text: String, token: &str) -> String {
    let mut text = text;
    if !token.is_empty() && text.contains(token) {
        text = text.replace(token, "<token>");
    }
    if let Some((_, secret)) = token.split_once(':')
        && secret.len() >= 8
        && text.contains(secret)
    {
        text = text.replace(secret, "<token>");
    }
    text
}

/// A short description of a failed call, never with the token, the URL or the answer's body.
pub(crate) fn describe(error: &RequestError, token: &str) -> String {
    let text = match error {
        RequestError::Api(api) => format!("Telegram answered: {}", api_description(api)),
        RequestError::MigrateToChatId(chat) => {
            format!("the group was upgraded to supergroup {chat}: send to the new chat id")
        }
        RequestError::RetryAfter(after) => {
            format!("Telegram asked to retry after {} s (429)", after.seconds())
        }
        RequestError::Network(network) => {
            let kind = if network.is_timeout() {
                "timed out"
            } else if network.is_connect() {
                "could not connect"
            } else if network.is_body() || network.is_decode() {
                "the answer broke off"
            } else {
                "the request failed"
            };
            // The causes, not the error itself: its Display names the URL.
            let mut causes = Vec::new();
            let mut source = network.source();
            while let Some(cause) = source {
                causes.push(cause.to_string());
                source = cause.source();
            }
            match causes.is_empty() {
                true => format!("Bot API {kind}"),
                false => format!("Bot API {kind}: {}", causes.join(": ")),
            }
        }
        RequestError::InvalidJson { raw, .. } => {
            format!("unreadable Bot API answer ({} bytes)", raw.len())
        }
        RequestError::Io(io) => format!("I/O error: {io}"),
    };
    scrub(text, token)
}

/// Telegram's description of the error (`Bad Request: chat not found` and the like).
fn api_description(api: &ApiError) -> String {
    match api {
        ApiError::Unknown(description) => description.clone(),
        known => known.to_string(),
    }
}

/// Whether Telegram's answer says the failure was on its side (HTTP 5xx).
fn server_side(description: &str) -> bool {
    let lower = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
    ]
    .iter()
    .any(|phrase| lower.starts_with(phrase))
}

/// Whether `getUpdates` failed because another client polls the same bot, or a webhook is set:
/// the Bot API is reachable, the account can send.
pub(crate) fn polling_conflict(error: &RequestError) -> bool {
    match error {
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates | ApiError::CantGetUpdates) => true,
        RequestError::Api(ApiError::Unknown(description)) => {
            description.starts_with("Conflict")
                || description.contains("webhook is active")
                || description.contains("terminated by other getUpdates")
        }
        _ => false,
    }
}

/// Whether `getUpdates` failed because a webhook is set.
pub(crate) fn webhook_active(error: &RequestError) -> bool {
    match error {
        RequestError::Api(ApiError::CantGetUpdates) => true,
        RequestError::Api(ApiError::Unknown(description)) => {
            description.contains("webhook is active")
        }
        _ => false,
    }
}

/// Whether Telegram refused the token (`Unauthorized`) or does not know the bot (`Not Found`,
/// also what a wrong `api_url` path gets).
pub(crate) fn bad_token(error: &RequestError) -> bool {
    matches!(error, RequestError::Api(ApiError::InvalidToken))
}

/// The 429's `retry_after`, if the error is one.
pub(crate) fn retry_after(error: &RequestError) -> Option<Duration> {
    match error {
        RequestError::RetryAfter(after) => Some(after.duration()),
        RequestError::Api(ApiError::Unknown(description))
            if description.starts_with("Too Many Requests") =>
        {
            Some(DEFAULT_RETRY_AFTER)
        }
        _ => None,
    }
}

/// What a failed send means to the core's outbox.
///
/// - 429 → [`SendError::RateLimited`] with Telegram's `retry_after`;
/// - a network error → [`SendError::Retryable`], `maybe_delivered` unless the connection
///   could not even be made;
/// - 5xx and unreadable answers → retryable, maybe delivered;
/// - every other refusal (400 Bad Request, 403 Forbidden, 401, a group upgraded to a
///   supergroup) → [`SendError::Permanent`].
pub(crate) fn send_error(error: &RequestError, token: &str) -> SendError {
    let reason = describe(error, token);
    if let Some(retry_after) = retry_after(error) {
        return SendError::RateLimited {
            reason,
            retry_after,
        };
    }
    match error {
        RequestError::Network(network) => SendError::Retryable {
            maybe_delivered: !(network.is_connect() || network.is_builder()),
            reason,
        },
        RequestError::InvalidJson { .. } => SendError::Retryable {
            reason,
            maybe_delivered: true,
        },
        RequestError::Io(_) => SendError::Retryable {
            reason,
            maybe_delivered: false,
        },
        RequestError::Api(ApiError::Unknown(description)) if server_side(description) => {
            SendError::Retryable {
                reason,
                maybe_delivered: true,
            }
        }
        RequestError::Api(_) | RequestError::MigrateToChatId(_) | RequestError::RetryAfter(_) => {
            SendError::Permanent { reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::{ChatId, Seconds};

    const TOKEN: &str = "123456:ABCDEFGHIJ_klmnop";

    #[test]
    fn scrubbing() {
        let url = format!("error sending request for url (https://api.telegram.org/bot{TOKEN}/x)");
        let clean = scrub(url, TOKEN);
        assert!(!clean.contains("ABCDEFGHIJ"), "{clean}");
        assert!(clean.contains("bot<token>/x"), "{clean}");
        assert_eq!(
            scrub("secret ABCDEFGHIJ_klmnop alone".into(), TOKEN),
            "secret <token> alone"
        );
    }

    #[test]
    fn classification() {
        let api = |description: &str| RequestError::Api(ApiError::Unknown(description.into()));
        assert_eq!(
            send_error(&RequestError::RetryAfter(Seconds::from_seconds(7)), TOKEN),
            SendError::RateLimited {
                reason: "Telegram asked to retry after 7 s (429)".into(),
                retry_after: Duration::from_secs(7),
            }
        );
        assert!(matches!(
            send_error(&api("Too Many Requests: retry later"), TOKEN),
            SendError::RateLimited { .. }
        ));
        for refused in [
            RequestError::Api(ApiError::ChatNotFound),
            RequestError::Api(ApiError::BotBlocked),
            api("Forbidden: bot was kicked from the group chat"),
            api("Bad Request: not enough rights to send text messages to the chat"),
            RequestError::MigrateToChatId(ChatId(-100_555)),
        ] {
            let error = send_error(&refused, TOKEN);
            assert!(matches!(error, SendError::Permanent { .. }), "{error}");
        }
        let busy = send_error(&api("Internal Server Error"), TOKEN);
        assert!(
            matches!(
                busy,
                SendError::Retryable {
                    maybe_delivered: true,
                    ..
                }
            ),
            "{busy}"
        );
        let unreadable = RequestError::InvalidJson {
            source: std::sync::Arc::new(serde_json::from_str::<u8>("<html>").unwrap_err()),
            raw: format!("<html>{TOKEN} 你好</html>").into(),
        };
        let error = send_error(&unreadable, TOKEN);
        assert!(error.is_retryable());
        assert!(!error.reason().contains("你好"), "{error}");
        assert!(!error.reason().contains("ABCDEFGHIJ"), "{error}");

        assert!(polling_conflict(&RequestError::Api(
            ApiError::TerminatedByOtherGetUpdates
        )));
        let hook = api(
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        );
        assert!(polling_conflict(&hook) && webhook_active(&hook));
        assert!(!polling_conflict(&api("Internal Server Error")));
        assert!(bad_token(&RequestError::Api(ApiError::InvalidToken)));
    }

    #[tokio::test]
    async fn a_refused_connection_was_not_delivered() {
        use teloxide::requests::Requester;
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let api = url::Url::parse("http://127.0.0.1:1").unwrap();
        let bot = teloxide::Bot::new(TOKEN).set_api_url(api);
        let error = bot.get_me().await.unwrap_err();
        let send = send_error(&error, TOKEN);
        assert!(
            matches!(
                send,
                SendError::Retryable {
                    maybe_delivered: false,
                    ..
                }
            ),
            "{send}"
        );
        assert!(
            send.reason().starts_with("Bot API could not connect"),
            "{send}"
        );
        assert!(!send.reason().contains("ABCDEFGHIJ"), "{send}");
    }
}
