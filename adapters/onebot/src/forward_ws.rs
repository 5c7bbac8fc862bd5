//! The forward WebSocket client: the adapter connects to an implementation's WebSocket server
//! and keeps reconnecting, with exponential backoff, for as long as it runs.

use std::sync::Arc;

use bangban_contract::EventSink;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{info, warn};

use crate::config::redact_url;
use crate::state::Shared;
use crate::ws_conn::{self, ConnSpec, Role};

/// The handshake request for `url`, with the access token as `Authorization: Bearer`.
pub(crate) fn request(url: &str, token: Option<&str>) -> Result<Request, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the access token is not a valid header value".to_owned())?;
        request.headers_mut().insert("authorization", value);
    }
    Ok(request)
}

/// Connects to `url`, serves the connection, and reconnects after it drops; ends at shutdown.
pub(crate) async fn keep_connected(shared: Arc<Shared>, sink: Arc<dyn EventSink>, url: String) {
    let label = redact_url(&url);
    let limit = shared.config.max_frame_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let stopped = shared.stopped();
    tokio::pin!(stopped);
    let mut failures = 0;
    loop {
        let request = match request(&url, shared.config.token()) {
            Ok(request) => request,
            Err(error) => {
                warn!(url = %label, %error, "forward WebSocket URL unusable");
                return;
            }
        };
        let attempt = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let result = tokio::select! {
            result = attempt => result,
            _ = &mut stopped => return,
        };
        match result {
            Ok((socket, _)) => {
                failures = 0;
                let spec = ConnSpec {
                    peer: format!("forward WebSocket to {label}"),
                    role: Role::Universal,
                    account: None,
                };
                ws_conn::serve(socket, spec, shared.clone(), sink.clone()).await;
            }
            Err(error) => warn!(url = %label, %error, "forward WebSocket connection failed"),
        }
        failures += 1;
        let delay = shared.config.reconnect.delay(failures);
        info!(url = %label, ?delay, "forward WebSocket reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut stopped => return,
        }
    }
}
