//! A data directory that cannot be written (a full disk) shows in `/healthz` and `/metrics`, is
//! recovered from without a restart, and never makes the bot claim a ticket it did not store;
//! low free space warns first; `/healthz` does not list bot account ids unless configured to.
//!
//! The write failure is injected through the store's seam (`Store::inject_write_failure`), which
//! fails flushes as ENOSPC does; recovery then goes through the same reopen as after a real one.

mod onebot_common;

use bangban::engine::Engine;
use bangban::server::serve;
use bangban::store::Store;
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use onebot_common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::sync::{Mutex, MutexGuard};

/// A question the guide cannot answer: it becomes a ticket.
const UNCOVERED: &str = "村里的路灯坏了找谁";
/// 大湖村's group in the shipped organisation.
const DAHU_GROUP: u64 = 900001;

/// The store's health is the process's: these tests run one at a time.
async fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::const_new(());
    SERIAL.lock().await
}

struct Bot {
    addr: SocketAddr,
    store: Store,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(config: bangban::config::Config, data: &std::path::Path) -> Bot {
    let store = Store::open(data).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        Arc::new(config),
        store.clone(),
        secrets(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    Bot {
        addr,
        store,
        stop,
        task,
    }
}

impl Bot {
    async fn stop(self) {
        drop(self.store);
        let _ = self.stop.send(());
        within(self.task).await.unwrap().unwrap();
    }
}

async fn health(addr: SocketAddr) -> (u16, Value) {
    let (status, body) = get(addr, "/healthz").await;
    (status, serde_json::from_str(&body).unwrap())
}

/// Polls `/healthz` until it answers `status`.
async fn wait_health(addr: SocketAddr, status: u16) -> Value {
    within(async {
        loop {
            let (got, body) = health(addr).await;
            if got == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_failed_store_write_makes_healthz_unhealthy_until_the_bot_recovers_by_itself() {
    let _serial = serial().await;
    let (_dir, data) = data_dir();
    let bot = start(config(), &data).await;
    let mut napcat = connect(bot.addr).await;
    let (status, body) = health(bot.addr).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    assert_eq!(metric(bot.addr, "bangban_store_ok").await, 1);

    // The disk fills: the ticket for this question cannot be stored.
    bot.store.inject_write_failure(true);
    napcat
        .send(&question(1, DAHU_GROUP, 700001, UNCOVERED))
        .await;
    let body = wait_health(bot.addr, 503).await;
    assert_eq!(body["status"], "unhealthy", "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("No space left on device"), "{reason}");
    assert_eq!(body["store"]["ok"], false, "{body}");
    let metrics = get(bot.addr, "/metrics").await.1;
    assert_eq!(metric_in(&metrics, "bangban_store_ok"), 0, "{metrics}");
    assert!(metric_in(&metrics, "bangban_store_write_failures_total") >= 1);

    // Space returns: the bot finds out by itself, with the same process and data directory.
    bot.store.inject_write_failure(false);
    let body = wait_health(bot.addr, 200).await;
    assert_eq!(body["status"], "ok", "{body}");
    assert!(body.get("reason").is_none(), "{body}");
    assert_eq!(metric(bot.addr, "bangban_store_ok").await, 1);

    // And it stores and answers again: a new question gets its ticket.
    napcat
        .send(&question(2, DAHU_GROUP, 700002, UNCOVERED))
        .await;
    let replies = within(napcat.replies_until("2")).await;
    let told = replies.iter().find(|r| r.quote.as_deref() == Some("2"));
    let told = told.expect("the resident is answered");
    assert!(told.text.contains("工单号"), "{}", told.text);
    let number: u64 = told
        .text
        .split("工单号：")
        .nth(1)
        .and_then(|t| t.split('，').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a ticket number in {}", told.text));
    let stored = bot.store.tickets().unwrap().get(number).unwrap();
    assert_eq!(stored.map(|t| t.message_id), Some("2".to_owned()));
    bot.stop().await;
}

#[tokio::test]
async fn a_resident_is_not_told_a_ticket_number_when_the_ticket_cannot_be_stored() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let engine = Engine::new(Arc::new(config()), store.clone());
    store.inject_write_failure(true);
    let event = Incoming {
        platform: Platform::Onebot,
        account: BOT.into(),
        chat: Chat::Group(DAHU_GROUP.to_string()),
        sender: "700001".into(),
        sender_name: Some("李阿姨".into()),
        message_id: "m1".into(),
        text: UNCOVERED.into(),
        mentions_bot: true,
        reply_to: None,
    };
    let out = engine.handle(&event).await.unwrap();
    let texts: Vec<&str> = out
        .iter()
        .map(|Outgoing::SendText { text, .. }| text.as_str())
        .collect();
    assert_eq!(
        texts,
        [config().replies.store_failed.as_str()],
        "only the resident is told, and not of a ticket"
    );
    assert!(!texts[0].contains("工单号") && !texts[0].contains("已转给"));
    store.inject_write_failure(false);
}

#[tokio::test]
async fn free_space_under_the_floor_is_a_warning_before_writes_fail() {
    let _serial = serial().await;
    let (_dir, data) = data_dir();
    let mut config = config();
    // A floor above any disk this runs on: 1 TiB.
    config.service.min_free_mib = 1 << 20;
    let bot = start(config, &data).await;
    let (status, body) = health(bot.addr).await;
    assert_eq!(status, 200, "still serving: {body}");
    assert_eq!(body["status"], "warning", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("min_free_mib"),
        "{body}"
    );
    let metrics = get(bot.addr, "/metrics").await.1;
    assert_eq!(metric_in(&metrics, "bangban_disk_low"), 1, "{metrics}");
    assert!(
        metric_in(&metrics, "bangban_disk_free_bytes") > 0,
        "{metrics}"
    );
    assert_eq!(metric_in(&metrics, "bangban_store_ok"), 1, "{metrics}");
    bot.stop().await;

    // Under the default floor (100 MiB) a disk with room says ok.
    let (_dir, data) = data_dir();
    let bot = start(onebot_common::config(), &data).await;
    let (status, body) = health(bot.addr).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    assert_eq!(metric(bot.addr, "bangban_disk_low").await, 0);
    bot.stop().await;
}

#[tokio::test]
async fn healthz_counts_connected_accounts_and_lists_their_ids_only_when_configured() {
    let _serial = serial().await;
    let (_dir, data) = data_dir();
    let bot = start(config(), &data).await;
    let _napcat = connect(bot.addr).await;
    let body = within(async {
        loop {
            let (_, body) = health(bot.addr).await;
            if body["connected"]["onebot"] == json!(1) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(!body.to_string().contains(BOT), "{body}");
    bot.stop().await;

    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.server.show_accounts = true;
    let bot = start(config, &data).await;
    let _napcat = connect(bot.addr).await;
    within(async {
        loop {
            let (_, body) = health(bot.addr).await;
            if body["connected"]["onebot"] == json!([BOT]) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    bot.stop().await;
}
