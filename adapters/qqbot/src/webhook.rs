//! The webhook route: the platform posts every event (and its URL check) here.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bangban_contract::Event;
use serde_json::json;
use tracing::{debug, warn};

use crate::clock::unix_seconds;
use crate::event::{self, Dispatch, Payload};
use crate::state::Shared;

/// The header carrying the hex Ed25519 signature of timestamp + body.
pub(crate) const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed timestamp (Unix seconds).
pub(crate) const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Checks the signature (before anything else), then answers: op 13 with the signed plain
/// token, op 0 with the op 12 ACK once the core has the event, op 1 with op 11.
pub(crate) async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trace = headers
        .get("x-tps-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .chars()
        .take(64)
        .collect::<String>();
    if let Err(reason) = check_signature(&shared, &headers, &body) {
        warn!(%trace, bytes = body.len(), reason, "QQ bot webhook refused: bad signature");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(sink) = shared.sink() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let payload = match event::parse(&body, &shared.config.app_id) {
        Ok(payload) => payload,
        Err(error) => {
            warn!(%trace, bytes = body.len(), error = %error.0, "unreadable QQ bot webhook payload");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match payload {
        Payload::Validation {
            plain_token,
            event_ts,
        } => {
            let mut message = event_ts.into_bytes();
            message.extend_from_slice(plain_token.as_bytes());
            let signature = shared.keys.sign_hex(&message);
            debug!(%trace, "QQ bot callback URL validated");
            Json(json!({"plain_token": plain_token, "signature": signature})).into_response()
        }
        Payload::Heartbeat(seq) => Json(json!({"op": 11, "d": seq})).into_response(),
        Payload::Dispatch(Dispatch::Ignored { what }) => {
            debug!(%trace, %what, "QQ bot event ignored");
            ack()
        }
        Payload::Dispatch(Dispatch::Message(incoming)) => {
            shared
                .anchors
                .remember(&incoming.chat, &incoming.message_id, shared.clock.now());
            match sink.deliver(Event::Message(incoming)).await {
                Ok(()) => ack(),
                Err(_) => {
                    shared.stop();
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
            }
        }
    }
}

/// The op 12 HTTP callback ACK; `d` 0 is success (1 asks the platform to push again).
fn ack() -> Response {
    Json(json!({"op": 12, "d": 0})).into_response()
}

fn check_signature(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .ok_or_else(|| format!("no {name} header"))?
            .to_str()
            .map(str::trim)
            .map_err(|_| format!("{name} is not text"))
    };
    let signature = header(SIGNATURE_HEADER)?;
    let timestamp = header(TIMESTAMP_HEADER)?;
    if let Some(skew) = shared.config.max_timestamp_skew {
        let at: u64 = timestamp
            .parse()
            .map_err(|_| "the timestamp is not Unix seconds".to_owned())?;
        let now = unix_seconds(shared.clock.now());
        if Duration::from_secs(now.abs_diff(at)) > skew {
            return Err(format!("the timestamp is {} s off", now.abs_diff(at)));
        }
    }
    shared
        .keys
        .verify(timestamp, body, signature)
        .map_err(|e| e.to_string())
}
