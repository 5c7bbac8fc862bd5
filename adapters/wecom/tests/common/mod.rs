//! Test helpers: the adapter served on a loopback port, a clock the tests move, a fake WeCom
//! API server, and signed callbacks.
#![allow(dead_code)] // Each test binary uses its own part.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use bangban_contract::{Adapter, AdapterError, ConnectionState, Event, Incoming};
use bangban_wecom::{AiBotConfig, AppConfig, Clock, MsgCrypt, WeCom, WeComConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The published vectors' token, key and corp id (Tencent's WXBizMsgCrypt sample).
pub const TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
pub const KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
pub const CORP: &str = "ww1436e0e65a779aee";
pub const AGENT: u64 = 1000002;
/// The AI bot's own token and key (any valid pair).
pub const BOT_TOKEN: &str = "aibotToken42";
pub const BOT_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const AIBOT_ID: &str = "aib-test-01";
pub const APP_ACCOUNT: &str = "1000002";
pub const BOT_ACCOUNT: &str = "帮办助手";
pub const SECRET: &str = "corp-secret-for-tests";

/// Fails the test instead of hanging when something that should happen does not.
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

/// A value from the published WeCom vectors (copied into `tests/fixtures/`).
pub fn fixture(path: &[&str]) -> String {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wecom-callback.json"
    );
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut value: &Value = &serde_json::from_str::<Value>(&text).expect("fixtures are JSON");
    for key in path {
        value = value
            .get(key)
            .unwrap_or_else(|| panic!("no fixture {path:?}"));
    }
    value.as_str().expect("a string fixture").to_owned()
}

/// A clock the test sets.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<SystemTime>>);

impl TestClock {
    pub fn at(secs: u64) -> TestClock {
        TestClock(Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(secs))))
    }

    pub fn secs(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// A moment for callbacks in tests.
pub const NOW: u64 = 1_700_000_000;

pub fn app_config() -> AppConfig {
    AppConfig {
        corp_id: CORP.into(),
        corp_secret: SECRET.into(),
        agent_id: AGENT,
        token: TOKEN.into(),
        encoding_aes_key: KEY.into(),
        account: None,
    }
}

pub fn aibot_config() -> AiBotConfig {
    AiBotConfig {
        aibot_id: AIBOT_ID.into(),
        token: BOT_TOKEN.into(),
        encoding_aes_key: BOT_KEY.into(),
        account: Some(BOT_ACCOUNT.into()),
        name: None,
    }
}

/// The app and the AI bot configured, the API at `api` (if any). AI bot callbacks are
/// answered at once, empty (no passive replies: `tests/passive.rs` turns them on).
pub fn config(api: Option<SocketAddr>) -> WeComConfig {
    let base = api
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| "http://127.0.0.1:9".into());
    WeComConfig {
        app: Some(app_config()),
        aibot: Some(aibot_config()),
        api_base: base.clone(),
        webhook_base: base,
        action_timeout: Duration::from_secs(5),
        passive_wait: Duration::ZERO,
        ..WeComConfig::default()
    }
}

pub fn app_crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, KEY, CORP).unwrap()
}

pub fn bot_crypt() -> MsgCrypt {
    MsgCrypt::new(BOT_TOKEN, BOT_KEY, "").unwrap()
}

/// The adapter, running, its routes served on a loopback port.
pub struct Bot {
    pub wecom: Arc<WeCom>,
    pub addr: SocketAddr,
    pub clock: TestClock,
    pub events: mpsc::Receiver<Event>,
    pub run: JoinHandle<Result<(), AdapterError>>,
    pub http: reqwest::Client,
}

impl Bot {
    /// Runs the adapter and consumes the Up events of its accounts.
    pub async fn start(config: WeComConfig, clock: TestClock) -> Bot {
        let accounts = {
            let mut accounts = Vec::new();
            if let Some(app) = &config.app {
                accounts.push(app.account());
            }
            if let Some(bot) = &config.aibot {
                accounts.push(bot.account());
            }
            if !config.robots.is_empty() {
                accounts.push(config.robot_account.clone());
            }
            accounts
        };
        let wecom = Arc::new(WeCom::with_clock(config, Arc::new(clock.clone())));
        let addr = serve(wecom.router()).await;
        let (tx, events) = mpsc::channel(64);
        let run = tokio::spawn(wecom.clone().run(Arc::new(tx)));
        let mut bot = Bot {
            wecom,
            addr,
            clock,
            events,
            run,
            http: reqwest::Client::new(),
        };
        for account in accounts {
            bot.expect_up(&account).await;
        }
        bot
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `path` with `query` percent-encoded.
    pub fn url_with(&self, path: &str, query: &[(&str, &str)]) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        format!("{}?{query}", self.url(path))
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

    pub async fn expect_up(&mut self, account: &str) {
        match self.next_event().await {
            Event::Connection(change) => {
                assert_eq!(
                    (change.account.as_str(), change.state),
                    (account, ConnectionState::Up)
                );
            }
            other => panic!("expected {account} up, got {other:?}"),
        }
    }

    /// No event is waiting right now. Callbacks deliver before they answer, so after a
    /// refused request's answer anything it would have delivered is already here.
    pub fn assert_no_event(&mut self) {
        if let Ok(event) = self.events.try_recv() {
            panic!("unexpected event {event:?}");
        }
    }

    /// GETs `path` with `query`; the status and the body.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, String) {
        let response = within(self.http.get(self.url_with(path, query)).send())
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs `body` to `path` with `query`; the status and the body.
    pub async fn post(&self, path: &str, query: &[(&str, &str)], body: String) -> (u16, String) {
        let response = within(self.http.post(self.url_with(path, query)).body(body).send())
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs `plain` to the app route, encrypted and signed as WeCom does, at the clock's time.
    pub async fn post_app(&self, plain: &str) -> (u16, String) {
        let ts = self.clock.secs().to_string();
        let encrypt = app_crypt().encrypt(plain).unwrap();
        self.post_app_encrypted(&app_crypt(), &encrypt, &ts).await
    }

    /// POSTs an already encrypted `encrypt`, signed by `crypt` with `ts`.
    pub async fn post_app_encrypted(
        &self,
        crypt: &MsgCrypt,
        encrypt: &str,
        ts: &str,
    ) -> (u16, String) {
        let nonce = "1597212914";
        let signature = crypt.signature(ts, nonce, encrypt);
        let body = format!(
            "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>"
        );
        self.post(
            "/wecom/app",
            &[
                ("msg_signature", &signature),
                ("timestamp", ts),
                ("nonce", nonce),
            ],
            body,
        )
        .await
    }

    /// POSTs `plain` (JSON) to the AI bot route, encrypted and signed, at the clock's time.
    pub async fn post_aibot(&self, plain: &Value) -> (u16, String) {
        self.poster().post_aibot(plain).await
    }

    /// What posts callbacks as WeCom does, apart from the bot (to have one in flight while the
    /// test sends).
    pub fn poster(&self) -> Poster {
        Poster {
            addr: self.addr,
            clock: self.clock.clone(),
            http: self.http.clone(),
        }
    }
}

/// Posts AI bot callbacks as WeCom does (see [`Bot::poster`]).
#[derive(Clone)]
pub struct Poster {
    addr: SocketAddr,
    clock: TestClock,
    http: reqwest::Client,
}

impl Poster {
    /// The callback's URL and body for `plain`, encrypted and signed at the clock's time.
    pub fn aibot_request(&self, plain: &Value) -> (String, String) {
        let ts = self.clock.secs().to_string();
        let nonce = AIBOT_NONCE;
        let encrypt = bot_crypt().encrypt(&plain.to_string()).unwrap();
        let signature = bot_crypt().signature(&ts, nonce, &encrypt);
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("msg_signature", signature.as_str()),
                ("timestamp", &ts),
                ("nonce", nonce),
            ])
            .finish();
        (
            format!("/wecom/aibot?{query}"),
            json!({"encrypt": encrypt}).to_string(),
        )
    }

    /// POSTs `plain` to the AI bot route; the status and the body.
    pub async fn post_aibot(&self, plain: &Value) -> (u16, String) {
        let (path, body) = self.aibot_request(plain);
        let response = within(
            self.http
                .post(format!("http://{}{path}", self.addr))
                .body(body)
                .send(),
        )
        .await
        .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// The nonce [`Bot::post_aibot`] signs with; WeCom wants it back in a passive reply.
pub const AIBOT_NONCE: &str = "88888";

/// A passive reply as WeCom reads it: the response body of an AI bot callback (posted by
/// [`Bot::post_aibot`]), its signature checked over its ciphertext with its timestamp and the
/// callback's nonce, decrypted. `None` for an empty body.
pub fn passive_reply(body: &str) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    let reply: Value = serde_json::from_str(body).expect("a JSON reply");
    let encrypt = reply["encrypt"].as_str().expect("encrypt");
    let timestamp = reply["timestamp"].as_u64().expect("a numeric timestamp");
    assert_eq!(reply["nonce"], AIBOT_NONCE, "the callback's nonce");
    assert_eq!(
        reply["msgsignature"].as_str(),
        Some(
            bot_crypt()
                .signature(&timestamp.to_string(), AIBOT_NONCE, encrypt)
                .as_str()
        ),
        "signed over its ciphertext"
    );
    let plain = bot_crypt()
        .decrypt(encrypt)
        .expect("decrypts with the AI bot's key");
    Some(serde_json::from_str(&plain).expect("a JSON message"))
}

/// An app text message from `user`.
pub fn app_text(user: &str, msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>{AGENT}</AgentID></xml>"
    )
}

/// Serves `router` on a loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// One request the fake WeCom API received.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: &'static str,
    pub query: HashMap<String, String>,
    pub body: Value,
}

/// A fake WeCom API: `gettoken`, `message/send`, `agent/get`, the robot webhook and
/// `aibot/response`.
/// Each path answers from its script, then `{"errcode":0}` (gettoken: a fresh token each call).
#[derive(Clone)]
pub struct FakeWeCom {
    pub addr: SocketAddr,
    calls: Arc<Mutex<mpsc::UnboundedReceiver<Call>>>,
    script: Arc<Mutex<HashMap<&'static str, VecDeque<Value>>>>,
}

#[derive(Clone)]
struct FakeState {
    seen: mpsc::UnboundedSender<Call>,
    script: Arc<Mutex<HashMap<&'static str, VecDeque<Value>>>>,
    tokens: Arc<Mutex<u32>>,
}

pub const GETTOKEN: &str = "/cgi-bin/gettoken";
pub const MESSAGE_SEND: &str = "/cgi-bin/message/send";
pub const WEBHOOK: &str = "/cgi-bin/webhook/send";
pub const AIBOT_RESPONSE: &str = "/cgi-bin/aibot/response";
pub const AGENT_GET: &str = "/cgi-bin/agent/get";

impl FakeState {
    fn answer(&self, path: &'static str, query: HashMap<String, String>, body: Value) -> Value {
        self.seen.send(Call { path, query, body }).unwrap();
        if let Some(answer) = self
            .script
            .lock()
            .unwrap()
            .get_mut(path)
            .and_then(VecDeque::pop_front)
        {
            return answer;
        }
        if path == GETTOKEN {
            let mut n = self.tokens.lock().unwrap();
            *n += 1;
            return json!({"errcode": 0, "errmsg": "ok", "access_token": format!("TOKEN-{n}"), "expires_in": 7200});
        }
        json!({"errcode": 0, "errmsg": "ok"})
    }
}

impl FakeWeCom {
    pub async fn start() -> FakeWeCom {
        let (seen, calls) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(HashMap::new()));
        let state = FakeState {
            seen,
            script: script.clone(),
            tokens: Arc::new(Mutex::new(0)),
        };
        let router = axum::Router::new()
            .route(
                GETTOKEN,
                get(|State(s): State<FakeState>, Query(q): Query<HashMap<String, String>>| async move {
                    Json(s.answer(GETTOKEN, q, Value::Null))
                }),
            )
            .route(
                AGENT_GET,
                get(|State(s): State<FakeState>, Query(q): Query<HashMap<String, String>>| async move {
                    Json(s.answer(AGENT_GET, q, Value::Null))
                }),
            )
            .route(
                MESSAGE_SEND,
                post(|State(s): State<FakeState>, Query(q): Query<HashMap<String, String>>, Json(b): Json<Value>| async move {
                    Json(s.answer(MESSAGE_SEND, q, b))
                }),
            )
            .route(
                WEBHOOK,
                post(|State(s): State<FakeState>, Query(q): Query<HashMap<String, String>>, Json(b): Json<Value>| async move {
                    Json(s.answer(WEBHOOK, q, b))
                }),
            )
            .route(
                AIBOT_RESPONSE,
                post(|State(s): State<FakeState>, Query(q): Query<HashMap<String, String>>, Json(b): Json<Value>| async move {
                    Json(s.answer(AIBOT_RESPONSE, q, b))
                }),
            )
            .with_state(state);
        let addr = serve(router).await;
        FakeWeCom {
            addr,
            calls: Arc::new(Mutex::new(calls)),
            script,
        }
    }

    /// The next answers of `path`, in order.
    pub fn script(&self, path: &'static str, answers: Vec<Value>) {
        self.script
            .lock()
            .unwrap()
            .entry(path)
            .or_default()
            .extend(answers);
    }

    /// Every call received so far (the fake has answered each before the sender returned).
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.calls.lock().unwrap();
        let mut all = Vec::new();
        while let Ok(call) = calls.try_recv() {
            all.push(call);
        }
        all
    }
}
