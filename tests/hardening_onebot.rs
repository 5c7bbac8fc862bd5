//! Issue 10, item 9(a) and (b), through the whole service over a real reverse WebSocket on
//! loopback and real sled files:
//!
//! - the same OneBot `message_id` in another group is another message: answered, and a ticket
//!   of its own (some implementations number messages per group); the same id in the same group
//!   is still a duplicate;
//! - `bangban_connection_up` is in `/metrics` at 0 for every bot account known before it
//!   connects (named in `org.toml`, or left messages by the last run), so an alert on `== 0`
//!   can fire.

mod onebot_common;

use bangban::config::org::Id;
use bangban::store::Store;
use bangban_contract::{Chat, Outgoing, Platform};
use onebot_common::*;

const ASKER: u64 = 700_100;

/// The up series of `account`, masked as `/metrics` shows it by default.
fn up_series(account: &str) -> String {
    let account = bangban::runtime::metrics::masked_account(account);
    format!("bangban_connection_up{{platform=\"onebot\",account=\"{account}\"}}")
}

/// The bot's replies, confirmed, until one in each of `groups` quotes `message_id`.
async fn replies_in_each(fake: &mut Fake, message_id: &str, groups: &[&str]) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !groups.iter().all(|g| {
        replies
            .iter()
            .any(|r: &Reply| r.group == *g && r.quote.as_deref() == Some(message_id))
    }) {
        replies.push(fake.reply().await);
    }
    replies
}

#[tokio::test]
async fn the_same_message_id_in_another_group_is_another_message() {
    let (_dir, data) = data_dir();
    let service = Service::start(config(), &data).await;
    let mut fake = service.connect().await;

    fake.send(&question(7001, 900001, ASKER, "老年卡要带什么"))
        .await;
    let first = fake.reply().await;
    assert_eq!(
        (first.group.as_str(), first.quote.as_deref()),
        ("900001", Some("7001"))
    );
    // Same id, another group, another question: answered in that group.
    fake.send(&question(7001, 900002, ASKER + 1, "社保卡怎么激活"))
        .await;
    let second = fake.reply().await;
    assert_eq!(
        (second.group.as_str(), second.quote.as_deref()),
        ("900002", Some("7001"))
    );
    assert_ne!(first.text, second.text);

    // Same id in the same group again: a duplicate, not answered again. The next question in
    // that group gets the next reply there.
    fake.send(&question(7001, 900001, ASKER, "老年卡要带什么"))
        .await;
    service
        .wait_metric("bangban_messages_duplicate_total{platform=\"onebot\"}", 1)
        .await;
    fake.send(&question(7002, 900001, ASKER, "老年卡要带什么"))
        .await;
    assert_eq!(fake.reply().await.quote.as_deref(), Some("7002"));

    // Outside the guide, the same id in two groups: two tickets, each resident told their own.
    let uncovered = "村里的路灯坏了找谁";
    fake.send(&question(7003, 900003, ASKER + 2, uncovered))
        .await;
    fake.send(&question(7003, 900004, ASKER + 3, uncovered))
        .await;
    let replies = replies_in_each(&mut fake, "7003", &["900003", "900004"]).await;
    let told = |group: &str| {
        replies
            .iter()
            .find(|r| r.group == group && r.quote.as_deref() == Some("7003"))
            .unwrap()
            .text
            .clone()
    };
    assert!(told("900003").contains("工单号：1"), "{}", told("900003"));
    assert!(told("900004").contains("工单号：2"), "{}", told("900004"));
    service.stop().await;

    let store = Store::open(&data).unwrap();
    let tickets = store.tickets().unwrap().all().unwrap();
    let chats: Vec<(u64, Chat)> = tickets.iter().map(|t| (t.id, t.chat.clone())).collect();
    assert_eq!(
        chats,
        [
            (1, Chat::Group("900003".into())),
            (2, Chat::Group("900004".into()))
        ]
    );
}

#[tokio::test]
async fn accounts_that_never_connected_show_as_down() {
    let (_dir, data) = data_dir();
    // The last run left a reply for a QQ account that has not connected since.
    {
        let store = Store::open(&data).unwrap();
        store
            .enqueue(&[Outgoing::SendText {
                platform: Platform::Onebot,
                account: "333333".into(),
                chat: Chat::Group("900001".into()),
                text: "上次没发出去的回复".into(),
                quote: None,
                mention: None,
            }])
            .unwrap();
        store.flush().await.unwrap();
    }
    // The agents' group names the bot account that is in it.
    let mut config = config();
    let chat = config
        .org
        .agents_chats
        .iter_mut()
        .find(|c| c.platform == Platform::Onebot)
        .unwrap();
    chat.account = Some(Id("222222".into()));
    let service = Service::start(config, &data).await;

    let (_, metrics) = service.get("/metrics").await;
    for account in ["222222", "333333"] {
        let line = format!("{} 0", up_series(account));
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    // One connects: it is up, the others stay down, and the left reply waits for its account.
    let _fake = service.connect().await;
    service.wait_metric(&up_series(BOT), 1).await;
    let (_, metrics) = service.get("/metrics").await;
    assert!(
        metrics.contains(&format!("{} 0\n", up_series("222222"))),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("{} 0\n", up_series("333333"))),
        "{metrics}"
    );
    assert_eq!(metric_in(&metrics, "bangban_outbox_depth"), 1);
    service.stop().await;
}
