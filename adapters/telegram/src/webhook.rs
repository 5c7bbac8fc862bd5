//! The webhook route: Telegram posts each update as JSON to [`WEBHOOK_PATH`](crate::WEBHOOK_PATH).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use bangban_contract::Event;
use subtle::ConstantTimeEq;
use teloxide::types::Update;
use tracing::{debug, warn};

use crate::config::Mode;
use crate::state::Shared;
use crate::translate;

/// The header Telegram puts the webhook's `secret_token` in.
pub(crate) const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Answers 404 in polling mode, 401 without the right secret, 503 until the bot is identified
/// (Telegram tries again later), 400 for a body that is not an update, and 200 for an update,
/// handed to the core or ignored.
///
/// The secret is checked before the body is read; the body is then read up to
/// [`TelegramConfig::max_body_bytes`](crate::TelegramConfig::max_body_bytes) (413 beyond).
pub(crate) async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> StatusCode {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let Some(expected) = shared
        .config
        .secret()
        .filter(|_| shared.config.mode == Mode::Webhook)
    else {
        return StatusCode::NOT_FOUND;
    };
    if !secret_matches(expected, headers) {
        warn!("Telegram webhook refused: secret token missing or wrong");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(body) = axum::body::to_bytes(body, shared.config.max_body_bytes).await else {
        warn!(
            limit = shared.config.max_body_bytes,
            "Telegram webhook body too large or cut off"
        );
        return StatusCode::PAYLOAD_TOO_LARGE;
    };
    let (Some(sink), Some(me)) = (shared.sink(), shared.me()) else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => {
            // The error's line and column only: its message may quote the body.
            warn!(
                bytes = body.len(),
                line = error.line(),
                column = error.column(),
                "unreadable Telegram webhook body"
            );
            return StatusCode::BAD_REQUEST;
        }
    };
    let outcome = match translate::incoming(&update, &me) {
        Ok(incoming) => sink.deliver(Event::Message(incoming)).await,
        Err(why) => {
            debug!(update_id = update.id.0, why, "Telegram update ignored");
            Ok(())
        }
    };
    match outcome {
        Ok(()) => StatusCode::OK,
        Err(_closed) => {
            shared.stop();
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// Compares the header with the secret in constant time.
fn secret_matches(expected: &str, headers: &HeaderMap) -> bool {
    headers
        .get(SECRET_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secrets() {
        let mut headers = HeaderMap::new();
        assert!(!secret_matches("s3cret", &headers));
        headers.insert(SECRET_HEADER, HeaderValue::from_static("s3cre"));
        assert!(!secret_matches("s3cret", &headers));
        headers.insert(SECRET_HEADER, HeaderValue::from_static("s3cret!"));
        assert!(!secret_matches("s3cret", &headers));
        headers.insert(
            "X-Telegram-Bot-Api-Secret-Token",
            HeaderValue::from_static("s3cret"),
        );
        assert!(secret_matches("s3cret", &headers));
    }
}
