//! A resident on Telegram, through the whole service: a fake Bot API on loopback (getMe,
//! long-polled getUpdates, sendMessage, in the documented JSON) and `bangban::server::serve`
//! with `[telegram]` enabled. The question is answered as a reply to it, through the outbox.

mod onebot_common;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use onebot_common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

const TOKEN: &str = "7000:test-token";

struct Fake {
    updates: Mutex<Vec<Value>>,
    sent: mpsc::UnboundedSender<Value>,
}

fn fixture(key: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/telegram-bot-api.json"
    ))
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()[key].clone()
}

async fn get_me() -> Json<Value> {
    Json(json!({"ok": true, "result": fixture("get_me")}))
}

async fn get_updates(State(f): State<Arc<Fake>>) -> Json<Value> {
    let batch: Vec<Value> = std::mem::take(&mut *f.updates.lock().unwrap());
    if batch.is_empty() {
        // Long polling: an empty answer after a while, as the Bot API gives.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Json(json!({"ok": true, "result": batch}))
}

async fn send_message(State(f): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    let _ = f.sent.send(body.clone());
    Json(json!({"ok": true, "result": {
        "message_id": 9001, "date": 1767225700,
        "chat": {"id": body["chat_id"], "type": "supergroup", "title": "群"},
        "from": fixture("get_me"), "text": body["text"],
    }}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_group_question_is_answered_as_a_reply_to_it() {
    let mut update = fixture("group_mention");
    update["message"]["text"] = json!("@bangban_bot 办社保卡要带什么材料");
    let (sent, mut sends) = mpsc::unbounded_channel();
    let fake = Arc::new(Fake {
        updates: Mutex::new(vec![update]),
        sent,
    });
    let app = axum::Router::new()
        .route(&format!("/bot{TOKEN}/GetMe"), post(get_me))
        .route(&format!("/bot{TOKEN}/getMe"), post(get_me))
        .route(&format!("/bot{TOKEN}/GetUpdates"), post(get_updates))
        .route(&format!("/bot{TOKEN}/getUpdates"), post(get_updates))
        .route(&format!("/bot{TOKEN}/SendMessage"), post(send_message))
        .route(&format!("/bot{TOKEN}/sendMessage"), post(send_message))
        .with_state(fake);
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(api, app).await });

    let mut config = config();
    config.service.onebot.enabled = false;
    config.service.telegram.enabled = true;
    config.service.telegram.api_url = Some(format!("http://{api_addr}"));
    let (_dir, data) = data_dir();
    let store = bangban::store::Store::open(&data).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut secrets = bangban::server::Secrets::default();
    secrets
        .platforms
        .insert("BANGBAN_TELEGRAM_TOKEN".into(), TOKEN.into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(bangban::server::serve(
        Arc::new(config),
        store,
        secrets,
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let reply = within(sends.recv()).await.expect("the bot answered");
    assert_eq!(reply["chat_id"], json!(-1001987654321i64));
    assert_eq!(reply["reply_parameters"]["message_id"], json!(1201));
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("居民身份证"), "{text}");
    let _ = stop.send(());
    within(served).await.unwrap().unwrap();
}
