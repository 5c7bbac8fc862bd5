//! Test helpers: the adapter served on a loopback port, and a fake OneBot implementation.
#![allow(dead_code)] // Each test binary uses its own part.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bangban_contract::{Adapter, ConnectionState, Event, Incoming};
use bangban_onebot::{OneBot, OneBotConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "t0ken-for-tests";
/// The bot account of the fixtures' group message.
pub const BOT: &str = "123456789";

/// Fails the test instead of hanging when something that should happen does not.
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

/// A payload from the OneBot v11 fixtures (copied from the published protocol payloads).
pub fn fixture(key: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/onebot-v11.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the OneBot fixtures at {path}: {e}"));
    let all: Value = serde_json::from_str(&text).expect("fixtures are JSON");
    all.get(key)
        .unwrap_or_else(|| panic!("no fixture {key}"))
        .clone()
}

pub fn config() -> OneBotConfig {
    OneBotConfig {
        access_token: Some(TOKEN.into()),
        ..OneBotConfig::default()
    }
}

/// The adapter, running, its routes served on a loopback port.
pub struct Bot {
    pub onebot: Arc<OneBot>,
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<Event>,
    pub run: JoinHandle<Result<(), bangban_contract::AdapterError>>,
}

impl Bot {
    pub async fn start(config: OneBotConfig) -> Bot {
        let onebot = Arc::new(OneBot::new(config));
        let addr = serve(onebot.router()).await;
        let (tx, events) = mpsc::channel(64);
        let run = tokio::spawn(onebot.clone().run(Arc::new(tx)));
        Bot {
            onebot,
            addr,
            events,
            run,
        }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn next_event(&mut self) -> Event {
        within(self.events.recv())
            .await
            .expect("the adapter stopped")
    }

    pub async fn next_message(&mut self) -> Incoming {
        match self.next_event().await {
            Event::Message(incoming) => incoming,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    pub async fn expect_state(&mut self, account: &str, state: ConnectionState) {
        match self.next_event().await {
            Event::Connection(change) => {
                assert_eq!((change.account.as_str(), change.state), (account, state));
            }
            other => panic!("expected {account} {state:?}, got {other:?}"),
        }
    }

    /// No event is waiting right now.
    pub fn assert_no_event(&mut self) {
        if let Ok(event) = self.events.try_recv() {
            panic!("unexpected event {event:?}");
        }
    }

    /// A Universal reverse WebSocket client for `account`, its Up event consumed.
    pub async fn connect_universal(&mut self, account: &str) -> Fake {
        let fake = Fake::connect(
            &self.ws_url("/onebot/v11/ws"),
            &[
                ("X-Self-ID", account),
                ("X-Client-Role", "Universal"),
                ("Authorization", &format!("Bearer {TOKEN}")),
            ],
        )
        .await
        .expect("reverse WebSocket accepted");
        self.expect_state(account, ConnectionState::Up).await;
        fake
    }
}

/// Serves `router` on a loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// A fake OneBot implementation's end of one WebSocket connection.
pub struct Fake {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Fake {
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Fake, WsError> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let (socket, _) = within(tokio_tungstenite::connect_async(request)).await?;
        Ok(Fake { socket })
    }

    pub async fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        within(self.socket.send(Message::text(text))).await.unwrap();
    }

    /// The next text frame as JSON (pings and pongs skipped); `None` when the adapter closed.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            match within(self.socket.next()).await? {
                Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(other) => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next action request, checked to have an echo.
    pub async fn request(&mut self) -> Request {
        let frame = self.recv().await.expect("a request, not a close");
        let echo = frame["echo"].clone();
        assert!(echo.is_string(), "requests carry an echo: {frame}");
        Request {
            action: frame["action"].as_str().unwrap().to_owned(),
            params: frame["params"].clone(),
            echo,
        }
    }

    /// Answers `request` with `response` carrying the request's echo.
    pub async fn answer(&mut self, request: &Request, mut response: Value) {
        response["echo"] = request.echo.clone();
        self.send(&response).await;
    }

    /// Answers a `get_login_info` request.
    pub async fn answer_login(&mut self, account: &str) {
        let request = self.request().await;
        assert_eq!(request.action, "get_login_info");
        let user_id: u64 = account.parse().unwrap();
        self.answer(
            &request,
            json!({"status": "ok", "retcode": 0, "data": {"user_id": user_id, "nickname": "帮办"}}),
        )
        .await;
    }
}

#[derive(Debug)]
pub struct Request {
    pub action: String,
    pub params: Value,
    pub echo: Value,
}

/// A group message event like the fixture's, with `text` and a fresh `message_id`.
pub fn group_message(message_id: u64, text: &str) -> Value {
    let mut event = fixture("group_message_array");
    event["message_id"] = json!(message_id);
    event["message"] = json!([{"type": "text", "data": {"text": text}}]);
    event["raw_message"] = json!(text);
    event
}

/// The adapter refused the handshake with this HTTP status.
pub fn refused_status(result: Result<Fake, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the connection was accepted"),
    }
}
