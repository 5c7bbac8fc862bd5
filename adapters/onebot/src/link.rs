//! A way to call actions on one implementation: a WebSocket connection or an HTTP API endpoint.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::action::{CallError, request_frame};
use crate::http_api::HttpApi;
use crate::pending::Pending;

#[derive(Clone)]
pub(crate) enum Link {
    Ws(Arc<WsLink>),
    Http(Arc<HttpApi>),
}

impl Link {
    /// Unique in the process, for detaching the right link.
    pub(crate) fn id(&self) -> u64 {
        match self {
            Link::Ws(ws) => ws.id,
            Link::Http(http) => http.id,
        }
    }

    /// Calls `action` and waits for its `data`, at most `timeout` in all.
    pub(crate) async fn call(
        &self,
        action: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        match self {
            Link::Ws(ws) => ws.call(action, params, timeout).await,
            Link::Http(http) => http.call(action, params, timeout).await,
        }
    }

    #[cfg(test)]
    pub(crate) fn test(id: u64) -> Link {
        Link::Ws(Arc::new(WsLink::new(id, mpsc::channel(1).0)))
    }
}

/// The sending half of a WebSocket connection: frames go to the connection's task through
/// `outbound`; responses come back through `pending`, which that task resolves.
pub(crate) struct WsLink {
    pub(crate) id: u64,
    outbound: mpsc::Sender<String>,
    pub(crate) pending: Pending,
}

impl WsLink {
    pub(crate) fn new(id: u64, outbound: mpsc::Sender<String>) -> WsLink {
        WsLink {
            id,
            outbound,
            pending: Pending::default(),
        }
    }

    pub(crate) async fn call(
        &self,
        action: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let ticket = self.pending.register();
        let frame = request_frame(action, &params, &ticket.echo);
        match tokio::time::timeout_at(deadline, self.outbound.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Err(CallError::NotSent),
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        ticket.wait(left).await.map_err(|error| match error {
            CallError::Timeout(_) => CallError::Timeout(timeout),
            other => other,
        })
    }
}
