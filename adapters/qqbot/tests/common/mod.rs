//! Test helpers: a fake QQ OpenAPI (tokens and message endpoints) and the adapter served on a
//! loopback port, its clock in the test's hands.
#![allow(dead_code)] // Each test binary uses its own part.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bangban_contract::{Adapter, AdapterError, ConnectionState, Event, Incoming};
use bangban_qqbot::{Backoff, Clock, ManualClock, QqBot, QqBotConfig, webhook_signature};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const APP_ID: &str = "102012345";
pub const SECRET: &str = "bangbanTestSecret0123";
pub const GROUP: &str = "C9F778FE6ADF9D1D1DBE395BF744A33A";
pub const MEMBER: &str = "E4F4AEA33253A2797FB897C50B81D7ED";
pub const USER: &str = "6836D8522EE75AD3732E75C0D3B6F33A";

/// Fails the test instead of hanging when something that should happen does not.
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

/// A value of the published webhook vectors (copied from the platform's docs).
pub fn fixture(key: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/qqbot-webhook.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Value = serde_json::from_str(&text).expect("fixtures are JSON");
    all.get(key)
        .unwrap_or_else(|| panic!("no fixture {key}"))
        .clone()
}

/// Serves `router` on a loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// One message the fake API received.
#[derive(Debug, Clone)]
pub struct Sent {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// What the fake QQ API does; tests change it between calls.
pub struct FakeState {
    /// Token requests received.
    pub token_requests: AtomicU32,
    /// Whether token requests succeed (else HTTP 500).
    pub tokens_work: AtomicBool,
    /// Tokens issued and not revoked.
    pub valid_tokens: Mutex<HashSet<String>>,
    /// Answers for the next message posts, in order; then `{"id": "BOT<n>"}`.
    pub answers: Mutex<VecDeque<(u16, Value)>>,
    /// Message posts never answer.
    pub hang: AtomicBool,
    messages: AtomicU32,
    sent: mpsc::UnboundedSender<Sent>,
}

impl FakeState {
    pub fn revoke_all_tokens(&self) {
        self.valid_tokens.lock().unwrap().clear();
    }

    pub fn answer_next(&self, status: u16, body: Value) {
        self.answers.lock().unwrap().push_back((status, body));
    }
}

pub struct FakeQq {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    pub sent: mpsc::UnboundedReceiver<Sent>,
}

impl FakeQq {
    pub async fn start() -> FakeQq {
        let (tx, sent) = mpsc::unbounded_channel();
        let state = Arc::new(FakeState {
            token_requests: AtomicU32::new(0),
            tokens_work: AtomicBool::new(true),
            valid_tokens: Mutex::new(HashSet::new()),
            answers: Mutex::new(VecDeque::new()),
            hang: AtomicBool::new(false),
            messages: AtomicU32::new(0),
            sent: tx,
        });
        let router = axum::Router::new()
            .route("/app/getAppAccessToken", post(token))
            .route("/v2/{kind}/{id}/messages", post(message))
            .with_state(state.clone());
        FakeQq {
            addr: serve(router).await,
            state,
            sent,
        }
    }

    pub fn token_requests(&self) -> u32 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// The next message the API received.
    pub async fn next_sent(&mut self) -> Sent {
        within(self.sent.recv())
            .await
            .expect("the fake API stopped")
    }

    pub fn assert_nothing_sent(&mut self) {
        if let Ok(sent) = self.sent.try_recv() {
            panic!("unexpected message {sent:?}");
        }
    }
}

/// `getAppAccessToken`: checks the credentials, issues `tok-<n>` for 7200 s.
async fn token(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    let n = state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    if !state.tokens_work.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    if body != json!({"appId": APP_ID, "clientSecret": SECRET}) {
        return Json(json!({"code": 100016, "message": "invalid appid or secret"})).into_response();
    }
    let token = format!("tok-{n}");
    state.valid_tokens.lock().unwrap().insert(token.clone());
    Json(json!({"access_token": token, "expires_in": "7200"})).into_response()
}

/// The group and C2C message endpoints.
async fn message(
    State(state): State<Arc<FakeState>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    state
        .sent
        .send(Sent {
            path: format!("/v2/{kind}/{id}/messages"),
            authorization: authorization.clone(),
            body,
        })
        .unwrap();
    let valid = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("QQBot "))
        .is_some_and(|t| state.valid_tokens.lock().unwrap().contains(t));
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 11244, "message": "token not exist or expire"})),
        )
            .into_response();
    }
    if state.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    if let Some((status, body)) = state.answers.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let n = state.messages.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"id": format!("BOT{n}"), "timestamp": 1_725_442_341})).into_response()
}

/// The adapter's settings against `fake`.
pub fn config(fake: &FakeQq) -> QqBotConfig {
    QqBotConfig {
        app_id: APP_ID.into(),
        secret: SECRET.into(),
        api_base: format!("http://{}", fake.addr),
        token_url: format!("http://{}/app/getAppAccessToken", fake.addr),
        token_retry: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        action_timeout: Duration::from_secs(5),
        ..QqBotConfig::default()
    }
}

/// The adapter, running, its webhook served on a loopback port.
pub struct Bot {
    pub qqbot: Arc<QqBot>,
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<Event>,
    pub clock: Arc<ManualClock>,
    pub secret: String,
    pub run: JoinHandle<Result<(), AdapterError>>,
}

impl Bot {
    /// The adapter against `fake`, up (its first token obtained).
    pub async fn start(fake: &FakeQq) -> Bot {
        let mut bot = Bot::start_with(config(fake)).await;
        bot.expect_state(ConnectionState::Up).await;
        bot
    }

    /// The adapter with `config`, running, its Up not awaited.
    pub async fn start_with(config: QqBotConfig) -> Bot {
        let clock = Arc::new(ManualClock::default());
        let secret = config.secret.clone();
        let qqbot = Arc::new(QqBot::with_clock(config, clock.clone()).unwrap());
        let addr = serve(qqbot.router()).await;
        let (tx, events) = mpsc::channel(64);
        let run = tokio::spawn(qqbot.clone().run(Arc::new(tx)));
        Bot {
            qqbot,
            addr,
            events,
            clock,
            secret,
            run,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/qqbot/webhook", self.addr)
    }

    /// Unix seconds on the adapter's clock.
    pub fn timestamp(&self) -> String {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string()
    }

    /// Posts `body` signed as the platform does; the status and the answer's body.
    pub async fn post(&self, body: &str) -> (u16, String) {
        let timestamp = self.timestamp();
        let signature = webhook_signature(&self.secret, &timestamp, body.as_bytes());
        self.post_with(
            body,
            &[
                ("x-signature-timestamp", &timestamp),
                ("x-signature-ed25519", &signature),
            ],
        )
        .await
    }

    /// Posts `body` with exactly `headers` (and the platform's others).
    pub async fn post_with(&self, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .header("user-agent", "QQBot-Callback")
            .header("x-bot-appid", APP_ID)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = within(request.send()).await.unwrap();
        let status = response.status().as_u16();
        (status, within(response.text()).await.unwrap())
    }

    /// Posts a dispatch event and checks the op 12 ACK.
    pub async fn push(&self, body: &str) {
        let (status, answer) = self.post(body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            serde_json::from_str::<Value>(&answer).unwrap(),
            json!({"op": 12, "d": 0})
        );
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

    pub async fn expect_state(&mut self, state: ConnectionState) {
        match self.next_event().await {
            Event::Connection(change) => {
                assert_eq!((change.account.as_str(), change.state), (APP_ID, state));
            }
            other => panic!("expected {state:?}, got {other:?}"),
        }
    }

    /// No event is waiting right now.
    pub fn assert_no_event(&mut self) {
        if let Ok(event) = self.events.try_recv() {
            panic!("unexpected event {event:?}");
        }
    }
}

/// A `GROUP_AT_MESSAGE_CREATE` payload.
pub fn group_event(message_id: &str, content: &str) -> String {
    json!({
        "op": 0,
        "id": format!("GROUP_AT_MESSAGE_CREATE:{message_id}"),
        "t": "GROUP_AT_MESSAGE_CREATE",
        "d": {
            "author": {"id": MEMBER, "member_openid": MEMBER, "union_openid": MEMBER},
            "content": content,
            "group_id": GROUP,
            "group_openid": GROUP,
            "id": message_id,
            "timestamp": "2024-09-04T17:32:21+08:00"
        }
    })
    .to_string()
}

/// A `C2C_MESSAGE_CREATE` payload.
pub fn c2c_event(message_id: &str, content: &str) -> String {
    json!({
        "op": 0,
        "id": format!("C2C_MESSAGE_CREATE:{message_id}"),
        "t": "C2C_MESSAGE_CREATE",
        "d": {
            "author": {"id": USER, "user_openid": USER, "union_openid": USER},
            "content": content,
            "id": message_id,
            "timestamp": "2024-09-04T17:32:21+08:00"
        }
    })
    .to_string()
}
