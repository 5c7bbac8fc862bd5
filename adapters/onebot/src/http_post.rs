//! The HTTP POST receiver: implementations post each event to `/onebot/v11/http`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use bangban_contract::{Event, EventSink};
use tracing::{debug, warn};

use crate::auth::{check_signature, check_token};
use crate::frame::{self, EventFrame, Frame};
use crate::state::Shared;

/// With a signature secret configured the `X-Signature` check is required; otherwise the
/// access token is. An accepted event is answered 204 (no quick operation).
pub(crate) async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> StatusCode {
    let allowed = match shared.config.secret() {
        Some(secret) => check_signature(secret, &headers, &body),
        None => check_token(shared.config.token(), &headers, query.as_deref()),
    };
    if let Err(status) = allowed {
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
