//! The reverse WebSocket server: implementations connect to the core's web server.
//!
//! `/onebot/v11/ws` takes Universal clients (or the role in `X-Client-Role`),
//! `/onebot/v11/ws/api` and `/onebot/v11/ws/event` take split clients. The account is the
//! `X-Self-ID` header (else `get_login_info`, else the first event's `self_id`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::warn;

use crate::auth::check_token;
use crate::state::Shared;
use crate::ws_conn::{self, ConnSpec, Role};

pub(crate) async fn universal(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let role = Role::from_header(header(&headers, "x-client-role"));
    accept(shared, peer, headers, query, upgrade, role)
}

pub(crate) async fn api(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept(shared, peer, headers, query, upgrade, Role::Api)
}

pub(crate) async fn event(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept(shared, peer, headers, query, upgrade, Role::Event)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn accept(
    shared: Arc<Shared>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    role: Role,
) -> Response {
    let peer = match peer {
        Some(Extension(ConnectInfo(addr))) => format!("reverse WebSocket from {addr}"),
        None => "reverse WebSocket".to_owned(),
    };
    if let Err(status) = check_token(shared.config.token(), &headers, query.as_deref()) {
        warn!(%peer, %status, "OneBot connection refused: access token missing or wrong");
        return (status, "access token missing or wrong").into_response();
    }
    let Some(sink) = shared.sink() else {
        warn!(%peer, "OneBot connection refused: the adapter is not running");
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let spec = ConnSpec {
        peer,
        role,
        account: header(&headers, "x-self-id").map(str::to_owned),
    };
    let max = shared.config.max_frame_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| ws_conn::serve(socket, spec, shared, sink))
}
