//! Test helpers: a fake Bot API on a loopback port, speaking the Bot API's JSON, and the
//! adapter running against it.
#![allow(dead_code)] // Each test binary uses its own part.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bangban_contract::{Adapter, AdapterError, ConnectionState, Event, Incoming};
use bangban_telegram::{Backoff, Telegram, TelegramConfig};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "7000:AAFakeTokenForTests_0123456789abcdef";
/// The bot of the fixtures, as the contract's account.
pub const BOT: &str = "7000";

/// Fails the test instead of hanging when something that should happen does not.
pub async fn within<F: Future>(future: F) -> F::Output {
    within_secs(10, future).await
}

pub async fn within_secs<F: Future>(secs: u64, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .expect("timed out waiting")
}

/// A payload from `tests/fixtures/bot-api.json`.
pub fn fixture(key: &str) -> Value {
    static ALL: OnceLock<Value> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/bot-api.json")).expect("fixtures are JSON")
    });
    all.get(key)
        .unwrap_or_else(|| panic!("no fixture {key}"))
        .clone()
}

/// An update fixture renumbered as update `id`.
pub fn update(key: &str, id: u64) -> Value {
    let mut update = fixture(key);
    update["update_id"] = json!(id);
    update
}

/// What the fake answers a call with.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `{"ok":true,"result":…}`.
    Result(Value),
    /// `{"ok":false,"error_code":status,"description":…}`, with `parameters.retry_after`.
    Error {
        status: u16,
        description: String,
        retry_after: Option<u64>,
    },
    /// Headers, then the connection breaks off in the middle of the body.
    Break,
}

impl Reply {
    pub fn updates(updates: Vec<Value>) -> Reply {
        Reply::Result(Value::Array(updates))
    }

    pub fn error(status: u16, description: &str) -> Reply {
        Reply::Error {
            status,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn too_many(retry_after: u64) -> Reply {
        Reply::Error {
            status: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Result(result) => (
                StatusCode::OK,
                axum::Json(json!({"ok": true, "result": result})),
            )
                .into_response(),
            Reply::Error {
                status,
                description,
                retry_after,
            } => {
                let mut body =
                    json!({"ok": false, "error_code": status, "description": description});
                if let Some(after) = retry_after {
                    body["parameters"] = json!({"retry_after": after});
                }
                (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
            }
            Reply::Break => {
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, _>(std::io::Error::other("connection cut"))
                });
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from_stream(broken))
                    .unwrap()
            }
        }
    }
}

/// A Bot API call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The JSON body, or the raw body as a string when it is not JSON (multipart).
    pub body: Value,
    pub at: tokio::time::Instant,
}

struct FakeState {
    calls: mpsc::UnboundedSender<Call>,
    updates: Mutex<VecDeque<Reply>>,
    updates_ready: Notify,
    sends: Mutex<VecDeque<Reply>>,
    get_me: Mutex<Reply>,
    next_message_id: AtomicI64,
}

/// The fake Bot API: `getMe`, `getUpdates` (long polling on a queue of scripted answers),
/// `sendMessage` (scripted answers, else success), `setWebhook`, `deleteWebhook`.
pub struct FakeApi {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    pub calls: mpsc::UnboundedReceiver<Call>,
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let (tx, calls) = mpsc::unbounded_channel();
        let state = Arc::new(FakeState {
            calls: tx,
            updates: Mutex::new(VecDeque::new()),
            updates_ready: Notify::new(),
            sends: Mutex::new(VecDeque::new()),
            get_me: Mutex::new(Reply::Result(fixture("get_me"))),
            next_message_id: AtomicI64::new(1300),
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(api))
            .with_state(state.clone());
        FakeApi {
            addr: serve(app).await,
            state,
            calls,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The answer to a coming `getUpdates` (in order; idle polls wait for one).
    pub fn push_updates(&self, reply: Reply) {
        self.state.updates.lock().unwrap().push_back(reply);
        self.state.updates_ready.notify_one();
    }

    /// The answer to the next `sendMessage` (else it succeeds).
    pub fn push_send(&self, reply: Reply) {
        self.state.sends.lock().unwrap().push_back(reply);
    }

    pub fn set_get_me(&self, reply: Reply) {
        *self.state.get_me.lock().unwrap() = reply;
    }

    /// The next call of `method`, skipping others.
    pub async fn next_call(&mut self, method: &str) -> Call {
        loop {
            let call = self.calls.recv().await.expect("the fake stopped");
            if call.method.eq_ignore_ascii_case(method) {
                return call;
            }
        }
    }

    /// Calls received so far and not yet read, of `method`.
    pub fn drain(&mut self, method: &str) -> Vec<Call> {
        let mut found = Vec::new();
        while let Ok(call) = self.calls.try_recv() {
            if call.method.eq_ignore_ascii_case(method) {
                found.push(call);
            }
        }
        found
    }
}

async fn api(
    State(state): State<Arc<FakeState>>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    if bot != format!("bot{TOKEN}") {
        return Reply::error(404, "Not Found");
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let call = Call {
        method: method.clone(),
        body: body.clone(),
        at: tokio::time::Instant::now(),
    };
    let _ = state.calls.send(call);
    // Bot API method names ignore case (teloxide calls `GetMe`, `SendMessage`…).
    match method.to_ascii_lowercase().as_str() {
        "getme" => state.get_me.lock().unwrap().clone(),
        "getupdates" => {
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
            let deadline = tokio::time::sleep(wait);
            tokio::pin!(deadline);
            loop {
                if let Some(reply) = state.updates.lock().unwrap().pop_front() {
                    return reply;
                }
                tokio::select! {
                    () = state.updates_ready.notified() => {}
                    () = &mut deadline => return Reply::updates(Vec::new()),
                }
            }
        }
        "sendmessage" => {
            if let Some(reply) = state.sends.lock().unwrap().pop_front() {
                return reply;
            }
            let mut sent = fixture("sent_message");
            sent["message_id"] = json!(state.next_message_id.fetch_add(1, Ordering::Relaxed));
            sent["chat"]["id"] = body["chat_id"].clone();
            sent["text"] = body["text"].clone();
            Reply::Result(sent)
        }
        "setwebhook" | "deletewebhook" => Reply::Result(json!(true)),
        _ => Reply::error(404, "Not Found: method not found"),
    }
}

/// Serves `app` on a fresh loopback port.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Settings for the fake at `api_url`: short delays, a short long poll.
pub fn config(api_url: &str) -> TelegramConfig {
    TelegramConfig {
        token: TOKEN.into(),
        api_url: api_url.into(),
        poll_timeout: Duration::from_secs(5),
        action_timeout: Duration::from_secs(5),
        reconnect: Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(2),
        },
        ..TelegramConfig::default()
    }
}

/// The adapter, running against a fake, its routes served on a loopback port.
pub struct Harness {
    pub fake: FakeApi,
    pub telegram: Arc<Telegram>,
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<Event>,
    pub run: JoinHandle<Result<(), AdapterError>>,
}

impl Harness {
    /// Runs the adapter with `config` (whose `api_url` is replaced by the fake's).
    pub async fn start(fake: FakeApi, config: TelegramConfig) -> Harness {
        let telegram = Arc::new(
            Telegram::new(TelegramConfig {
                api_url: fake.url(),
                ..config
            })
            .unwrap(),
        );
        let addr = serve(telegram.router()).await;
        let (tx, events) = mpsc::channel(64);
        let run = tokio::spawn(telegram.clone().run(Arc::new(tx)));
        Harness {
            fake,
            telegram,
            addr,
            events,
            run,
        }
    }

    pub fn url(&self, path: &str) -> String {
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

    pub async fn expect_state(&mut self, state: ConnectionState) {
        match self.next_event().await {
            Event::Connection(change) => {
                assert_eq!((change.account.as_str(), change.state), (BOT, state));
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
