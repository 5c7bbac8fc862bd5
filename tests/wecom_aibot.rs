//! The whole service with residents on the WeCom AI bot (智能机器人, API mode), against a fake
//! WeCom on loopback: callbacks are encrypted and signed as WeCom does, and the bot's passive
//! replies are read back as WeCom reads them (signature over the ciphertext, the callback's
//! nonce, decrypted with the bot's key).
//!
//! - An answer goes in the callback's own response, and is confirmed in the outbox only then.
//! - So the message's `response_url` stays for the agent's later reply; a reply with no URL left
//!   is held, and when the resident writes again it takes that message's URL while the answer
//!   to the new message goes passively.
//! - A private-chat resident is told to write again, not to @ the bot in a group; an agent's long
//!   reply reaches them whole (the AI bot's 20,480-byte cap, not the app's 2,048, though the
//!   same chat id could be the app's).
//! - The app's API refusing the server's address (60020) shows the account down in `/healthz`
//!   with what to add under 企业可信IP, logged once, until WeCom accepts it.
//! - `reply_later_private` is optional in `org.toml`, and checked when present.

mod onebot_common;
mod platforms_common;

use axum::Json;
use axum::extract::{Query, State};
use onebot_common::{BOT, data_dir, question, within};
use platforms_common::{agents_chats, config_with, copy_dir, start_fake_wecom};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The AI bot, its callback token and key, 大湖村's WeCom group and a resident in it.
const AIBOT: &str = "aib-test-01";
const AIBOT_TOKEN: &str = "aibotToken42";
const AIBOT_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const WECOM_GROUP: &str = "wrkDAHU0001";
const RESIDENT: &str = "zhaoliu";
/// The nonce WeCom's callbacks carry in these tests; a passive reply must echo it.
const NONCE: &str = "31337";
/// The OneBot agents' group; the 大湖村 agent's and the district centre agent's QQ numbers.
const ONEBOT_AGENTS: u64 = 900100;
const VILLAGE_AGENT: u64 = 800001;
const DISTRICT_AGENT: u64 = 800201;
/// The self-built app (only in the tests that configure it).
const CORP_ID: &str = "ww1436e0e65a779aee";
const APP_AGENT_ID: u64 = 1000002;
const APP_SECRET: &str = "corp-secret-123";
const APP_TOKEN: &str = "appToken77";
const APP_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const WECOM_AGENT: &str = "wangjuan";

/// The OneBot agents' group, with the bot account that speaks there (the tickets come in on
/// WeCom).
fn onebot_agents(org: String) -> String {
    agents_chats(
        org,
        &format!(
            "[[agents_chats]]\nplatform = \"onebot\"\nchat = \"{ONEBOT_AGENTS}\"\naccount = \"{BOT}\"\n"
        ),
    )
}

/// 大湖村's WeCom group besides its QQ group, and the agents' group.
fn dahu_on_wecom(org: String) -> String {
    onebot_agents(org).replace(
        r#"groups = { onebot = ["900001"], sandbox = ["sandbox"] }"#,
        &format!(r#"groups = {{ onebot = ["900001"], sandbox = ["sandbox"], wecom = ["{WECOM_GROUP}"] }}"#),
    )
}

fn aibot_toml(api: &str) -> String {
    format!(
        "\n[wecom]\nenabled = true\naibot_id = \"{AIBOT}\"\naibot_name = \"帮办\"\napi_base = \"{api}\"\n"
    )
}

fn aibot_secrets() -> bangban::server::Secrets {
    let mut secrets = onebot_common::secrets();
    for (name, value) in [
        ("BANGBAN_WECOM_AIBOT_TOKEN", AIBOT_TOKEN),
        ("BANGBAN_WECOM_AIBOT_AES_KEY", AIBOT_KEY),
        ("BANGBAN_WECOM_APP_SECRET", APP_SECRET),
        ("BANGBAN_WECOM_APP_TOKEN", APP_TOKEN),
        ("BANGBAN_WECOM_APP_AES_KEY", APP_KEY),
    ] {
        secrets.platforms.insert(name.into(), value.into());
    }
    secrets
}

/// The service on a loopback port; account ids shown in `/healthz`.
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
        mut config: bangban::config::Config,
        config_dir: tempfile::TempDir,
        secrets: bangban::server::Secrets,
    ) -> Running {
        config.service.server.show_accounts = true;
        let (data_dir, data) = data_dir();
        let store = bangban::store::Store::open(&data).unwrap();
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

    async fn health(&self) -> Value {
        let (_, body) = onebot_common::get(self.addr, "/healthz").await;
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `/healthz` lists `account` as connected on `platform` (or, `up` false, not).
    async fn wait_connected(&self, platform: &str, account: &str, up: bool) -> Value {
        within(async {
            loop {
                let health = self.health().await;
                let listed = health["connected"][platform]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == account));
                if listed == up {
                    return health;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    /// Shuts down; what is left in the outbox and what was given up.
    async fn stop(mut self) -> (usize, usize) {
        let _ = self.stop.take().unwrap().send(());
        within(&mut self.task).await.unwrap().unwrap();
        let store = bangban::store::Store::open(&self.data).unwrap();
        (
            store.queued().unwrap().len(),
            store.given_up().unwrap().len(),
        )
    }
}

/// An AI bot message from the resident, as WeCom posts it: in 大湖村's group (or, `private`,
/// in a private chat), with a `response_url` on the fake API carrying `response_code={code}`.
fn message(api: &str, msgid: &str, code: &str, text: &str, private: bool) -> Value {
    let mut m = json!({
        "msgid": msgid, "aibotid": AIBOT, "chattype": "group", "chatid": WECOM_GROUP,
        "from": {"userid": RESIDENT},
        "response_url": format!("{api}/cgi-bin/aibot/response?response_code={code}"),
        "msgtype": "text", "text": {"content": format!("@帮办 {text}")},
    });
    if private {
        m["chattype"] = json!("single");
        m.as_object_mut().unwrap().remove("chatid");
        m["text"]["content"] = json!(text);
    }
    m
}

/// Posts `plain` to `/wecom/aibot`, encrypted and signed; the passive reply WeCom reads from
/// the response (its signature and nonce checked), `None` for an empty one.
async fn push(addr: std::net::SocketAddr, plain: &Value) -> Option<Value> {
    let crypt = bangban_wecom::crypto::MsgCrypt::new(AIBOT_TOKEN, AIBOT_KEY, "").unwrap();
    let encrypt = crypt.encrypt(&plain.to_string()).unwrap();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = crypt.signature(&timestamp, NONCE, &encrypt);
    let response = within(
        reqwest::Client::new()
            .post(format!(
                "http://{addr}/wecom/aibot?msg_signature={signature}&timestamp={timestamp}&nonce={NONCE}"
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
    let encrypt = reply["encrypt"].as_str().unwrap();
    assert_eq!(reply["nonce"], NONCE);
    let ts = reply["timestamp"].as_u64().expect("a numeric timestamp");
    assert_eq!(
        reply["msgsignature"].as_str().unwrap(),
        crypt.signature(&ts.to_string(), NONCE, encrypt)
    );
    Some(serde_json::from_str(&crypt.decrypt(encrypt).unwrap()).unwrap())
}

/// A finished stream's content (panics on anything else).
fn answered(reply: Option<Value>) -> String {
    let reply = reply.expect("a passive reply");
    assert_eq!(reply["msgtype"], "stream", "{reply}");
    assert_eq!(reply["stream"]["finish"], true, "{reply}");
    assert!(!reply["stream"]["id"].as_str().unwrap().is_empty());
    reply["stream"]["content"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_in_the_callbacks_response_and_confirmed_only_then() {
    let (api, mut wecom) = start_fake_wecom().await;
    let (config_dir, config) = config_with(dahu_on_wecom, |toml| toml + &aibot_toml(&api));
    let service = Running::start(config, config_dir, aibot_secrets()).await;
    service.wait_connected("wecom", AIBOT, true).await;

    let reply = push(
        service.addr,
        &message(&api, "Q1", "RC1", "老年卡要带什么", false),
    )
    .await;
    let text = answered(reply);
    assert!(
        text.contains("老年人优待卡") && text.contains("身份证"),
        "{text}"
    );
    // A second question, answered the same way; neither used its response_url.
    let text = answered(
        push(
            service.addr,
            &message(&api, "Q2", "RC2", "社保卡怎么激活", false),
        )
        .await,
    );
    assert!(text.contains("社会保障卡"), "{text}");
    // WeCom retrying a callback (same msgid) gets the same answer again, and no second reply
    // is made (the runtime's dedupe).
    let again = answered(
        push(
            service.addr,
            &message(&api, "Q2", "RC2", "社保卡怎么激活", false),
        )
        .await,
    );
    assert_eq!(again, text);
    let (left, given_up) = service.stop().await;
    assert_eq!((left, given_up), (0, 0), "confirmed: out of the outbox");
    assert!(wecom.try_recv().is_err(), "no response_url was used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_agent_reply_takes_the_next_messages_url_while_its_answer_goes_passively() {
    let (api, mut wecom) = start_fake_wecom().await;
    let (config_dir, config) = config_with(dahu_on_wecom, |toml| toml + &aibot_toml(&api));
    let service = Running::start(config, config_dir, aibot_secrets()).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("wecom", AIBOT, true).await;

    // Outside the guide: the ticket is told in the callback's response…
    let told = answered(
        push(
            service.addr,
            &message(&api, "M1", "RC1", "村里的路灯坏了找谁", false),
        )
        .await,
    );
    assert!(
        told.contains("工单号：1") && told.contains("请在群里再@我一下"),
        "{told}"
    );
    assert!(qq.reply().await.text.contains("新工单 1"));
    // …so the agent's reply finds M1's response_url unused and goes at once.
    qq.send(&question(81, ONEBOT_AGENTS, VILLAGE_AGENT, "接单 1"))
        .await;
    assert!(qq.reply().await.text.contains("已接单：工单1"));
    qq.send(&question(
        82,
        ONEBOT_AGENTS,
        VILLAGE_AGENT,
        "回复 1 路灯已经报修",
    ))
    .await;
    qq.reply().await;
    let (path, query, relayed) = within(wecom.recv()).await.unwrap();
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
    // A second reply has no URL left: held for the group's next message.
    qq.send(&question(
        83,
        ONEBOT_AGENTS,
        VILLAGE_AGENT,
        "回复 1 明天上午来修",
    ))
    .await;
    assert_eq!(
        qq.reply().await.text,
        "回复已记下（工单1），居民最迟在下次发消息时收到。"
    );

    // The resident asks something else: the held reply takes this message's URL, and the
    // answer to the question is the callback's own response. Both arrive; neither waits.
    let answer = answered(
        push(
            service.addr,
            &message(&api, "M2", "RC2", "老年卡要带什么", false),
        )
        .await,
    );
    assert!(answer.contains("老年人优待卡"), "{answer}");
    let (path, query, held) = within(wecom.recv()).await.unwrap();
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cgi-bin/aibot/response", "response_code=RC2")
    );
    assert!(
        held["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("明天上午来修"),
        "{held}"
    );
    let (left, given_up) = service.stop().await;
    assert_eq!((left, given_up), (0, 0));
    assert!(wecom.try_recv().is_err(), "nothing else went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_chat_resident_is_told_to_write_again_and_gets_a_long_reply_whole() {
    let (api, mut wecom) = start_fake_wecom().await;
    // The app too: the same user id could be a private chat of the app, which takes only
    // 2,048 bytes a message. The AI bot's chat takes 20,480.
    let (config_dir, config) = config_with(onebot_agents, |toml| {
        toml + &aibot_toml(&api) + &format!("corp_id = \"{CORP_ID}\"\nagent_id = {APP_AGENT_ID}\n")
    });
    let service = Running::start(config, config_dir, aibot_secrets()).await;
    let mut qq = onebot_common::connect(service.addr).await;
    service.wait_connected("wecom", AIBOT, true).await;

    let told = answered(
        push(
            service.addr,
            &message(&api, "P1", "RC1", "村里的路灯坏了找谁", true),
        )
        .await,
    );
    assert!(told.contains("工单号：1"), "{told}");
    // A private chat is no group and needs no @.
    assert!(told.contains("专员回复后，请再给我发一条消息"), "{told}");
    assert!(!told.contains("再@我"), "{told}");
    // Nobody's village: the district centre follows it up.
    assert!(qq.reply().await.text.contains("新工单 1"));
    qq.send(&question(91, ONEBOT_AGENTS, DISTRICT_AGENT, "接单 1"))
        .await;
    assert!(qq.reply().await.text.contains("已接单：工单1"));
    // 700 Chinese characters: 2,100 bytes, within `outbox.max_chars` (800) but over the app's cap.
    let long = "修".repeat(700);
    qq.send(&question(
        92,
        ONEBOT_AGENTS,
        DISTRICT_AGENT,
        &format!("回复 1 {long}"),
    ))
    .await;
    qq.reply().await;
    let (path, query, relayed) = within(wecom.recv()).await.unwrap();
    assert_eq!(
        (path.as_str(), query.as_str()),
        ("/cgi-bin/aibot/response", "response_code=RC1")
    );
    let content = relayed["markdown"]["content"].as_str().unwrap();
    assert!(content.len() > 2048, "{} bytes", content.len());
    assert!(content.contains(&long), "one message, not cut");
    let (left, given_up) = service.stop().await;
    assert_eq!((left, given_up), (0, 0));
    assert!(wecom.try_recv().is_err(), "in one part");
}

// ---------------------------------------------------------------------------------------------
// The app's API refusing the server's address (errcode 60020).

/// A fake app API: `gettoken` works from anywhere; `message/send` and `agent/get` answer 60020
/// (naming the address they saw) until `trusted` is set. Sent messages arrive on the receiver.
struct FakeUntrusted {
    trusted: AtomicBool,
    checks: AtomicU64,
    sent: mpsc::UnboundedSender<Value>,
}

const REFUSED_IP: &str = "203.0.113.7";

fn untrusted() -> Value {
    json!({"errcode": 60020,
        "errmsg": format!("not allow to access from your ip, hint: [1787373915609110759172198], from ip: {REFUSED_IP}, more info at https://open.work.weixin.qq.com/devtool/query?e=60020")})
}

async fn start_fake_untrusted() -> (Arc<FakeUntrusted>, String, mpsc::UnboundedReceiver<Value>) {
    let (sent, sends) = mpsc::unbounded_channel();
    let fake = Arc::new(FakeUntrusted {
        trusted: AtomicBool::new(false),
        checks: AtomicU64::new(0),
        sent,
    });
    let gettoken = |Query(q): Query<HashMap<String, String>>| async move {
        assert_eq!(q["corpsecret"], APP_SECRET);
        Json(json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN-OK", "expires_in": 7200}))
    };
    let agent_get = |State(f): State<Arc<FakeUntrusted>>| async move {
        f.checks.fetch_add(1, Ordering::SeqCst);
        if f.trusted.load(Ordering::SeqCst) {
            Json(json!({"errcode": 0, "errmsg": "ok", "agentid": APP_AGENT_ID, "name": "帮办"}))
        } else {
            Json(untrusted())
        }
    };
    let send = |State(f): State<Arc<FakeUntrusted>>, Json(body): Json<Value>| async move {
        if !f.trusted.load(Ordering::SeqCst) {
            return Json(untrusted());
        }
        let _ = f.sent.send(body);
        Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "MSG"}))
    };
    let app = axum::Router::new()
        .route("/cgi-bin/gettoken", axum::routing::get(gettoken))
        .route("/cgi-bin/agent/get", axum::routing::get(agent_get))
        .route("/cgi-bin/message/send", axum::routing::post(send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url, sends)
}

/// The agent's text to the app's `/wecom/app`, encrypted and signed as WeCom does.
async fn app_push(addr: std::net::SocketAddr, msg_id: u64, text: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let xml = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{WECOM_AGENT}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>{APP_AGENT_ID}</AgentID></xml>"
    );
    let crypt = bangban_wecom::crypto::MsgCrypt::new(APP_TOKEN, APP_KEY, CORP_ID).unwrap();
    let encrypt = crypt.encrypt(&xml).unwrap();
    let signature = crypt.signature(&now.to_string(), "4242", &encrypt);
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{APP_AGENT_ID}]]></AgentID></xml>"
    );
    let response = within(
        reqwest::Client::new()
            .post(format!(
                "http://{addr}/wecom/app?msg_signature={signature}&timestamp={now}&nonce=4242"
            ))
            .body(body)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// Log lines captured from this test binary, for the one test that reads them.
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

fn log_lines(words: &[&str]) -> Vec<String> {
    let logs = captured_logs().lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_address_shows_the_app_down_in_healthz_with_what_to_add() {
    captured_logs();
    let (fake, api, mut sends) = start_fake_untrusted().await;
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
    let service = Running::start(config, config_dir, aibot_secrets()).await;
    let account = APP_AGENT_ID.to_string();
    service.wait_connected("wecom", &account, true).await;

    // The agent writes to the app; its answer is refused for the server's address.
    app_push(service.addr, 7101, "我的工单").await;
    let health = service.wait_connected("wecom", &account, false).await;
    assert_eq!(health["status"], "ok", "the bot still serves: {health}");
    let down = &health["down"]["wecom"][0];
    assert_eq!(down["account"], account.as_str(), "{health}");
    let reason = down["reason"].as_str().unwrap();
    assert!(
        reason.contains(REFUSED_IP) && reason.contains("企业可信IP") && reason.contains("60020"),
        "{reason}"
    );
    // The adapter checks again by itself (without sending): still refused, still one warning.
    within(async {
        while fake.checks.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let warned = log_lines(&["WeCom app account down", REFUSED_IP]);
    assert_eq!(warned.len(), 1, "logged once: {warned:?}");
    assert!(warned[0].contains("企业可信IP"), "{warned:?}");
    assert!(sends.try_recv().is_err(), "nothing was sent");

    // The clerk adds the address: the account comes up, `down` is gone, the kept answer goes.
    fake.trusted.store(true, Ordering::SeqCst);
    let health = service.wait_connected("wecom", &account, true).await;
    assert!(health.get("down").is_none(), "{health}");
    let answer = within(sends.recv()).await.unwrap();
    assert_eq!(answer["touser"], WECOM_AGENT);
    assert_eq!(answer["text"]["content"], "您现在没有未办结的工单。");
    assert_eq!(log_lines(&["WeCom app account down"]).len(), 1);
    let (left, given_up) = service.stop().await;
    assert_eq!((left, given_up), (0, 0), "nothing was lost");
}

// ---------------------------------------------------------------------------------------------
// `org.toml`: `reply_later_private` is optional (old files load) and checked when present.

fn load_with(edit: impl Fn(String) -> String) -> Result<bangban::config::Config, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        dir.path(),
    );
    let file = dir.path().join("org.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit applies");
    std::fs::write(&file, edited).unwrap();
    bangban::config::Config::load(dir.path())
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

#[test]
fn reply_later_private_is_optional_and_checked_when_given() {
    let shipped = "reply_later_private = \"专员回复后，请再给我发一条消息，回复就会发出来。\"\n";
    let old = load_with(|org| org.replace(shipped, "")).expect("an org.toml without it loads");
    assert!(old.org.replies.reply_later_private.is_empty());
    let errors =
        load_with(|org| org.replace(shipped, "reply_later_private = \"  \"\n")).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("org.toml")
            && e.contains("replies.reply_later_private")
            && e.contains("expected the wording")),
        "{errors:#?}"
    );
}
