//! A flooding group or resident does not starve the others (issue 10, item 2): over real
//! reverse WebSocket to the fake NapCat, with real sled files. The input limits answer the
//! excess once and drop the rest, another group is answered ahead of the flood's backlog, a
//! thousand escalations give the agents a few lines and one summary while a real ticket gets
//! its own notice first, and each chat's outbox stays bounded.

mod onebot_common;

use bangban::config::service::Bucket;
use onebot_common::*;
use serde_json::Value;

const TOO_FAST: &str = "您发得太快了，请稍后再问";
const AGENTS: &str = "900100";

fn bucket(burst: u32, per_minute: f64) -> Bucket {
    Bucket { burst, per_minute }
}

/// The bot's next send of any kind, confirmed: (chat id, text).
async fn next_send(fake: &mut Fake) -> (String, String, Value) {
    let request = fake.request().await;
    let chat = match request.action.as_str() {
        "send_group_msg" => request.params["group_id"].to_string(),
        "send_private_msg" => format!("private {}", request.params["user_id"]),
        other => panic!("unexpected action {other}"),
    };
    let reply = parse_reply(&request.params);
    fake.answer(
        &request,
        serde_json::json!({"status": "ok", "retcode": 0, "data": {"message_id": 1}}),
    )
    .await;
    (chat, reply.text, request.params)
}

#[tokio::test]
async fn a_flood_is_told_once_and_another_group_is_answered_ahead_of_its_backlog() {
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.limits.sender = bucket(3, 0.01);
    config.service.limits.group = bucket(10, 0.01);
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;

    // 200 residents of group 900001 ask at once, and one of them 50 times more.
    for i in 0..200u64 {
        fake.send(&question(10_000 + i, 900001, 700_000 + i, "老年卡要带什么"))
            .await;
    }
    for i in 0..50u64 {
        fake.send(&question(20_000 + i, 900001, 700_000, "老年卡要带什么"))
            .await;
    }
    // One resident of group 900003 asks 20 times.
    for i in 0..20u64 {
        fake.send(&question(30_000 + i, 900003, 710_000, "社保卡怎么激活"))
            .await;
    }
    // Then someone in a quiet group asks. Nothing is confirmed until all of it was read, so
    // the flood's replies wait in the outbox.
    fake.send(&question(40_000, 900002, 720_000, "低保怎么申请"))
        .await;
    service
        .wait_metric("bangban_handled_total{outcome=\"replied\"}", 10 + 3 + 1)
        .await;
    service
        .wait_metric(
            "bangban_messages_limited_total{platform=\"onebot\",scope=\"group\"}",
            240,
        )
        .await;
    service
        .wait_metric(
            "bangban_messages_limited_total{platform=\"onebot\",scope=\"sender\"}",
            17,
        )
        .await;

    let mut sends = Vec::new();
    while sends.len() < 10 + 1 + 3 + 1 + 1 {
        sends.push(fake.reply().await);
    }
    let quiet = sends
        .iter()
        .position(|r| r.group == "900002")
        .expect("the quiet group is answered");
    assert!(
        quiet <= 2,
        "the quiet group's answer goes ahead of the flood's backlog, not behind it: {quiet}"
    );
    assert_eq!(sends[quiet].quote.as_deref(), Some("40000"));

    let told: Vec<_> = sends.iter().filter(|r| r.text == TOO_FAST).collect();
    assert_eq!(told.len(), 2, "once per group and once per resident");
    // The group is told at its first addressed message over the limit, quoting it.
    assert!(
        told.iter()
            .any(|r| r.group == "900001" && r.quote.as_deref() == Some("10010")),
        "{told:?}"
    );
    assert!(
        told.iter().any(|r| r.group == "900003"
            && r.quote.as_deref() == Some("30003")
            && r.at.as_deref() == Some("710000")),
        "{told:?}"
    );
    let answered = |group: &str| {
        sends
            .iter()
            .filter(|r| r.group == group && r.text != TOO_FAST)
            .count()
    };
    assert_eq!(
        (answered("900001"), answered("900003")),
        (10, 3),
        "only what the limits let in is answered"
    );
    // Nothing else was queued: everything the flood sent beyond the limits was dropped.
    service.wait_metric("bangban_outbox_depth", 0).await;
    service.stop().await;
}

#[tokio::test]
async fn a_thousand_escalations_give_agents_a_few_lines_and_a_real_ticket_its_own_notice_first() {
    let (_dir, data) = data_dir();
    let mut config = config();
    // The input limits let everything in: this is about what the agents are sent.
    config.service.limits.sender = bucket(10_000, 60.0);
    config.service.limits.group = bucket(10_000, 60.0);
    config.service.limits.notices = bucket(2, 0.01);
    config.service.limits.summary_secs = 1;
    config.service.outbox.max_per_chat = 5_000;
    // Sends wait unanswered while the flood is read; none may time out meanwhile.
    config.service.onebot.action_timeout_secs = 300;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;

    const FLOOD: u64 = 1_000;
    for i in 0..FLOOD {
        fake.send(&question(
            50_000 + i,
            900001,
            700_000 + i,
            "村里的路灯坏了找谁",
        ))
        .await;
    }
    service
        .wait_metric("bangban_handled_total{outcome=\"replied\"}", FLOOD as i64)
        .await;
    // A real ticket from a quiet village, while the flood's sends still wait.
    fake.send(&question(60_000, 900002, 720_000, "村里的路灯坏了找谁"))
        .await;
    service
        .wait_metric(
            "bangban_handled_total{outcome=\"replied\"}",
            FLOOD as i64 + 1,
        )
        .await;

    let mut agents_lines: Vec<String> = Vec::new();
    let mut residents = 0;
    let mut summed = 0;
    while residents < FLOOD + 1 || summed < FLOOD - 2 {
        let (chat, text, _) = next_send(&mut fake).await;
        if chat == AGENTS {
            if let Some(n) = text
                .strip_prefix("另有 ")
                .and_then(|t| t.split_once(' '))
                .map(|(n, _)| n.parse::<u64>().unwrap())
            {
                summed += n;
            }
            agents_lines.push(text);
        } else {
            residents += 1;
        }
    }
    assert_eq!(summed, FLOOD - 2, "the rest are counted in summaries");
    assert!(
        agents_lines.len() <= 10,
        "a few lines for agents, not {FLOOD}: {agents_lines:#?}"
    );
    let real = agents_lines
        .iter()
        .position(|t| t.contains("QQ群900002"))
        .expect("the real ticket has its own notice");
    assert!(
        real <= 1,
        "the real ticket's notice goes ahead of the flood's: {agents_lines:#?}"
    );
    assert!(
        agents_lines[real + 1..]
            .iter()
            .all(|t| !t.contains("QQ群900002")),
        "one notice for it"
    );
    assert_eq!(
        service
            .metric("bangban_notices_summarized_total{platform=\"onebot\"}")
            .await,
        FLOOD as i64 - 2
    );
    service.stop().await;
}

#[tokio::test]
async fn a_chats_outbox_stays_bounded_when_nothing_is_confirmed() {
    let (_dir, data) = data_dir();
    let mut config = config();
    config.service.limits.sender = bucket(10_000, 60.0);
    config.service.limits.group = bucket(10_000, 60.0);
    config.service.outbox.max_per_chat = 8;
    config.service.onebot.action_timeout_secs = 300;
    let service = Service::start(config, &data).await;
    let mut fake = service.connect().await;
    for i in 0..300u64 {
        fake.send(&question(70_000 + i, 900001, 700_000 + i, "老年卡要带什么"))
            .await;
    }
    // The implementation reads the first send and never answers it.
    let first = fake.request().await;
    assert_eq!(first.action, "send_group_msg");
    service
        .wait_metric(
            "bangban_messages_limited_total{platform=\"onebot\",scope=\"backlog\"}",
            300 - 8,
        )
        .await;
    service.wait_metric("bangban_outbox_depth", 8).await;

    // Another group is still answered at once.
    fake.send(&question(80_000, 900002, 720_000, "老年卡要带什么"))
        .await;
    let reply = fake.reply().await;
    assert_eq!(
        (reply.group.as_str(), reply.quote.as_deref()),
        ("900002", Some("80000"))
    );
    // The unanswered send ends with the connection.
    drop(fake);
    service.stop().await;
}
