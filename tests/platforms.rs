//! The whole service (`bangban::server::serve`) with residents and agents on different
//! platforms: fake Telegram Bot API and QQ bot API servers on loopback speaking the documented
//! JSON, and the fake OneBot implementation of the OneBot tests. The help desk's flow —
//! escalate, claim, reply, resolve, rate — crosses platforms: the agent works in one, the
//! resident is answered in the other.

mod onebot_common;
mod platforms_common;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use ed25519_dalek::{Signer, SigningKey};
use onebot_common::{BOT, data_dir, question, within};
use platforms_common::{agents_chats, config_with, start_fake_wecom};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The Telegram bot (7000, @bangban_bot in the fixtures).
const TG_TOKEN: &str = "7000:test-token";
/// The resident's Telegram group (the fixtures' 幸福社区便民服务群), mapped to 大湖村.
const TG_GROUP: i64 = -1001987654321;
/// The agents' Telegram group and the 大湖村 agent's Telegram user id.
const TG_AGENTS: i64 = -1001800000001;
const TG_AGENT: i64 = 555000900;
/// The QQ official bot, its secret, and a QQ group mapped to 大湖村.
const QQ_APP: &str = "102012345";
const QQ_SECRET: &str = "bangbanTestSecret0123";
const QQ_GROUP: &str = "C9F778FE6ADF9D1D1DBE395BF744A33A";
const QQ_MEMBER: &str = "E4F4AEA33253A2797FB897C50B81D7ED";
/// The WeCom AI bot, its callback token and key, a WeCom group of 大湖村 and a resident in it.
const AIBOT: &str = "aib-test-01";
const AIBOT_TOKEN: &str = "aibotToken42";
const AIBOT_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const WECOM_GROUP: &str = "wrkDAHU0001";
const WECOM_RESIDENT: &str = "zhaoliu";
/// A WeCom group robot (send-only) in the agents' WeCom group, and its webhook key.
const ROBOT_CHAT: &str = "wecom-agents";
const ROBOT_KEY: &str = "robot-key-0001";
/// The OneBot agents' group and the 大湖村 agent's QQ number (shipped org.toml).
const ONEBOT_AGENTS: u64 = 900100;
const ONEBOT_AGENT: u64 = 800001;
/// Outside the guide: always a ticket.
const UNCOVERED: &str = "村里的路灯坏了找谁";

// ---------------------------------------------------------------------------------------------
// The configuration: the shipped bot-config, copied, with 大湖村 reachable on more platforms.

/// 大湖村's groups on Telegram, the QQ bot and WeCom besides OneBot, and its agent's Telegram id.
fn dahu_everywhere(org: String) -> String {
    org.replace(
        r#"groups = { onebot = ["900001"], sandbox = ["sandbox"] }"#,
        &format!(
            r#"groups = {{ onebot = ["900001"], sandbox = ["sandbox"], telegram = ["{TG_GROUP}"], qqbot = ["{QQ_GROUP}"], wecom = ["{WECOM_GROUP}"] }}"#
        ),
    )
    .replace(
        r#"accounts = { onebot = "800001", sandbox = "agent" }"#,
        &format!(r#"accounts = {{ onebot = "800001", sandbox = "agent", telegram = "{TG_AGENT}" }}"#),
    )
}

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    data: std::path::PathBuf,
    _data: tempfile::TempDir,
    _config: tempfile::TempDir,
}

impl Running {
    async fn start(
        config: bangban::config::Config,
        config_dir: tempfile::TempDir,
        secrets: bangban::server::Secrets,
    ) -> Running {
        Running::start_with(config, config_dir, secrets, |_| {}).await
    }

    /// [`Running::start`], with `prepare` run on the store first.
    async fn start_with(
        config: bangban::config::Config,
        config_dir: tempfile::TempDir,
        secrets: bangban::server::Secrets,
        prepare: impl FnOnce(&bangban::store::Store),
    ) -> Running {
        // `wait_connected` reads the account ids from `/healthz`.
        let mut config = config;
        config.service.server.show_accounts = true;
        let (data_dir, data) = data_dir();
        let store = bangban::store::Store::open(&data).unwrap();
        prepare(&store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bangban::server::serve(
            Arc::new(config),
            store,
            secrets,
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        Running {
            addr,
            stop: Some(stop),
            task,
            data,
            _data: data_dir,
            _config: config_dir,
        }
    }

    /// Waits until `/healthz` lists `account` as connected on `platform`.
    async fn wait_connected(&self, platform: &str, account: &str) {
        within(async {
            loop {
                let (_, body) = onebot_common::get(self.addr, "/healthz").await;
                let health: Value = serde_json::from_str(&body).unwrap();
                if health["connected"][platform]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == account))
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    /// Shuts down as on SIGTERM; the data directory, released, stays for reading.
    async fn stop(mut self) -> (std::path::PathBuf, tempfile::TempDir) {
        let _ = self.stop.take().unwrap().send(());
        within(&mut self.task).await.unwrap().unwrap();
        (self.data.clone(), self._data)
    }
}

// ---------------------------------------------------------------------------------------------
// A fake Telegram Bot API: getMe, long-polled getUpdates, sendMessage.

struct FakeTelegram {
    updates: Mutex<Vec<Value>>,
    next_update: AtomicI64,
    next_message: AtomicI64,
    sent: mpsc::UnboundedSender<Value>,
}

fn telegram_fixture(key: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/telegram-bot-api.json"
    ))
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()[key].clone()
}

impl FakeTelegram {
    /// Serves the fake API; the `sendMessage` bodies arrive on the receiver.
    async fn start() -> (Arc<FakeTelegram>, String, mpsc::UnboundedReceiver<Value>) {
        let (sent, sends) = mpsc::unbounded_channel();
        let fake = Arc::new(FakeTelegram {
            updates: Mutex::new(Vec::new()),
            next_update: AtomicI64::new(851_793_600),
            next_message: AtomicI64::new(9001),
            sent,
        });
        // teloxide names methods in either case depending on the version; serve both.
        let mut app = axum::Router::new();
        for (method, handler) in [
            ("getMe", "me"),
            ("getUpdates", "up"),
            ("sendMessage", "send"),
        ] {
            for name in [method.to_owned(), capitalised(method)] {
                let path = format!("/bot{TG_TOKEN}/{name}");
                app = match handler {
                    "me" => app.route(&path, post(tg_get_me)),
                    "up" => app.route(&path, post(tg_get_updates)),
                    _ => app.route(&path, post(tg_send_message)),
                };
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = app.with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url, sends)
    }

    /// Queues a message update for the next getUpdates.
    fn push(&self, message: Value) {
        let update_id = self.next_update.fetch_add(1, Ordering::SeqCst);
        self.updates
            .lock()
            .unwrap()
            .push(json!({"update_id": update_id, "message": message}));
    }

    /// A group message from `from` in `chat`; `reply_to` quotes one of the bot's messages.
    fn message(&self, chat: i64, from: Value, text: &str, reply_to: Option<i64>) -> Value {
        let id = self.next_message.fetch_add(1, Ordering::SeqCst);
        let mut message = json!({
            "message_id": id, "from": from, "date": 1767225600, "text": text,
            "chat": {"id": chat, "title": "群", "type": "supergroup"},
        });
        if text.starts_with("@bangban_bot") {
            message["entities"] = json!([{"offset": 0, "length": 12, "type": "mention"}]);
        }
        if let Some(bot_message) = reply_to {
            message["reply_to_message"] = json!({
                "message_id": bot_message, "from": telegram_fixture("get_me"), "date": 1767225600,
                "chat": {"id": chat, "title": "群", "type": "supergroup"}, "text": "…",
            });
        }
        message
    }
}

fn capitalised(method: &str) -> String {
    let mut chars = method.chars();
    let first = chars.next().unwrap().to_ascii_uppercase();
    std::iter::once(first).chain(chars).collect()
}

async fn tg_get_me() -> Json<Value> {
    Json(json!({"ok": true, "result": telegram_fixture("get_me")}))
}

async fn tg_get_updates(State(f): State<Arc<FakeTelegram>>) -> Json<Value> {
    let batch: Vec<Value> = std::mem::take(&mut *f.updates.lock().unwrap());
    if batch.is_empty() {
        // Long polling: an empty answer after a while, as the Bot API gives.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Json(json!({"ok": true, "result": batch}))
}

async fn tg_send_message(
    State(f): State<Arc<FakeTelegram>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let id = f.next_message.fetch_add(1, Ordering::SeqCst);
    let mut sent = body.clone();
    sent["message_id"] = json!(id);
    let _ = f.sent.send(sent);
    Json(json!({"ok": true, "result": {
        "message_id": id, "date": 1767225700,
        "chat": {"id": body["chat_id"], "type": "supergroup", "title": "群"},
        "from": telegram_fixture("get_me"), "text": body["text"],
    }}))
}

fn resident() -> Value {
    telegram_fixture("group_mention")["message"]["from"].clone()
}

fn tg_agent() -> Value {
    json!({"id": TG_AGENT, "is_bot": false, "first_name": "代办员", "last_name": "陈"})
}

/// The next sendMessage to `chat`; others before it are returned too, in order.
async fn tg_next_to(sends: &mut mpsc::UnboundedReceiver<Value>, chat: i64) -> Value {
    loop {
        let sent = within(sends.recv()).await.expect("the fake API runs");
        if sent["chat_id"] == json!(chat) {
            return sent;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A fake QQ bot API: getAppAccessToken and the group message endpoint.

struct FakeQq {
    /// Error answers for the next message posts, in order; then success.
    refusals: Mutex<Vec<Value>>,
    sent: mpsc::UnboundedSender<(String, Value)>,
}

async fn qq_token(Json(body): Json<Value>) -> Json<Value> {
    assert_eq!(body, json!({"appId": QQ_APP, "clientSecret": QQ_SECRET}));
    Json(json!({"access_token": "tok-1", "expires_in": "7200"}))
}

async fn qq_message(
    State(f): State<Arc<FakeQq>>,
    UrlPath((kind, id)): UrlPath<(String, String)>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let _ = f.sent.send((format!("/v2/{kind}/{id}/messages"), body));
    let refusal = {
        let mut refusals = f.refusals.lock().unwrap();
        (!refusals.is_empty()).then(|| refusals.remove(0))
    };
    match refusal {
        Some(error) => (axum::http::StatusCode::BAD_REQUEST, Json(error)),
        None => (
            axum::http::StatusCode::OK,
            Json(json!({"id": "BOT1", "timestamp": 1_725_442_341})),
        ),
    }
}

async fn start_fake_qq() -> (
    Arc<FakeQq>,
    String,
    mpsc::UnboundedReceiver<(String, Value)>,
) {
    let (sent, sends) = mpsc::unbounded_channel();
    let fake = Arc::new(FakeQq {
        refusals: Mutex::new(Vec::new()),
        sent,
    });
    let app = axum::Router::new()
        .route("/app/getAppAccessToken", post(qq_token))
        .route("/v2/{kind}/{id}/messages", post(qq_message))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url, sends)
}

/// Posts a `GROUP_AT_MESSAGE_CREATE` from the resident to the service's webhook, signed as
/// the platform signs (Ed25519 over timestamp + body, the seed from the bot secret).
async fn qq_push(addr: std::net::SocketAddr, message_id: &str, content: &str) {
    let body = json!({
        "op": 0, "id": format!("GROUP_AT_MESSAGE_CREATE:{message_id}"),
        "t": "GROUP_AT_MESSAGE_CREATE",
        "d": {
            "author": {"id": QQ_MEMBER, "member_openid": QQ_MEMBER, "union_openid": QQ_MEMBER},
            "content": content, "group_id": QQ_GROUP, "group_openid": QQ_GROUP,
            "id": message_id, "timestamp": "2026-12-03T10:32:21+08:00"
        }
    })
    .to_string();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut seed = QQ_SECRET.repeat(32 / QQ_SECRET.len() + 1).into_bytes();
    seed.truncate(32);
    let key = SigningKey::from_bytes(&seed.try_into().unwrap());
    let signature = key.sign(format!("{timestamp}{body}").as_bytes());
    let hex: String = signature
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let response = within(
        reqwest::Client::new()
            .post(format!("http://{addr}/qqbot/webhook"))
            .header("content-type", "application/json")
            .header("x-bot-appid", QQ_APP)
            .header("x-signature-timestamp", &timestamp)
            .header("x-signature-ed25519", hex)
            .body(body)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let ack: Value = within(response.json()).await.unwrap();
    assert_eq!(ack, json!({"op": 12, "d": 0}), "the op 12 ACK");
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_resident_is_helped_by_an_agent_working_in_a_qq_group() {
    let (telegram, api_url, mut tg_sends) = FakeTelegram::start().await;
    let (config_dir, config) = config_with(
        |org| {
            agents_chats(
                dahu_everywhere(org),
                &format!(
                    "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"{ONEBOT_AGENTS}\"\naccount = \"{BOT}\"\n"
                ),
            )
        },
        |toml| toml + &format!("\n[telegram]\nenabled = true\napi_url = \"{api_url}\"\n"),
    );
    let mut secrets = onebot_common::secrets();
    secrets
        .platforms
        .insert("BANGBAN_TELEGRAM_TOKEN".into(), TG_TOKEN.into());
    let service = Running::start(config, config_dir, secrets).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("onebot", BOT).await;

    // An ordinary question in the Telegram group is answered as a reply to it.
    let asked = telegram.message(
        TG_GROUP,
        resident(),
        "@bangban_bot 办社保卡要带什么材料",
        None,
    );
    let asked_id = asked["message_id"].clone();
    telegram.push(asked);
    let answer = tg_next_to(&mut tg_sends, TG_GROUP).await;
    assert_eq!(answer["reply_parameters"]["message_id"], asked_id);
    assert!(
        answer["text"].as_str().unwrap().contains("居民身份证"),
        "{answer}"
    );

    // Outside the guide: a ticket; the resident is told its number on Telegram…
    let asked = telegram.message(
        TG_GROUP,
        resident(),
        &format!("@bangban_bot {UNCOVERED}"),
        None,
    );
    let asked_id = asked["message_id"].clone();
    telegram.push(asked);
    let told = tg_next_to(&mut tg_sends, TG_GROUP).await;
    assert_eq!(told["reply_parameters"]["message_id"], asked_id);
    let told_text = told["text"].as_str().unwrap();
    assert!(told_text.contains("工单号：1"), "{told_text}");
    assert!(
        !told_text.contains("再@我"),
        "Telegram can send later: {told_text}"
    );
    // …and the agents are notified in their QQ group, through the OneBot account.
    let note = qq.reply().await;
    assert_eq!(note.group, ONEBOT_AGENTS.to_string());
    assert!(
        note.text.contains("新工单 1") && note.text.contains("路灯"),
        "{note:?}"
    );

    // The agent claims and replies in QQ; the reply reaches the resident on Telegram.
    qq.send(&question(71, ONEBOT_AGENTS, ONEBOT_AGENT, "接单 1"))
        .await;
    assert!(qq.reply().await.text.contains("已接单：工单1"));
    qq.send(&question(
        72,
        ONEBOT_AGENTS,
        ONEBOT_AGENT,
        "回复 1 路灯已经报修，明天来修",
    ))
    .await;
    let relayed = tg_next_to(&mut tg_sends, TG_GROUP).await;
    let relayed_text = relayed["text"].as_str().unwrap();
    assert!(
        relayed_text.contains("路灯已经报修，明天来修"),
        "{relayed_text}"
    );
    assert_eq!(
        relayed["reply_parameters"]["message_id"], asked_id,
        "quotes the question"
    );
    assert!(qq.reply().await.text.contains("已转达"));

    // Resolved in QQ: the resident is asked to rate, on Telegram, and rates by replying.
    qq.send(&question(73, ONEBOT_AGENTS, ONEBOT_AGENT, "办结 1"))
        .await;
    let asked_rating = tg_next_to(&mut tg_sends, TG_GROUP).await;
    let prompt_text = asked_rating["text"].as_str().unwrap();
    assert!(
        prompt_text.contains("回复数字：\n1 非常满意") && !prompt_text.contains("@我"),
        "the bot sees every message here: {asked_rating}"
    );
    let _ = qq.reply().await; // 已办结, to the agent
    let rating_prompt = asked_rating["message_id"].as_i64().unwrap();
    telegram.push(telegram.message(TG_GROUP, resident(), "1", Some(rating_prompt)));
    let thanks = tg_next_to(&mut tg_sends, TG_GROUP).await;
    assert!(
        thanks["text"].as_str().unwrap().contains("谢谢您的评价"),
        "{thanks}"
    );

    let _ = service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qq_bot_resident_is_answered_by_passive_replies_and_helped_from_telegram() {
    let (telegram, tg_url, mut tg_sends) = FakeTelegram::start().await;
    let (qq_api, qq_url, mut qq_sends) = start_fake_qq().await;
    let (config_dir, config) = config_with(
        |org| {
            agents_chats(
                dahu_everywhere(org),
                &format!(
                    "[[agents_chats]]\nplatform = \"telegram\"\nchat = \"{TG_AGENTS}\"\naccount = \"7000\"\n"
                ),
            )
        },
        |toml| {
            let onebot_off = toml.replacen("[onebot]", "[onebot]\nenabled = false", 1);
            let onebot_off = onebot_off.replacen("\nenabled = true\n", "\n", 1);
            onebot_off
                + &format!(
                    "\n[telegram]\nenabled = true\napi_url = \"{tg_url}\"\n\
                     \n[qqbot]\nenabled = true\napp_id = \"{QQ_APP}\"\napi_base = \"{qq_url}\"\n\
                     token_url = \"{qq_url}/app/getAppAccessToken\"\n"
                )
        },
    );
    let mut secrets = bangban::server::Secrets::default();
    for (name, value) in [
        ("BANGBAN_TELEGRAM_TOKEN", TG_TOKEN),
        ("BANGBAN_QQBOT_SECRET", QQ_SECRET),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start(config, config_dir, secrets).await;
    service.wait_connected("qqbot", QQ_APP).await;
    service.wait_connected("telegram", "7000").await;
    let group_path = format!("/v2/groups/{QQ_GROUP}/messages");

    // Outside the guide: the ticket's notice is a passive reply to the resident's message,
    // and says the agent's answer comes with their next message.
    qq_push(service.addr, "ROBOT1.0.q1", &format!(" {UNCOVERED}")).await;
    let (path, told) = within(qq_sends.recv()).await.unwrap();
    assert_eq!(path, group_path);
    assert_eq!(
        (told["msg_id"].as_str(), told["msg_seq"].as_u64()),
        (Some("ROBOT1.0.q1"), Some(1))
    );
    let told_text = told["content"].as_str().unwrap();
    assert!(
        told_text.contains("工单号：1") && told_text.contains("再@我"),
        "{told_text}"
    );
    let note = tg_next_to(&mut tg_sends, TG_AGENTS).await;
    assert!(
        note["text"].as_str().unwrap().contains("新工单 1"),
        "{note}"
    );

    // The agent works in Telegram. By the time they answer, the platform refuses the
    // resident's message as expired: the answer is held for the chat's next message.
    telegram.push(telegram.message(TG_AGENTS, tg_agent(), "接单 1", None));
    assert!(
        tg_next_to(&mut tg_sends, TG_AGENTS).await["text"]
            .as_str()
            .unwrap()
            .contains("已接单：工单1")
    );
    qq_api
        .refusals
        .lock()
        .unwrap()
        .push(json!({"code": 40034005, "message": "msg_id expired"}));
    telegram.push(telegram.message(TG_AGENTS, tg_agent(), "回复 1 路灯已经报修", None));
    let (_, refused) = within(qq_sends.recv()).await.unwrap();
    assert!(
        refused["content"]
            .as_str()
            .unwrap()
            .contains("路灯已经报修")
    );
    let passed = tg_next_to(&mut tg_sends, TG_AGENTS).await;
    assert_eq!(
        passed["text"], "回复已记下（工单1），居民最迟在下次发消息时收到。",
        "the QQ bot only replies to the resident's messages"
    );

    // The resident writes again: the held answer goes out as a passive reply to that message,
    // beside the answer to what they wrote, with increasing `msg_seq`.
    qq_push(service.addr, "ROBOT1.0.q2", " 你好").await;
    let (answer, greeting) = (
        within(qq_sends.recv()).await.unwrap(),
        within(qq_sends.recv()).await.unwrap(),
    );
    let mut seqs = Vec::new();
    for (path, reply) in [&answer, &greeting] {
        assert_eq!(path, &group_path);
        assert_eq!(reply["msg_id"], "ROBOT1.0.q2", "{reply}");
        seqs.push(reply["msg_seq"].as_u64().unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, [1, 2], "msg_seq counts replies to the message");
    assert!(
        [&answer, &greeting]
            .iter()
            .any(|(_, r)| r["content"].as_str().unwrap().contains("路灯已经报修")),
        "{answer:?} {greeting:?}"
    );

    // Resolved from Telegram; the rating prompt goes out as a reply too, and the rating counts.
    telegram.push(telegram.message(TG_AGENTS, tg_agent(), "办结 1", None));
    let resolved = tg_next_to(&mut tg_sends, TG_AGENTS).await;
    assert_eq!(resolved["text"], "工单1已办结，会请居民评价。");
    let (_, prompt) = within(qq_sends.recv()).await.unwrap();
    assert!(
        prompt["content"]
            .as_str()
            .unwrap()
            .contains("@我并回复数字：\n1 非常满意"),
        "the QQ bot sees only @-messages in groups: {prompt}"
    );
    assert_eq!(
        (prompt["msg_id"].as_str(), prompt["msg_seq"].as_u64()),
        (Some("ROBOT1.0.q2"), Some(3))
    );
    qq_push(service.addr, "ROBOT1.0.q3", " 1").await;
    let (_, thanks) = within(qq_sends.recv()).await.unwrap();
    assert_eq!(thanks["msg_id"], "ROBOT1.0.q3");
    assert!(
        thanks["content"].as_str().unwrap().contains("谢谢您的评价"),
        "{thanks}"
    );

    let _ = service.stop().await;
}

/// Posts an AI bot group message from the resident, encrypted and signed as WeCom does; its
/// `response_url` on the fake API carries `response_code={code}`. The passive reply (the
/// callback's response, decrypted): the content of the finished stream, if any.
async fn wecom_push(
    addr: std::net::SocketAddr,
    api: &str,
    msgid: &str,
    code: &str,
    text: &str,
) -> Option<String> {
    let plain = json!({
        "msgid": msgid, "aibotid": AIBOT, "chatid": WECOM_GROUP, "chattype": "group",
        "from": {"userid": WECOM_RESIDENT},
        "response_url": format!("{api}/cgi-bin/aibot/response?response_code={code}"),
        "msgtype": "text", "text": {"content": format!("@帮办 {text}")},
    });
    let crypt = bangban_wecom::crypto::MsgCrypt::new(AIBOT_TOKEN, AIBOT_KEY, "").unwrap();
    let encrypt = crypt.encrypt(&plain.to_string()).unwrap();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = crypt.signature(&timestamp, "31337", &encrypt);
    let response = within(
        reqwest::Client::new()
            .post(format!(
                "http://{addr}/wecom/aibot?msg_signature={signature}&timestamp={timestamp}&nonce=31337"
            ))
            .body(json!({"encrypt": encrypt}).to_string())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.unwrap();
    if body.is_empty() {
        return None;
    }
    let reply: Value = serde_json::from_str(&body).unwrap();
    let plain: Value =
        serde_json::from_str(&crypt.decrypt(reply["encrypt"].as_str().unwrap()).unwrap()).unwrap();
    (plain["stream"]["finish"] == true)
        .then(|| plain["stream"]["content"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wecom_resident_is_helped_by_an_agent_working_in_a_qq_group() {
    let (api, mut wecom_sends) = start_fake_wecom().await;
    let (config_dir, config) = config_with(
        |org| {
            agents_chats(
                dahu_everywhere(org),
                &format!(
                    "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"{ONEBOT_AGENTS}\"\naccount = \"{BOT}\"\n\
                     \n[[agents_chats]]\nplatform = \"wecom\"\nchat = \"{ROBOT_CHAT}\"\naccount = \"wecom-robot\"\n"
                ),
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\naibot_id = \"{AIBOT}\"\naibot_name = \"帮办\"\n\
                 api_base = \"{api}\"\nrobots = {{ \"{ROBOT_CHAT}\" = \"BANGBAN_WECOM_ROBOT_AGENTS\" }}\n"
            )
        },
    );
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_AIBOT_TOKEN", AIBOT_TOKEN),
        ("BANGBAN_WECOM_AIBOT_AES_KEY", AIBOT_KEY),
        ("BANGBAN_WECOM_ROBOT_AGENTS", ROBOT_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start(config, config_dir, secrets).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("onebot", BOT).await;
    service.wait_connected("wecom", AIBOT).await;
    let mut next = async || within(wecom_sends.recv()).await.unwrap();

    // Outside the guide: the resident is told the ticket in the callback's own response (the
    // passive reply), and that an answer may need their next message.
    let told_text = wecom_push(service.addr, &api, "M1", "RC1", UNCOVERED)
        .await
        .expect("the ticket told passively");
    assert!(
        told_text.contains("工单号：1") && told_text.contains("再@我"),
        "{told_text}"
    );
    // The agents' WeCom group hears of it through its robot, the QQ group through OneBot.
    let (path, query, note) = next().await;
    assert_eq!(
        (path.as_str(), query),
        ("/cgi-bin/webhook/send", format!("key={ROBOT_KEY}"))
    );
    assert!(
        note["text"]["content"]
            .as_str()
            .unwrap()
            .contains("新工单 1"),
        "{note}"
    );
    assert!(qq.reply().await.text.contains("新工单 1"));

    // The agent claims and replies in QQ; M1's response_url is still unused, so the reply
    // goes at once (the agent is told it arrives at the latest with the next message).
    qq.send(&question(81, ONEBOT_AGENTS, ONEBOT_AGENT, "接单 1"))
        .await;
    assert!(qq.reply().await.text.contains("已接单：工单1"));
    qq.send(&question(
        82,
        ONEBOT_AGENTS,
        ONEBOT_AGENT,
        "回复 1 路灯已经报修",
    ))
    .await;
    assert_eq!(
        qq.reply().await.text,
        "回复已记下（工单1），居民最迟在下次发消息时收到。"
    );
    let (path, query, relayed) = next().await;
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cgi-bin/aibot/response", "response_code=RC1")
    );
    assert!(
        relayed["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("路灯已经报修"),
        "{relayed}"
    );

    // The resident thanks: answered passively, so M2's URL stays unused too.
    assert!(
        wecom_push(service.addr, &api, "M2", "RC2", "好的")
            .await
            .is_some()
    );
    // Resolved in QQ: the rating prompt (M1's URL spent) takes M2's, at once. It asks for an
    // @ (the AI bot sees only @-messages in groups); the rating on WeCom, answered passively,
    // is recorded on the ticket.
    qq.send(&question(83, ONEBOT_AGENTS, ONEBOT_AGENT, "办结 1"))
        .await;
    assert_eq!(qq.reply().await.text, "工单1已办结，会请居民评价。");
    let (path, query, prompt) = next().await;
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cgi-bin/aibot/response", "response_code=RC2")
    );
    assert!(
        prompt["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("@我并回复数字：\n1 非常满意"),
        "{prompt}"
    );
    let thanks = wecom_push(service.addr, &api, "M3", "RC3", "1")
        .await
        .expect("thanked passively");
    assert!(thanks.contains("谢谢您的评价"), "{thanks}");
    let (data, _dir) = service.stop().await;
    let store = bangban::store::Store::open(&data).unwrap();
    let ticket = store.tickets().unwrap().get(1).unwrap().unwrap();
    assert_eq!(
        ticket.rating,
        Some(bangban::store::tickets::Rating::VerySatisfied)
    );
}

// ---------------------------------------------------------------------------------------------
// The WeCom self-built app (自建应用): XML callbacks in, `message/send` out with an access token.

/// The app: the enterprise's CorpID, the app's AgentId, Secret, callback Token and key.
const CORP_ID: &str = "ww1436e0e65a779aee";
const APP_AGENT_ID: u64 = 1000002;
const APP_SECRET: &str = "corp-secret-123";
const APP_TOKEN: &str = "appToken77";
const APP_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
/// The 大湖村 agent's WeCom user id: they work tickets in a private chat with the app.
const WECOM_AGENT: &str = "wangjuan";

/// A fake WeCom API for the app: `gettoken` hands out TOKEN-1, TOKEN-2…; `message/send` says
/// the first token expired (42001) once, then accepts. Sends arrive as (access token, body).
struct FakeApp {
    issued: AtomicI64,
    expired_once: std::sync::atomic::AtomicBool,
    sent: mpsc::UnboundedSender<(String, Value)>,
}

async fn start_fake_app() -> (
    Arc<FakeApp>,
    String,
    mpsc::UnboundedReceiver<(String, Value)>,
) {
    use axum::extract::Query;
    use std::collections::HashMap;
    let (sent, sends) = mpsc::unbounded_channel();
    let fake = Arc::new(FakeApp {
        issued: AtomicI64::new(0),
        expired_once: std::sync::atomic::AtomicBool::new(false),
        sent,
    });
    let gettoken = |State(f): State<Arc<FakeApp>>, Query(q): Query<HashMap<String, String>>| async move {
        assert_eq!(
            (q["corpid"].as_str(), q["corpsecret"].as_str()),
            (CORP_ID, APP_SECRET)
        );
        let n = f.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": format!("TOKEN-{n}"), "expires_in": 7200}),
        )
    };
    let send = |State(f): State<Arc<FakeApp>>,
                Query(q): Query<HashMap<String, String>>,
                Json(body): Json<Value>| async move {
        let token = q["access_token"].clone();
        if token == "TOKEN-1" && !f.expired_once.swap(true, Ordering::SeqCst) {
            return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
        }
        assert_ne!(token, "TOKEN-1", "a refused token is not used again");
        let _ = f.sent.send((token, body));
        Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "MSG"}))
    };
    let app = axum::Router::new()
        .route("/cgi-bin/gettoken", axum::routing::get(gettoken))
        .route("/cgi-bin/message/send", post(send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url, sends)
}

/// Posts the agent's text message to `/wecom/app`, encrypted and signed as WeCom does.
async fn app_push(addr: std::net::SocketAddr, msg_id: u64, text: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let plain = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{WECOM_AGENT}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>{APP_AGENT_ID}</AgentID></xml>"
    );
    let crypt = bangban_wecom::crypto::MsgCrypt::new(APP_TOKEN, APP_KEY, CORP_ID).unwrap();
    let encrypt = crypt.encrypt(&plain).unwrap();
    let signature = crypt.signature(&now, "4242", &encrypt);
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{APP_AGENT_ID}]]></AgentID></xml>"
    );
    let response = within(
        reqwest::Client::new()
            .post(format!(
                "http://{addr}/wecom/app?msg_signature={signature}&timestamp={now}&nonce=4242"
            ))
            .body(envelope)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qq_resident_is_helped_by_an_agent_working_in_the_wecom_app() {
    let (fake, api, mut app_sends) = start_fake_app().await;
    let (config_dir, config) = config_with(
        |org| {
            org.replace(
                r#"accounts = { onebot = "800001", sandbox = "agent" }"#,
                &format!(r#"accounts = {{ onebot = "800001", sandbox = "agent", wecom = "{WECOM_AGENT}" }}"#),
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = {APP_AGENT_ID}\napi_base = \"{api}\"\n"
            )
        },
    );
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_APP_SECRET", APP_SECRET),
        ("BANGBAN_WECOM_APP_TOKEN", APP_TOKEN),
        ("BANGBAN_WECOM_APP_AES_KEY", APP_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start(config, config_dir, secrets).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("onebot", BOT).await;
    let mut to_agent = async || within(app_sends.recv()).await.unwrap();

    // The resident asks in 大湖村's QQ group what the guide does not cover: a ticket, and the
    // agents' QQ group hears of it.
    qq.send(&question(91, 900001, 10001, UNCOVERED)).await;
    let mut told = false;
    let mut noticed = false;
    while !(told && noticed) {
        let reply = qq.reply().await;
        told |= reply.quote.as_deref() == Some("91") && reply.text.contains("工单号：1");
        noticed |= reply.group == ONEBOT_AGENTS.to_string() && reply.text.contains("新工单 1");
    }

    // The agent claims in the app: the answer comes through message/send; WeCom says the first
    // access token expired, so it is fetched once more and the send goes through.
    app_push(service.addr, 7001, "接单 1").await;
    let (token, claimed) = to_agent().await;
    assert_eq!(token, "TOKEN-2");
    assert_eq!(claimed["touser"], WECOM_AGENT);
    assert_eq!(claimed["agentid"], APP_AGENT_ID);
    assert!(
        claimed["text"]["content"]
            .as_str()
            .unwrap()
            .contains("已接单：工单1"),
        "{claimed}"
    );
    assert_eq!(fake.issued.load(Ordering::SeqCst), 2);

    // The reply reaches the resident in QQ, quoting their question; the agent hears it was
    // passed on, with the cached token.
    app_push(service.addr, 7002, "回复 1 路灯已经报修，明天来修").await;
    let relayed = qq.reply().await;
    assert_eq!(relayed.group, "900001");
    assert_eq!(relayed.quote.as_deref(), Some("91"));
    assert!(relayed.text.contains("路灯已经报修"), "{relayed:?}");
    let (token, passed) = to_agent().await;
    assert_eq!(token, "TOKEN-2");
    assert!(
        passed["text"]["content"]
            .as_str()
            .unwrap()
            .contains("已转达"),
        "{passed}"
    );

    // A callback delivered twice (WeCom retries) is carried out once.
    app_push(service.addr, 7003, "办结 1").await;
    app_push(service.addr, 7003, "办结 1").await;
    let (_, resolved) = to_agent().await;
    assert!(
        resolved["text"]["content"]
            .as_str()
            .unwrap()
            .contains("办结"),
        "{resolved}"
    );
    // The resident is asked to rate and rates in QQ.
    let ask = qq.reply().await;
    assert!(
        ask.text.contains("评价") || ask.text.contains("满意"),
        "{ask:?}"
    );
    qq.send(&question(92, 900001, 10001, "1")).await;
    let thanks = qq.reply().await;
    assert!(thanks.text.contains("谢谢"), "{thanks:?}");
    let (data, _dir) = service.stop().await;
    assert!(
        app_sends.try_recv().is_err(),
        "the repeated 办结 was not answered again"
    );
    let store = bangban::store::Store::open(&data).unwrap();
    let ticket = store.tickets().unwrap().get(1).unwrap().unwrap();
    assert_eq!(
        ticket.rating,
        Some(bangban::store::tickets::Rating::VerySatisfied)
    );
    assert_eq!(fake.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_to_an_agent_in_the_wecom_app_arrives_whole_in_parts() {
    let (_fake, api, mut app_sends) = start_fake_app().await;
    let (config_dir, config) = config_with(
        |org| {
            org.replace(
                r#"accounts = { onebot = "800001", sandbox = "agent" }"#,
                &format!(r#"accounts = {{ onebot = "800001", sandbox = "agent", wecom = "{WECOM_AGENT}" }}"#),
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = {APP_AGENT_ID}\napi_base = \"{api}\"\n"
            )
        },
    );
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_APP_SECRET", APP_SECRET),
        ("BANGBAN_WECOM_APP_TOKEN", APP_TOKEN),
        ("BANGBAN_WECOM_APP_AES_KEY", APP_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start(config, config_dir, secrets).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("onebot", BOT).await;

    // A resident describes the trouble at length (874 characters, 2,622 bytes).
    let long = format!(
        "{UNCOVERED}？{}",
        "路灯从上个月开始就不亮了，晚上老人出门很不方便，".repeat(36)
    );
    assert!(long.chars().count() <= 1000 && long.len() > 2048);
    qq.send(&question(91, 900001, 10001, &long)).await;
    let mut told = false;
    let mut noticed = false;
    while !(told && noticed) {
        let reply = qq.reply().await;
        told |= reply.quote.as_deref() == Some("91") && reply.text.contains("工单号：1");
        noticed |= reply.group == ONEBOT_AGENTS.to_string() && reply.text.contains("新工单 1");
    }

    // The agent claims in the WeCom app: the confirmation shows the whole question, more than
    // the app's message API takes at once (2,048 bytes). It arrives whole, in parts that each fit.
    app_push(service.addr, 7001, "接单 1").await;
    let mut parts: Vec<String> = Vec::new();
    while !parts.concat().contains("答复居民") {
        let (_, body) = within(app_sends.recv()).await.unwrap();
        assert_eq!(body["touser"], WECOM_AGENT);
        parts.push(body["text"]["content"].as_str().unwrap().to_owned());
    }
    assert!(parts.len() > 1, "{parts:?}");
    for part in &parts {
        assert!(part.len() <= 2048, "{} bytes: {part}", part.len());
    }
    assert!(parts[0].starts_with("已接单：工单1。"), "{parts:?}");
    assert!(parts.concat().contains(&long), "nothing is lost: {parts:?}");
    let (data, _dir) = service.stop().await;
    let store = bangban::store::Store::open(&data).unwrap();
    assert!(store.given_up().unwrap().is_empty(), "nothing was given up");
}

/// What the service logs, for the tests that read it: every test of this binary logs here
/// once one has called [`captured_logs`]; each reads the lines naming what it made.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        struct Writer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs = Arc::new(Mutex::new(Vec::new()));
        let into = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Writer(into.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
}

/// The captured log lines containing every one of `words`.
fn log_lines(words: &[&str]) -> Vec<String> {
    let logs = captured_logs().lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

/// A fake WeCom API whose `gettoken` refuses the app's secret (errcode 40001) until `accept`
/// is set; `message/send` bodies arrive on the receiver.
struct FakeRefusing {
    accept: std::sync::atomic::AtomicBool,
    refused: AtomicI64,
    sent: mpsc::UnboundedSender<Value>,
}

async fn start_fake_refusing() -> (Arc<FakeRefusing>, String, mpsc::UnboundedReceiver<Value>) {
    let (sent, sends) = mpsc::unbounded_channel();
    let fake = Arc::new(FakeRefusing {
        accept: std::sync::atomic::AtomicBool::new(false),
        refused: AtomicI64::new(0),
        sent,
    });
    let gettoken = |State(f): State<Arc<FakeRefusing>>| async move {
        if f.accept.load(Ordering::SeqCst) {
            Json(
                json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN-OK", "expires_in": 7200}),
            )
        } else {
            f.refused.fetch_add(1, Ordering::SeqCst);
            Json(json!({"errcode": 40001, "errmsg": "invalid credential, hint: [1700000000]"}))
        }
    };
    let send = |State(f): State<Arc<FakeRefusing>>, Json(body): Json<Value>| async move {
        let _ = f.sent.send(body);
        Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "MSG"}))
    };
    let app = axum::Router::new()
        .route("/cgi-bin/gettoken", axum::routing::get(gettoken))
        .route("/cgi-bin/message/send", post(send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url, sends)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_wecom_app_secret_shows_the_account_down_until_wecom_accepts_it() {
    captured_logs();
    let (fake, api, mut app_sends) = start_fake_refusing().await;
    let (config_dir, config) = config_with(
        |org| {
            org.replace(
                r#"accounts = { onebot = "800001", sandbox = "agent" }"#,
                &format!(r#"accounts = {{ onebot = "800001", sandbox = "agent", wecom = "{WECOM_AGENT}" }}"#),
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = {APP_AGENT_ID}\napi_base = \"{api}\"\n"
            )
        },
    );
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_APP_SECRET", APP_SECRET),
        ("BANGBAN_WECOM_APP_TOKEN", APP_TOKEN),
        ("BANGBAN_WECOM_APP_AES_KEY", APP_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start(config, config_dir, secrets).await;
    let app_account = APP_AGENT_ID.to_string();
    let up_series =
        format!("bangban_connection_up{{platform=\"wecom\",account=\"{app_account}\"}}");
    service.wait_connected("wecom", &app_account).await;

    // The agent writes to the app; the answer needs an access token, and WeCom refuses the
    // secret: the account is down in /healthz and /metrics, and the answer is kept.
    app_push(service.addr, 7101, "我的工单").await;
    within(async {
        loop {
            let (_, body) = onebot_common::get(service.addr, "/healthz").await;
            let health: Value = serde_json::from_str(&body).unwrap();
            let listed = health["connected"]["wecom"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == app_account.as_str()));
            let (_, metrics) = onebot_common::get(service.addr, "/metrics").await;
            let down = metrics.lines().any(|l| l == format!("{up_series} 0"));
            if !listed && down {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(fake.refused.load(Ordering::SeqCst) >= 1);
    let down = log_lines(&["WeCom app account down", &app_account]);
    assert_eq!(down.len(), 1, "one clear line: {down:?}");
    assert!(down[0].contains("40001"), "{down:?}");
    assert!(
        log_lines(&[APP_SECRET]).is_empty() && log_lines(&["TOKEN-OK"]).is_empty(),
        "no secret is logged"
    );
    assert!(app_sends.try_recv().is_err(), "nothing was sent");

    // The secret is put right on WeCom's side: the adapter's own check gets a token, the
    // account is up again, and the kept answer goes out.
    fake.accept.store(true, Ordering::SeqCst);
    service.wait_connected("wecom", &app_account).await;
    let answer = within(app_sends.recv()).await.unwrap();
    assert_eq!(answer["touser"], WECOM_AGENT);
    assert_eq!(answer["text"]["content"], "您现在没有未办结的工单。");
    onebot_common::wait_metric(service.addr, &up_series, 1).await;
    assert_eq!(
        log_lines(&["WeCom app account down", &app_account]).len(),
        1,
        "still one"
    );
    assert_eq!(log_lines(&["up again", &app_account]).len(), 1);
    let (data, _dir) = service.stop().await;
    let store = bangban::store::Store::open(&data).unwrap();
    assert!(store.given_up().unwrap().is_empty(), "nothing was given up");
}

// ---------------------------------------------------------------------------------------------
// Broadcasts to WeCom groups: the AI bot's wait for the group's next message, a robot's do not.

/// The admin's console password in the broadcast test.
const ADMIN_PASSWORD: &str = "qunfa-2026-winter";

/// Signs the shipped admin (`bureau`) in: a client with the session cookie and CSRF token.
async fn admin_session(addr: std::net::SocketAddr) -> (reqwest::Client, String, String) {
    let http = reqwest::Client::new();
    let res = within(
        http.post(format!("http://{addr}/api/v1/session"))
            .json(&json!({"user": "bureau", "password": ADMIN_PASSWORD}))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = res.json().await.unwrap();
    (http, cookie, body["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_waits_for_the_next_message_in_wecom_ai_bot_groups_only() {
    let (api, mut wecom_sends) = start_fake_wecom().await;
    let (config_dir, config) = config_with(
        |org| {
            agents_chats(
                dahu_everywhere(org),
                &format!(
                    "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"{ONEBOT_AGENTS}\"\naccount = \"{BOT}\"\n"
                ),
            )
            .replace(
                r#"groups = { onebot = ["900002"] }"#,
                r#"groups = { onebot = ["900002"], wecom = ["wrkV02"] }"#,
            )
        },
        |toml| {
            toml + &format!(
                "\n[wecom]\nenabled = true\naibot_id = \"{AIBOT}\"\naibot_name = \"帮办\"\n\
                 api_base = \"{api}\"\nrobots = {{ \"wrkV02\" = \"BANGBAN_WECOM_ROBOT_V02\" }}\n"
            )
        },
    );
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_AIBOT_TOKEN", AIBOT_TOKEN),
        ("BANGBAN_WECOM_AIBOT_AES_KEY", AIBOT_KEY),
        ("BANGBAN_WECOM_ROBOT_V02", ROBOT_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    let service = Running::start_with(config, config_dir, secrets, |store| {
        let hash = bangban::console::auth::hash_password(ADMIN_PASSWORD).unwrap();
        let credentials = bangban::store::users::Credentials {
            password: Some(hash),
            tokens: Vec::new(),
        };
        store.set_credentials("bureau", &credentials).unwrap();
        store.flush_blocking().unwrap();
    })
    .await;
    service.wait_connected("wecom", AIBOT).await;
    let (http, cookie, csrf) = admin_session(service.addr).await;
    let call = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", service.addr),
            )
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let res = within(req.send()).await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };

    // The preview: 大湖村's group is the AI bot's, which speaks only in reply; 村02's has a
    // group robot, which sends at once.
    let notice = "【通知】请城乡居民养老保险待遇领取人员在6月30日前完成资格认证。";
    let (status, body) = call(
        "POST",
        "/api/v1/broadcasts",
        Some(json!({"text": notice, "villages": ["v01", "v02"], "platform": "wecom"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let preview = &body["preview"];
    let wecom = &preview["estimate"]["platforms"][0];
    assert_eq!(
        (
            &wecom["platform"],
            &wecom["groups"],
            &wecom["held"],
            &wecom["on_next_message"]
        ),
        (&json!("wecom"), &json!(2), &json!(1), &json!(false)),
        "{preview}"
    );
    let notes = preview["notes"].to_string();
    assert!(
        notes.contains("企业微信智能机器人不能主动发群消息：这 1 个群要等群里有人发下一条消息时"),
        "{notes}"
    );

    // Confirmed: the robot's group gets it through the webhook; the AI bot's group has no
    // message to reply to, and its delivery says it waits for the group's next message.
    let id = body["broadcast"]["id"].as_u64().unwrap();
    let (status, body) = call(
        "POST",
        &format!("/api/v1/broadcasts/{id}/confirm"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (path, query, sent) = within(wecom_sends.recv()).await.unwrap();
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cgi-bin/webhook/send", format!("key={ROBOT_KEY}").as_str())
    );
    assert_eq!(sent["text"]["content"], notice);
    let deliveries = within(async {
        loop {
            let (_, body) = call("GET", &format!("/api/v1/broadcasts/{id}"), None).await;
            let b = &body["broadcast"];
            if b["counts"]["sent"] == 1 {
                return b["deliveries"].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let lines: Vec<(&str, &str)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["chat"].as_str().unwrap(),
                d["status_label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (WECOM_GROUP, "排队中（等群里下一条消息）"),
            ("wrkV02", "已发送")
        ],
        "{deliveries}"
    );
    let _ = service.stop().await;
}
