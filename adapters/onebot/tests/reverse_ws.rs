//! The reverse WebSocket server against a fake OneBot implementation over loopback.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bangban_contract::{
    Adapter, Chat, ConnectionState, Delivered, Event, Incoming, Outgoing, Platform, SendError,
};
use bangban_onebot::{OneBot, OneBotConfig};
use common::*;
use serde_json::json;

fn reply(account: &str, group: &str, text: &str) -> Outgoing {
    Outgoing::SendText {
        platform: Platform::Onebot,
        account: account.into(),
        chat: Chat::Group(group.into()),
        text: text.into(),
        quote: Some("2002".into()),
        mention: Some("345678901".into()),
    }
}

#[tokio::test]
async fn group_message_reaches_the_core() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    fake.send(
        &json!({"time": 1718000000, "self_id": 123456789, "post_type": "meta_event",
        "meta_event_type": "lifecycle", "sub_type": "connect"}),
    )
    .await;
    fake.send(&fixture("group_message_array")).await;
    assert_eq!(
        bot.next_message().await,
        Incoming {
            platform: Platform::Onebot,
            account: BOT.into(),
            chat: Chat::Group("987654321".into()),
            sender: "345678901".into(),
            sender_name: Some("管理员".into()),
            message_id: "2002".into(),
            text: "大家好！".into(),
            mentions_bot: true,
            reply_to: None,
        }
    );
    assert_eq!(bot.onebot.connected_accounts(), vec![BOT.to_owned()]);
}

#[tokio::test]
async fn cq_string_messages_and_string_ids() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    fake.send(&json!({
        "post_type": "message", "message_type": "group", "sub_type": "normal",
        "self_id": "123456789", "message_id": "-9001", "user_id": "55", "group_id": "66",
        "message": "[CQ:reply,id=2001][CQ:at,qq=123456789] 老年卡&#91;新办&#93;要带啥 ",
        "sender": {"user_id": "55", "nickname": "李阿姨", "card": ""}
    }))
    .await;
    let incoming = bot.next_message().await;
    assert_eq!(incoming.text, "老年卡[新办]要带啥");
    assert_eq!(incoming.reply_to.as_deref(), Some("2001"));
    assert_eq!(incoming.message_id, "-9001");
    assert_eq!(incoming.sender_name.as_deref(), Some("李阿姨"));
    assert!(incoming.mentions_bot);
}

#[tokio::test]
async fn send_goes_out_as_reply_at_text_and_resolves_with_the_message_id() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    let onebot = bot.onebot.clone();
    let send = tokio::spawn(async move {
        onebot
            .send(&reply(BOT, "987654321", "带身份证和户口本。"))
            .await
    });
    let request = fake.request().await;
    assert_eq!(request.action, "send_group_msg");
    assert_eq!(
        request.params,
        json!({"group_id": 987654321, "message": [
            {"type": "reply", "data": {"id": "2002"}},
            {"type": "at", "data": {"qq": "345678901"}},
            {"type": "text", "data": {"text": " 带身份证和户口本。"}},
        ]})
    );
    fake.answer(&request, fixture("send_group_msg_response_napcat"))
        .await;
    assert_eq!(
        within(send).await.unwrap(),
        Ok(Delivered {
            message_id: Some("1936658337".into())
        })
    );
}

#[tokio::test]
async fn a_failed_response_is_an_error_with_its_retcode() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    let onebot = bot.onebot.clone();
    let send = tokio::spawn(async move { onebot.send(&reply(BOT, "1", "你好")).await });
    let request = fake.request().await;
    fake.answer(&request, fixture("send_failed_napcat")).await;
    let error = within(send).await.unwrap().unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.reason().contains("1200"), "{error}");

    // A bad request is permanent.
    let onebot = bot.onebot.clone();
    let send = tokio::spawn(async move { onebot.send(&reply(BOT, "1", "你好")).await });
    let request = fake.request().await;
    fake.answer(
        &request,
        json!({"status": "failed", "retcode": 1400, "message": "group_id invalid"}),
    )
    .await;
    let error = within(send).await.unwrap().unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused() {
    let mut bot = Bot::start(config()).await;
    let url = bot.ws_url("/onebot/v11/ws");
    let missing = Fake::connect(&url, &[("X-Self-ID", BOT)]).await;
    assert_eq!(refused_status(missing), 401);
    let wrong = Fake::connect(
        &url,
        &[
            ("X-Self-ID", BOT),
            ("Authorization", "Bearer not-the-token"),
        ],
    )
    .await;
    assert_eq!(refused_status(wrong), 403);
    let wrong_query = Fake::connect(&format!("{url}?access_token=nope"), &[]).await;
    assert_eq!(refused_status(wrong_query), 403);
    let wrong_api = Fake::connect(
        &bot.ws_url("/onebot/v11/ws/api"),
        &[("Authorization", "Token nope")],
    )
    .await;
    assert_eq!(refused_status(wrong_api), 403);
    bot.assert_no_event();

    // go-cqhttp's `Token` scheme and the query parameter are accepted.
    let _token = Fake::connect(
        &url,
        &[
            ("X-Self-ID", "1"),
            ("Authorization", &format!("Token {TOKEN}")),
        ],
    )
    .await
    .unwrap();
    bot.expect_state("1", ConnectionState::Up).await;
    let _query = Fake::connect(
        &format!("{url}?access_token={TOKEN}"),
        &[("X-Self-ID", "2")],
    )
    .await
    .unwrap();
    bot.expect_state("2", ConnectionState::Up).await;
}

#[tokio::test]
async fn bad_input_leaves_the_connection_serving() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    for junk in [
        "{not json",
        "[1,2,3]",
        "\"a string\"",
        "{}",
        r#"{"post_type":"message","message_type":"group","self_id":123456789}"#,
        r#"{"post_type":"message","message_type":"group","self_id":123456789,"user_id":1,"group_id":2,"message_id":3,"message":42}"#,
        r#"{"post_type":"notice","notice_type":"group_recall","self_id":123456789,"group_id":1}"#,
        r#"{"post_type":"request","request_type":"friend","self_id":123456789}"#,
        r#"{"post_type":"brand_new_type","self_id":123456789}"#,
        r#"{"post_type":"meta_event","meta_event_type":"brand_new","self_id":123456789}"#,
        r#"{"status":"ok","retcode":0,"data":null,"echo":"nobody-waits-for-this"}"#,
    ] {
        fake.send_text(junk).await;
    }
    // The event with message 42 is a message all the same: an empty one.
    let empty = bot.next_message().await;
    assert_eq!((empty.message_id.as_str(), empty.text.as_str()), ("3", ""));

    // The bot's own message, reported as NapCat does with reportSelfMessage.
    let mut own = fixture("group_message_array");
    own["post_type"] = json!("message_sent");
    own["user_id"] = json!(123456789);
    own["message_id"] = json!(7001);
    fake.send(&own).await;
    own["post_type"] = json!("message");
    fake.send(&own).await;

    let big = "办".repeat((1 << 20) / 3 + 1); // over 1 MB of UTF-8
    fake.send(&group_message(7002, &big)).await;
    fake.send(&group_message(7003, "下一个问题")).await;
    let first = bot.next_message().await;
    assert_eq!(first.message_id, "7002");
    assert_eq!(first.text.len(), big.len());
    let second = bot.next_message().await;
    assert_eq!(
        (second.message_id.as_str(), second.text.as_str()),
        ("7003", "下一个问题")
    );
    bot.assert_no_event();
}

#[tokio::test]
async fn heartbeats_and_lifecycle_track_the_account() {
    let mut bot = Bot::start(config()).await;
    let heartbeat = fixture("heartbeat");
    let account = heartbeat["self_id"].to_string();
    let mut fake = bot.connect_universal(&account).await;
    fake.send(&heartbeat).await;
    let mut offline = heartbeat.clone();
    offline["status"]["online"] = json!(false);
    fake.send(&offline).await;
    bot.expect_state(&account, ConnectionState::Down).await;
    assert!(bot.onebot.connected_accounts().is_empty());
    fake.send(&heartbeat).await;
    bot.expect_state(&account, ConnectionState::Up).await;
    fake.send(
        &json!({"post_type": "meta_event", "meta_event_type": "lifecycle",
        "sub_type": "disable", "self_id": heartbeat["self_id"]}),
    )
    .await;
    bot.expect_state(&account, ConnectionState::Down).await;
    fake.send(
        &json!({"post_type": "meta_event", "meta_event_type": "lifecycle",
        "sub_type": "enable", "self_id": heartbeat["self_id"]}),
    )
    .await;
    bot.expect_state(&account, ConnectionState::Up).await;

    drop(fake);
    bot.expect_state(&account, ConnectionState::Down).await;
    let error = bot
        .onebot
        .send(&reply(&account, "1", "你好"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SendError::Retryable {
            reason: format!("account {account} is not connected"),
            maybe_delivered: false
        }
    );
}

#[tokio::test]
async fn a_send_times_out_when_the_implementation_never_answers() {
    let mut bot = Bot::start(OneBotConfig {
        action_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut fake = bot.connect_universal(BOT).await;
    let onebot = bot.onebot.clone();
    let started = Instant::now();
    let send = tokio::spawn(async move { onebot.send(&reply(BOT, "1", "你好")).await });
    let request = fake.request().await;
    assert_eq!(request.action, "send_group_msg");
    let error = within(send).await.unwrap().unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: true,
                ..
            }
        ),
        "{error}"
    );
    // A late answer is ignored and the connection keeps serving.
    fake.answer(&request, fixture("send_group_msg_response_napcat"))
        .await;
    fake.send(&group_message(8001, "还在吗")).await;
    assert_eq!(bot.next_message().await.message_id, "8001");
}

#[tokio::test]
async fn sends_go_to_the_connection_of_their_account() {
    let mut bot = Bot::start(config()).await;
    let mut first = bot.connect_universal("10001").await;
    let mut second = bot.connect_universal("10002").await;
    assert_eq!(bot.onebot.connected_accounts().len(), 2);
    for (account, fake, message_id) in [("10002", &mut second, 1), ("10001", &mut first, 2)] {
        let onebot = bot.onebot.clone();
        let account_owned = account.to_owned();
        let send =
            tokio::spawn(async move { onebot.send(&reply(&account_owned, "9", "好")).await });
        // The first frame each fake sees is its own account's request.
        let request = fake.request().await;
        fake.answer(
            &request,
            json!({"status": "ok", "retcode": 0, "data": {"message_id": message_id}}),
        )
        .await;
        let delivered = within(send).await.unwrap().unwrap();
        assert_eq!(delivered.message_id, Some(message_id.to_string()));
    }
}

#[tokio::test]
async fn split_clients_carry_events_and_actions_apart() {
    let mut bot = Bot::start(config()).await;
    let auth = format!("Bearer {TOKEN}");
    let mut events = Fake::connect(
        &bot.ws_url("/onebot/v11/ws/event"),
        &[("X-Self-ID", BOT), ("Authorization", &auth)],
    )
    .await
    .unwrap();
    events.send(&fixture("group_message_array")).await;
    // An Event connection alone cannot send: no Up, just the message.
    assert_eq!(bot.next_message().await.message_id, "2002");

    let mut api = Fake::connect(
        &bot.ws_url("/onebot/v11/ws/api"),
        &[("X-Self-ID", BOT), ("Authorization", &auth)],
    )
    .await
    .unwrap();
    bot.expect_state(BOT, ConnectionState::Up).await;
    let onebot = bot.onebot.clone();
    let send = tokio::spawn(async move { onebot.send(&reply(BOT, "987654321", "好的")).await });
    let request = api.request().await;
    api.answer(&request, fixture("send_group_msg_response_spec"))
        .await;
    assert_eq!(
        within(send).await.unwrap().unwrap().message_id.as_deref(),
        Some("1234")
    );
}

#[tokio::test]
async fn without_x_self_id_the_account_comes_from_get_login_info() {
    let mut bot = Bot::start(config()).await;
    let mut fake = Fake::connect(
        &bot.ws_url("/onebot/v11/ws"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .await
    .unwrap();
    fake.answer_login("424242").await;
    bot.expect_state("424242", ConnectionState::Up).await;
}

#[tokio::test]
async fn private_messages_are_addressed_and_answered_privately() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    fake.send(
        &json!({"post_type": "message", "message_type": "private", "sub_type": "friend",
        "self_id": 123456789, "message_id": 31, "user_id": 77,
        "message": [{"type": "text", "data": {"text": "社保卡怎么激活"}}],
        "sender": {"user_id": 77, "nickname": "老王"}}),
    )
    .await;
    let incoming = bot.next_message().await;
    assert_eq!(incoming.chat, Chat::Private("77".into()));
    assert!(incoming.mentions_bot);

    let onebot = bot.onebot.clone();
    let send = tokio::spawn(async move {
        onebot
            .send(&Outgoing::SendText {
                platform: Platform::Onebot,
                account: BOT.into(),
                chat: incoming.chat.clone(),
                text: "带上社保卡到银行网点".into(),
                quote: Some(incoming.message_id.clone()),
                mention: Some(incoming.sender.clone()),
            })
            .await
    });
    let request = fake.request().await;
    assert_eq!(request.action, "send_private_msg");
    assert_eq!(
        request.params,
        json!({"user_id": 77, "message": [
            {"type": "reply", "data": {"id": "31"}},
            {"type": "text", "data": {"text": "带上社保卡到银行网点"}},
        ]})
    );
    fake.answer(
        &request,
        json!({"status": "ok", "retcode": 0, "data": {"message_id": "m-1"}}),
    )
    .await;
    assert_eq!(
        within(send).await.unwrap().unwrap().message_id.as_deref(),
        Some("m-1")
    );
}

#[tokio::test]
async fn recall_and_member_lookup() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    let onebot = bot.onebot.clone();
    let recall = tokio::spawn(async move {
        let recall = onebot.as_recall().expect("OneBot can recall");
        recall
            .recall(BOT, &Chat::Group("1".into()), "1936658337")
            .await
    });
    let request = fake.request().await;
    assert_eq!(request.action, "delete_msg");
    assert_eq!(request.params, json!({"message_id": 1936658337u64}));
    // delete_msg answers without `data`.
    fake.answer(&request, json!({"status": "ok", "retcode": 0}))
        .await;
    within(recall).await.unwrap().unwrap();

    let onebot = bot.onebot.clone();
    let lookup = tokio::spawn(async move {
        let members = onebot
            .as_member_lookup()
            .expect("OneBot can look up members");
        members
            .member_name(BOT, &Chat::Group("987654321".into()), "345678901")
            .await
    });
    let request = fake.request().await;
    assert_eq!(request.action, "get_group_member_info");
    assert_eq!(
        request.params,
        json!({"group_id": 987654321, "user_id": 345678901})
    );
    fake.answer(
        &request,
        json!({"status": "ok", "retcode": 0,
        "data": {"user_id": 345678901, "nickname": "群友A", "card": ""}}),
    )
    .await;
    assert_eq!(
        within(lookup).await.unwrap().unwrap().as_deref(),
        Some("群友A")
    );
}

#[tokio::test]
async fn connections_are_refused_until_run_and_closed_when_run_is_dropped() {
    let onebot = Arc::new(OneBot::new(config()));
    let addr = serve(onebot.router()).await;
    let url = format!("ws://{addr}/onebot/v11/ws");
    let headers = [
        ("X-Self-ID", BOT),
        ("Authorization", "Bearer t0ken-for-tests"),
    ];
    assert_eq!(refused_status(Fake::connect(&url, &headers).await), 503);

    let (tx, mut events) = tokio::sync::mpsc::channel(8);
    let run = tokio::spawn(onebot.clone().run(Arc::new(tx)));
    let mut fake = Fake::connect(&url, &headers).await.unwrap();
    assert!(matches!(
        within(events.recv()).await,
        Some(Event::Connection(_))
    ));
    run.abort();
    assert_eq!(fake.recv().await, None, "the adapter closed the connection");
    assert_eq!(refused_status(Fake::connect(&url, &headers).await), 503);
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_missed_heartbeats() {
    let mut bot = Bot::start(OneBotConfig {
        heartbeat_misses: 2,
        ..config()
    })
    .await;
    let mut fake = bot.connect_universal(BOT).await;
    let mut heartbeat = fixture("heartbeat");
    heartbeat["self_id"] = json!(123456789);
    heartbeat["interval"] = json!(100);
    let started = Instant::now();
    fake.send(&heartbeat).await;
    bot.expect_state(BOT, ConnectionState::Down).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(fake.recv().await, None);
}

#[tokio::test]
async fn the_run_future_ends_when_the_core_closes_its_sink() {
    let mut bot = Bot::start(config()).await;
    let mut fake = bot.connect_universal(BOT).await;
    let Bot { events, run, .. } = bot;
    drop(events);
    fake.send(&group_message(1, "有人吗")).await;
    assert_eq!(within(run).await.unwrap(), Ok(()));
    assert_eq!(fake.recv().await, None);
}
