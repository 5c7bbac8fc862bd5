//! The HTTP POST receiver: implementations post each event to `/onebot/v11/http`.
//!
//! Who is asking is settled before the body is read: the access token is in the headers or the
//! query, and a signed request must at least carry `X-Signature`. The body is then read up to
//! [`MAX_EVENT_BYTES`] (a declared `Content-Length` above it is refused at once, unread).

use std::sync::Arc;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use bangban_contract::{Event, EventSink};
use tracing::{debug, warn};

use crate::auth::{check_signature, check_token};
use crate::frame::{self, EventFrame, Frame};
use crate::state::Shared;

/// The largest event body accepted (or [`OneBotConfig::max_frame_bytes`] when smaller). A QQ
/// message holds at most about 5,000 characters: even `\u`-escaped, and twice (`raw_message`
/// and `message`), its event stays under 64 KiB.
///
/// [`OneBotConfig::max_frame_bytes`]: crate::OneBotConfig::max_frame_bytes
pub const MAX_EVENT_BYTES: usize = 128 << 10;

/// With a signature secret configured the `X-Signature` check is required; otherwise the
/// access token is. An accepted event is answered 204 (no quick operation); a body over the
/// limit 413.
pub(crate) async fn receive(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> StatusCode {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let allowed = match shared.config.secret() {
        // The signature covers the body: here only its presence can be checked.
        Some(_) if !headers.contains_key("x-signature") => Err(StatusCode::UNAUTHORIZED),
        Some(_) => Ok(()),
        None => check_token(shared.config.token(), headers, query.as_deref()),
    };
    if let Err(status) = allowed {
        warn!(%status, "OneBot HTTP POST refused: signature or access token missing or wrong");
        return status;
    }
    let limit = MAX_EVENT_BYTES.min(shared.config.max_frame_bytes);
    let body = match read_body(headers, body, limit).await {
        Ok(body) => body,
        Err(status) => {
            warn!(%status, limit, "OneBot HTTP POST refused: body too large or cut off");
            return status;
        }
    };
    if let Some(secret) = shared.config.secret()
        && let Err(status) = check_signature(secret, headers, &body)
    {
        warn!(%status, "OneBot HTTP POST refused: signature or access token missing or wrong");
        return status;
    }
    let Some(sink) = shared.sink() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let self_id = headers.get("x-self-id").and_then(|v| v.to_str().ok());
    let event = match frame::parse(&body, self_id) {
        Ok(Frame::Event(event)) => event,
        Ok(Frame::Response(_)) => {
            warn!("OneBot HTTP POST carried an action response, not an event");
            return StatusCode::BAD_REQUEST;
        }
        Err(error) => {
            warn!(bytes = body.len(), %error, "unreadable OneBot HTTP POST");
            return StatusCode::BAD_REQUEST;
        }
    };
    match deliver(&shared, sink.as_ref(), event).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(()) => {
            shared.stop();
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The body, at most `limit` bytes: a larger declared length is refused before reading.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, StatusCode> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    // With the length declared and within the limit, a failure is a body cut short; without
    // it (chunked), it is almost always the limit.
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| match declared {
            Some(_) => StatusCode::BAD_REQUEST,
            None => StatusCode::PAYLOAD_TOO_LARGE,
        })
}

async fn deliver(shared: &Shared, sink: &dyn EventSink, event: EventFrame) -> Result<(), ()> {
    if let Some(change) = shared.accounts.on_meta(&event) {
        sink.deliver(Event::Connection(change))
            .await
            .map_err(drop)?;
    }
    match event {
        EventFrame::Message(incoming) => sink.deliver(Event::Message(incoming)).await.map_err(drop),
        EventFrame::Ignored { what, .. } => {
            debug!(%what, "OneBot event ignored");
            Ok(())
        }
        EventFrame::Heartbeat { .. } | EventFrame::Lifecycle { .. } => Ok(()),
    }
}
