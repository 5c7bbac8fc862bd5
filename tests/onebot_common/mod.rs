//! Test helpers: the whole service (`bangban::server::serve`) on a loopback port with real sled
//! files, and a fake OneBot v11 implementation (NapCat-like) connecting over reverse WebSocket.
#![allow(dead_code)] // Each test binary uses its own part.

use bangban::config::Config;
use bangban::server::{Secrets, serve};
use bangban::store::Store;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "test-token-5f1c";
/// The bot's QQ account.
pub const BOT: &str = "123456789";

/// Seconds `within` waits; 0 for no tokio deadline at all (see `real_time_watchdog`).
static PATIENCE_SECS: AtomicU64 = AtomicU64::new(20);

/// Fails the test instead of hanging.
pub async fn within<F: Future>(future: F) -> F::Output {
    match PATIENCE_SECS.load(Ordering::Relaxed) {
        0 => future.await,
        secs => tokio::time::timeout(Duration::from_secs(secs), future)
            .await
            .expect("timed out waiting"),
    }
}

/// For tests under tokio's paused clock. While every task waits on something outside tokio
/// (sled's flush thread), tokio advances virtual time from timer to timer, however far: any
/// tokio deadline would fire at once. So such a test has none; a thread on the real clock
/// ends the process if it hangs.
pub fn real_time_watchdog(limit: Duration) {
    PATIENCE_SECS.store(0, Ordering::Relaxed);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("the test hung for {limit:?} of real time");
        std::process::exit(101);
    });
}

/// Asserts that no window of `times` holds more sends than `bucket` lets through:
/// `burst + window / interval` (the window measured generously, by `slack`).
pub fn assert_paced(
    times: &[tokio::time::Instant],
    bucket: bangban::config::service::Bucket,
    slack: Duration,
    what: &str,
) {
    let interval = bucket.interval();
    for i in 0..times.len() {
        for j in i..times.len() {
            let window = times[j] - times[i] + slack;
            let allowed = bucket.burst as u128 + window.as_nanos() / interval.as_nanos();
            assert!(
                (j - i + 1) as u128 <= allowed,
                "{what}: {} sends within {:?}",
                j - i + 1,
                times[j] - times[i]
            );
        }
    }
}

/// The shipped config with pacing off (tests of pacing turn it on), short retries and no daily
/// digest.
pub fn config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
    let mut config = Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    config.service.pacing.enabled = false;
    config.service.outbox.retry_initial_secs = 1;
    config.service.outbox.retry_max_secs = 2;
    // The daily digest would go out at the first clock tick after 08:30 local: what a test
    // expects in the outbox must not depend on the hour it runs (tests/digest.rs tests it).
    config.org.digest.at = None;
    config
}

pub fn secrets() -> Secrets {
    Secrets {
        onebot_token: Some(TOKEN.into()),
        onebot_secret: None,
        ..Default::default()
    }
}

/// A payload from the OneBot v11 fixtures (copied from the published protocol payloads).
pub fn fixture(key: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/onebot-v11.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Value = serde_json::from_str(&text).unwrap();
    all[key].clone()
}

/// A resident's group message @-mentioning the bot, shaped like the fixture (NapCat's arrays).
pub fn question(message_id: u64, group: u64, user: u64, text: &str) -> Value {
    let mut event = fixture("group_message_array");
    event["self_id"] = json!(BOT.parse::<u64>().unwrap());
    event["message_id"] = json!(message_id);
    event["group_id"] = json!(group);
    event["user_id"] = json!(user);
    event["message"] = json!([
        {"type": "at", "data": {"qq": BOT}},
        {"type": "text", "data": {"text": format!(" {text}")}},
    ]);
    event["raw_message"] = json!(format!("[CQ:at,qq={BOT}] {text}"));
    event["sender"] = json!({"user_id": user, "nickname": "李阿姨", "card": "", "role": "member"});
    event
}

/// The service, running on a loopback port over a data directory.
pub struct Service {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Service {
    pub async fn start(config: Config, data: &Path) -> Service {
        let store = Store::open(data).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(Arc::new(config), store, secrets(), listener, async {
            let _ = stopped.await;
        }));
        Service {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Shuts down as on SIGTERM and waits until the data directory is released.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        within(&mut self.task).await.unwrap().unwrap();
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub async fn connect(&self) -> Fake {
        connect(self.addr).await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        get(self.addr, path).await
    }

    pub async fn metric(&self, series: &str) -> i64 {
        metric(self.addr, series).await
    }

    pub async fn wait_metric(&self, series: &str, value: i64) {
        wait_metric(self.addr, series, value).await
    }
}

/// GET `path` over HTTP: status and body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A series' value in `/metrics` (0 when absent), e.g.
/// `bangban_messages_out_total{platform="onebot"}`.
pub async fn metric(addr: SocketAddr, series: &str) -> i64 {
    let (_, text) = get(addr, "/metrics").await;
    metric_in(&text, series)
}

/// Waits until `/metrics` shows `series` at `value`: the service's own report of its state,
/// read until it says so.
pub async fn wait_metric(addr: SocketAddr, series: &str, value: i64) {
    within(async {
        loop {
            if metric(addr, series).await == value {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// NapCat connecting to `addr` as a Universal reverse WebSocket client with the right token.
pub async fn connect(addr: SocketAddr) -> Fake {
    let fake = Fake::connect(
        &format!("ws://{addr}/onebot/v11/ws"),
        &[
            ("X-Self-ID", BOT),
            ("X-Client-Role", "Universal"),
            ("Authorization", &format!("Bearer {TOKEN}")),
        ],
    )
    .await
    .expect("reverse WebSocket accepted");
    fake.lifecycle().await
}

/// A split client's Event connection to `addr`: questions come in, but the account cannot send.
pub async fn connect_events_only(addr: SocketAddr) -> Fake {
    Fake::connect(
        &format!("ws://{addr}/onebot/v11/ws/event"),
        &[
            ("X-Self-ID", BOT),
            ("Authorization", &format!("Bearer {TOKEN}")),
        ],
    )
    .await
    .expect("reverse WebSocket accepted")
}

pub fn metric_in(text: &str, series: &str) -> i64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.parse().unwrap())
}

/// The bot account's up series, its id masked as `/metrics` shows it by default.
pub fn connection_up() -> String {
    let account = bangban::runtime::metrics::masked_account(BOT);
    format!("bangban_connection_up{{platform=\"onebot\",account=\"{account}\"}}")
}

/// A fake OneBot implementation's end of one WebSocket connection.
pub struct Fake {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_message_id: u64,
}

/// A `send_group_msg` the bot made.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub group: String,
    pub quote: Option<String>,
    pub at: Option<String>,
    pub text: String,
}

#[derive(Debug)]
pub struct Request {
    pub action: String,
    pub params: Value,
    pub echo: Value,
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
        Ok(Fake {
            socket,
            next_message_id: 1_900_000_000,
        })
    }

    /// NapCat's first frame: the lifecycle `connect` event.
    pub async fn lifecycle(mut self) -> Fake {
        self.send(
            &json!({"time": 1718000000, "self_id": BOT.parse::<u64>().unwrap(),
            "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"}),
        )
        .await;
        self
    }

    pub async fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        within(self.socket.send(Message::text(text))).await.unwrap();
    }

    /// The next text frame as JSON (pings skipped); `None` when the bot closed the connection.
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

    pub async fn request(&mut self) -> Request {
        let frame = self.recv().await.expect("a request, not a close");
        Request {
            action: frame["action"].as_str().unwrap_or_default().to_owned(),
            params: frame["params"].clone(),
            echo: frame["echo"].clone(),
        }
    }

    pub async fn answer(&mut self, request: &Request, mut response: Value) {
        response["echo"] = request.echo.clone();
        self.send(&response).await;
    }

    /// The bot's next message, confirmed as NapCat does (with a fresh message id).
    pub async fn reply(&mut self) -> Reply {
        let request = self.request().await;
        assert_eq!(request.action, "send_group_msg", "{request:?}");
        self.next_message_id += 1;
        let mut ok = fixture("send_group_msg_response_napcat");
        ok["data"]["message_id"] = json!(self.next_message_id);
        self.answer(&request, ok).await;
        parse_reply(&request.params)
    }

    /// Replies, confirmed, until the one quoting `message_id`; all of them, in order.
    pub async fn replies_until(&mut self, message_id: &str) -> Vec<Reply> {
        let mut replies = Vec::new();
        loop {
            let reply = self.reply().await;
            let done = reply.quote.as_deref() == Some(message_id);
            replies.push(reply);
            if done {
                return replies;
            }
        }
    }
}

pub fn parse_reply(params: &Value) -> Reply {
    let mut reply = Reply {
        group: params["group_id"].to_string(),
        quote: None,
        at: None,
        text: String::new(),
    };
    for segment in params["message"].as_array().expect("segment arrays") {
        let data = &segment["data"];
        match segment["type"].as_str().unwrap() {
            "reply" => reply.quote = Some(data["id"].as_str().unwrap().to_owned()),
            "at" => reply.at = Some(data["qq"].as_str().unwrap().to_owned()),
            "text" => reply.text.push_str(data["text"].as_str().unwrap()),
            other => panic!("unexpected segment {other}"),
        }
    }
    reply.text = reply.text.trim().to_owned();
    reply
}

/// A fresh data directory.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}
