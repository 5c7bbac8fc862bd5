//! One WebSocket connection to an implementation, whichever side opened it.
//!
//! The connection's task reads frames (events go to the core through a per-connection queue,
//! responses resolve waiting calls), writes the frames that calls queue, watches heartbeats and
//! reports the account's state. A frame that cannot be read is logged and skipped: one bad
//! frame never closes the connection.
//!
//! A connection may report at most [`MAX_EVENTS_PER_SECOND`] messages a second; the excess is
//! dropped (logged once a second with the count), so one flooding implementation cannot fill the
//! core's event queue that every other connection shares. Responses to the bot's calls and meta
//! events are never dropped.

use std::sync::Arc;
use std::time::Duration;

use bangban_contract::{ConnectionChange, Event, EventSink};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::action::CallError;
use crate::frame::{self, EventFrame, Frame};
use crate::ids::id_of;
use crate::link::{Link, WsLink};
use crate::state::Shared;

/// Events queued per connection before reading pauses (backpressure towards the implementation).
const EVENT_QUEUE: usize = 1024;
/// Frames queued per connection for writing.
const OUTBOUND_QUEUE: usize = 256;
/// The most message events one connection may report in a second: far above what one QQ
/// account receives (tens a second in the busiest groups) and above what the core can read.
pub(crate) const MAX_EVENTS_PER_SECOND: u32 = 10_000;

/// Message events counted per one-second window.
struct EventRate {
    window: Instant,
    count: u32,
    dropped: u64,
}

impl EventRate {
    fn new(now: Instant) -> EventRate {
        EventRate {
            window: now,
            count: 0,
            dropped: 0,
        }
    }

    /// Whether one more event may go at `now`. When a new window starts, what the last one
    /// dropped is returned too (to log once).
    fn admit(&mut self, now: Instant) -> (bool, Option<u64>) {
        let mut ended = None;
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.count = 0;
            ended = Some(std::mem::take(&mut self.dropped)).filter(|&n| n > 0);
        }
        if self.count < MAX_EVENTS_PER_SECOND {
            self.count += 1;
            (true, ended)
        } else {
            self.dropped += 1;
            (false, ended)
        }
    }
}

/// What a connection carries (OneBot's `X-Client-Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Events and actions on one connection.
    Universal,
    /// Actions only.
    Api,
    /// Events only.
    Event,
}

impl Role {
    /// The role named by an `X-Client-Role` header; Universal when absent or unknown.
    pub(crate) fn from_header(value: Option<&str>) -> Role {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("api") => Role::Api,
            Some(v) if v.eq_ignore_ascii_case("event") => Role::Event,
            _ => Role::Universal,
        }
    }

    fn carries_actions(self) -> bool {
        self != Role::Event
    }
}

/// How a connection came to be.
pub(crate) struct ConnSpec {
    /// For logs: "reverse WebSocket from 1.2.3.4:5678", "forward WebSocket to ws://…".
    pub(crate) peer: String,
    pub(crate) role: Role,
    /// The account, when the handshake said (`X-Self-ID`).
    pub(crate) account: Option<String>,
}

/// A WebSocket message type: axum's on the server side, tungstenite's on the client side.
pub(crate) trait WsMessage: Send + 'static {
    fn from_text(text: String) -> Self;
    fn inbound(self) -> Inbound;
}

pub(crate) enum Inbound {
    /// A text or binary frame (both are read as JSON).
    Data(Bytes),
    Close,
    /// Ping or pong: the WebSocket library answers pings itself.
    Control,
}

impl WsMessage for axum::extract::ws::Message {
    fn from_text(text: String) -> Self {
        Self::Text(text.into())
    }

    fn inbound(self) -> Inbound {
        match self {
            Self::Text(_) | Self::Binary(_) => Inbound::Data(self.into_data()),
            Self::Close(_) => Inbound::Close,
            Self::Ping(_) | Self::Pong(_) => Inbound::Control,
        }
    }
}

impl WsMessage for tokio_tungstenite::tungstenite::Message {
    fn from_text(text: String) -> Self {
        Self::Text(text.into())
    }

    fn inbound(self) -> Inbound {
        match self {
            Self::Text(_) | Self::Binary(_) => Inbound::Data(self.into_data()),
            Self::Close(_) => Inbound::Close,
            Self::Ping(_) | Self::Pong(_) | Self::Frame(_) => Inbound::Control,
        }
    }
}

/// Serves one connection until it closes, the heartbeats stop, or the adapter stops.
pub(crate) async fn serve<S, M, E>(
    mut socket: S,
    spec: ConnSpec,
    shared: Arc<Shared>,
    sink: Arc<dyn EventSink>,
) where
    S: Stream<Item = Result<M, E>> + Sink<M> + Send + Unpin,
    M: WsMessage,
    E: std::fmt::Display,
    <S as Sink<M>>::Error: std::fmt::Display,
{
    let (outbound, mut outbound_rx) = tokio::sync::mpsc::channel(OUTBOUND_QUEUE);
    let link = Arc::new(WsLink::new(shared.next_link_id(), outbound));
    let (events, events_rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    tokio::spawn(forward_events(events_rx, sink, shared.clone()));
    let mut conn = Conn {
        shared: shared.clone(),
        link,
        role: spec.role,
        peer: spec.peer,
        account: None,
        attached: false,
        events,
        heartbeat_interval: None,
        last_seen: Instant::now(),
        rate: EventRate::new(Instant::now()),
    };
    info!(peer = %conn.peer, role = ?conn.role, "OneBot connection open");
    let mut login = None;
    match spec.account {
        Some(account) => conn.identify(account).await,
        None if conn.role.carries_actions() => login = Some(conn.ask_login()),
        None => {}
    }

    let stopped = shared.stopped();
    tokio::pin!(stopped);
    let reason = loop {
        let deadline = conn.heartbeat_deadline();
        tokio::select! {
            _ = &mut stopped => break "the adapter is stopping",
            frame = socket.next() => match frame {
                None => break "closed by the implementation",
                Some(Err(error)) => {
                    warn!(peer = %conn.peer, %error, "OneBot WebSocket error");
                    break "WebSocket error";
                }
                Some(Ok(message)) => match message.inbound() {
                    Inbound::Data(bytes) => conn.on_frame(&bytes).await,
                    Inbound::Close => break "closed by the implementation",
                    Inbound::Control => {}
                },
            },
            Some(text) = outbound_rx.recv() => {
                if let Err(error) = socket.send(M::from_text(text)).await {
                    warn!(peer = %conn.peer, %error, "OneBot WebSocket write failed");
                    break "write failed";
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                warn!(peer = %conn.peer, account = ?conn.account, "no heartbeat for too long: closing");
                break "heartbeats stopped";
            }
            result = async { login.as_mut().expect("guarded by is_some").await }, if login.is_some() => {
                login = None;
                conn.on_login(result.unwrap_or(Err(CallError::Closed))).await;
            }
        }
    };
    info!(peer = %conn.peer, account = ?conn.account, reason, "OneBot connection closed");
    if let Some(login) = login {
        login.abort();
    }
    conn.finish().await;
    // A polite close frame, but never wait long for a peer that stopped reading.
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close()).await;
}

/// Hands a connection's events to the core in order; stops the adapter if the core is gone.
async fn forward_events(
    mut events: tokio::sync::mpsc::Receiver<Event>,
    sink: Arc<dyn EventSink>,
    shared: Arc<Shared>,
) {
    while let Some(event) = events.recv().await {
        if sink.deliver(event).await.is_err() {
            info!("the core's event sink closed: stopping the OneBot adapter");
            shared.stop();
            return;
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    link: Arc<WsLink>,
    role: Role,
    peer: String,
    account: Option<String>,
    /// Whether `link` is attached to `account` in the registry.
    attached: bool,
    events: tokio::sync::mpsc::Sender<Event>,
    heartbeat_interval: Option<Duration>,
    last_seen: Instant,
    rate: EventRate,
}

impl Conn {
    fn heartbeat_deadline(&self) -> Option<Instant> {
        let interval = self.heartbeat_interval?;
        Some(self.last_seen + interval * self.shared.config.heartbeat_misses.max(1))
    }

    /// Asks the implementation who it is, for connections whose handshake did not say.
    fn ask_login(&self) -> JoinHandle<Result<Value, CallError>> {
        let link = self.link.clone();
        let timeout = self.shared.config.action_timeout;
        tokio::spawn(async move { link.call("get_login_info", json!({}), timeout).await })
    }

    async fn on_login(&mut self, result: Result<Value, CallError>) {
        match result.map(|data| data.get("user_id").and_then(id_of)) {
            Ok(Some(account)) if self.account.is_none() => self.identify(account).await,
            Ok(Some(_)) => {}
            Ok(None) => warn!(peer = %self.peer, "get_login_info gave no user_id"),
            Err(error) => warn!(
                peer = %self.peer, %error,
                "get_login_info failed; the account will be learnt from the first event"
            ),
        }
    }

    /// The connection is `account`'s from now on.
    async fn identify(&mut self, account: String) {
        info!(peer = %self.peer, %account, role = ?self.role, "OneBot connection identified");
        self.account = Some(account.clone());
        if self.role.carries_actions() {
            self.attached = true;
            let change = self
                .shared
                .accounts
                .attach(&account, Link::Ws(self.link.clone()));
            self.report(change).await;
        }
    }

    async fn on_frame(&mut self, bytes: &[u8]) {
        self.last_seen = Instant::now();
        match frame::parse(bytes, self.account.as_deref()) {
            Err(error) => warn!(
                peer = %self.peer, account = ?self.account, bytes = bytes.len(), %error,
                "unreadable OneBot frame skipped"
            ),
            Ok(Frame::Response(response)) => {
                let resolved = match response.echo {
                    Some(echo) => self.link.pending.resolve(&echo, response.outcome),
                    None => false,
                };
                if !resolved {
                    debug!(peer = %self.peer, "a response no call waits for (late, or not ours)");
                }
            }
            Ok(Frame::Event(event)) => self.on_event(event).await,
        }
    }

    async fn on_event(&mut self, event: EventFrame) {
        if self.account.is_none()
            && let Some(account) = event.self_id()
        {
            self.identify(account.to_owned()).await;
        }
        if let EventFrame::Heartbeat {
            interval_ms: Some(ms),
            ..
        } = event
            && ms > 0
        {
            self.heartbeat_interval = Some(Duration::from_millis(ms));
        }
        let change = self.shared.accounts.on_meta(&event);
        self.report(change).await;
        match event {
            EventFrame::Message(incoming) => {
                let (admitted, dropped) = self.rate.admit(self.last_seen);
                if let Some(dropped) = dropped {
                    warn!(peer = %self.peer, account = ?self.account, dropped,
                        "OneBot connection reported more than {MAX_EVENTS_PER_SECOND} messages a second: the excess was dropped");
                }
                if !admitted {
                    return;
                }
                debug!(
                    account = %incoming.account, chat = ?incoming.chat,
                    message_id = %incoming.message_id, "OneBot message"
                );
                self.emit(Event::Message(incoming)).await;
            }
            EventFrame::Ignored { what, .. } => {
                debug!(peer = %self.peer, %what, "OneBot event ignored")
            }
            EventFrame::Heartbeat { .. } | EventFrame::Lifecycle { .. } => {}
        }
    }

    async fn report(&self, change: Option<ConnectionChange>) {
        if let Some(change) = change {
            info!(account = %change.account, state = ?change.state, "OneBot account state");
            self.emit(Event::Connection(change)).await;
        }
    }

    async fn emit(&self, event: Event) {
        // Fails only when the core's sink closed, which stops the adapter anyway.
        let _ = self.events.send(event).await;
    }

    fn detach(&mut self) -> Option<ConnectionChange> {
        if !std::mem::take(&mut self.attached) {
            return None;
        }
        let account = self.account.as_deref()?;
        self.shared.accounts.detach(account, self.link.id)
    }

    async fn finish(&mut self) {
        self.link.pending.close_all();
        let change = self.detach();
        self.report(change).await;
    }
}

impl Drop for Conn {
    /// When the task is cancelled before `finish`: still leave the registry right.
    fn drop(&mut self) {
        self.link.pending.close_all();
        if let Some(change) = self.detach() {
            let _ = self.events.try_send(Event::Connection(change));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_over_the_rate_are_dropped_and_counted_once_a_window() {
        let t0 = Instant::now();
        let mut rate = EventRate::new(t0);
        let admitted = (0..MAX_EVENTS_PER_SECOND + 500)
            .filter(|_| rate.admit(t0 + Duration::from_millis(900)).0)
            .count();
        assert_eq!(admitted, MAX_EVENTS_PER_SECOND as usize);
        // The next window lets events in again and reports what the last one dropped.
        assert_eq!(rate.admit(t0 + Duration::from_secs(1)), (true, Some(500)));
        assert_eq!(rate.admit(t0 + Duration::from_secs(1)), (true, None));
        assert_eq!(rate.admit(t0 + Duration::from_secs(3)), (true, None));
    }
}
