//! Passive replies and access tokens against a fake QQ OpenAPI over loopback.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bangban_contract::{Adapter, Chat, ConnectionState, Delivered, Outgoing, Platform, SendError};
use bangban_qqbot::QqBotConfig;
use common::*;
use serde_json::json;

fn reply(chat: Chat, text: &str) -> Outgoing {
    Outgoing::SendText {
        platform: Platform::Qqbot,
        account: APP_ID.into(),
        chat,
        text: text.into(),
        quote: None,
        mention: None,
    }
}

fn group() -> Chat {
    Chat::Group(GROUP.into())
}

fn quoting(chat: Chat, text: &str, quote: &str) -> Outgoing {
    match reply(chat, text) {
        Outgoing::SendText {
            platform,
            account,
            chat,
            text,
            mention,
            ..
        } => Outgoing::SendText {
            platform,
            account,
            chat,
            text,
            quote: Some(quote.into()),
            mention,
        },
    }
}

#[tokio::test]
async fn replies_carry_the_message_id_and_a_rising_seq() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    bot.push(&group_event("ROBOT1.0_g1", "办居住证要带什么"))
        .await;
    let incoming = bot.next_message().await;

    let delivered = within(
        bot.qqbot
            .send(&reply(incoming.chat.clone(), "带身份证和租房合同")),
    )
    .await
    .unwrap();
    assert_eq!(
        delivered,
        Delivered {
            message_id: Some("BOT1".into())
        }
    );
    let sent = fake.next_sent().await;
    assert_eq!(sent.path, format!("/v2/groups/{GROUP}/messages"));
    assert_eq!(sent.authorization.as_deref(), Some("QQBot tok-1"));
    assert_eq!(
        sent.body,
        json!({"content": "带身份证和租房合同", "msg_type": 0, "msg_id": "ROBOT1.0_g1", "msg_seq": 1})
    );

    // The second reply to the same message: msg_seq 2; a mention becomes a tag.
    let mention = match reply(group(), "还要一寸照片") {
        Outgoing::SendText {
            platform,
            account,
            chat,
            text,
            quote,
            ..
        } => Outgoing::SendText {
            platform,
            account,
            chat,
            text,
            quote,
            mention: Some(MEMBER.into()),
        },
    };
    within(bot.qqbot.send(&mention)).await.unwrap();
    let sent = fake.next_sent().await;
    assert_eq!(sent.body["msg_seq"], 2);
    assert_eq!(sent.body["msg_id"], "ROBOT1.0_g1");
    assert_eq!(sent.body["content"], format!("<@{MEMBER}> 还要一寸照片"));

    // C2C replies go to the user's endpoint, with their own numbering.
    bot.push(&c2c_event("ROBOT1.0_c1", "你好")).await;
    let private = bot.next_message().await.chat;
    within(bot.qqbot.send(&reply(private, "您好")))
        .await
        .unwrap();
    let sent = fake.next_sent().await;
    assert_eq!(sent.path, format!("/v2/users/{USER}/messages"));
    assert_eq!(sent.body["msg_id"], "ROBOT1.0_c1");
    assert_eq!(sent.body["msg_seq"], 1);
    // One token served all three.
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn after_the_window_sends_await_the_next_message() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    // Nothing to reply to yet.
    let error = within(bot.qqbot.send(&reply(group(), "早上好")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    fake.assert_nothing_sent();

    bot.push(&group_event("ROBOT1.0_g1", "在吗")).await;
    bot.next_message().await;
    within(bot.qqbot.send(&reply(group(), "在的")))
        .await
        .unwrap();
    assert_eq!(fake.next_sent().await.body["msg_seq"], 1);

    bot.clock.advance(Duration::from_secs(5 * 60));
    let error = within(bot.qqbot.send(&reply(group(), "材料清单如下")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    fake.assert_nothing_sent();

    // The resident writes again: the held reply goes out on the new message.
    bot.push(&group_event("ROBOT1.0_g2", "然后呢")).await;
    bot.next_message().await;
    within(bot.qqbot.send(&reply(group(), "材料清单如下")))
        .await
        .unwrap();
    let sent = fake.next_sent().await;
    assert_eq!(sent.body["msg_id"], "ROBOT1.0_g2");
    assert_eq!(sent.body["msg_seq"], 1);
}

#[tokio::test]
async fn a_message_takes_five_replies_and_the_quoted_one_is_used() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    bot.push(&group_event("ROBOT1.0_a", "第一个问题")).await;
    bot.next_message().await;
    bot.push(&group_event("ROBOT1.0_b", "第二个问题")).await;
    bot.next_message().await;
    // Quoting the older message replies to it; otherwise the newest.
    within(bot.qqbot.send(&quoting(group(), "答一", "ROBOT1.0_a")))
        .await
        .unwrap();
    assert_eq!(fake.next_sent().await.body["msg_id"], "ROBOT1.0_a");
    for seq in 1..=5 {
        within(bot.qqbot.send(&reply(group(), "答二")))
            .await
            .unwrap();
        let sent = fake.next_sent().await;
        assert_eq!(
            (sent.body["msg_id"].as_str(), sent.body["msg_seq"].as_u64()),
            (Some("ROBOT1.0_b"), Some(seq))
        );
    }
    // b is used up: the rest of a's replies follow, then nothing.
    for seq in 2..=5 {
        within(bot.qqbot.send(&reply(group(), "答三")))
            .await
            .unwrap();
        let sent = fake.next_sent().await;
        assert_eq!(
            (sent.body["msg_id"].as_str(), sent.body["msg_seq"].as_u64()),
            (Some("ROBOT1.0_a"), Some(seq))
        );
    }
    let error = within(bot.qqbot.send(&reply(group(), "答四")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    fake.assert_nothing_sent();
}

#[tokio::test]
async fn platform_errors_are_classified() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    bot.push(&group_event("ROBOT1.0_g1", "你好")).await;
    bot.next_message().await;

    fake.state
        .answer_next(400, json!({"code": 22009, "message": "msg limit exceed"}));
    let error = within(bot.qqbot.send(&reply(group(), "一")))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::RateLimited { .. }), "{error}");
    assert_eq!(fake.next_sent().await.body["msg_seq"], 1);

    fake.state
        .answer_next(500, json!({"code": 1100300, "message": "系统内部错误"}));
    let error = within(bot.qqbot.send(&reply(group(), "二")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "{error}"
    );
    fake.state.answer_next(504, json!({}));
    let error = within(bot.qqbot.send(&reply(group(), "二")))
        .await
        .unwrap_err();
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

    fake.state
        .answer_next(400, json!({"code": 40054010, "message": "不允许发送URL"}));
    let error = within(bot.qqbot.send(&reply(group(), "见 https://x")))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(error.reason().contains("40054010"), "{error}");
    // Each try spent a msg_seq, never repeated.
    for seq in 2..=4 {
        assert_eq!(fake.next_sent().await.body["msg_seq"], seq);
    }

    // The platform says the message can take no more replies: the core must wait for the
    // next one, and the adapter does not try that message again.
    fake.state.answer_next(
        400,
        json!({"err_code": 40034005, "message": "回复消息msg_id已过期"}),
    );
    let error = within(bot.qqbot.send(&reply(group(), "三")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    assert_eq!(fake.next_sent().await.body["msg_seq"], 5);
    let error = within(bot.qqbot.send(&reply(group(), "三")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    fake.assert_nothing_sent();

    // Wrong platform, wrong account, empty text: refused without a call.
    let mut wrong = reply(group(), "x");
    let Outgoing::SendText { platform, .. } = &mut wrong;
    *platform = Platform::Onebot;
    assert!(matches!(
        within(bot.qqbot.send(&wrong)).await,
        Err(SendError::Permanent { .. })
    ));
    let mut wrong = reply(group(), "x");
    let Outgoing::SendText { account, .. } = &mut wrong;
    *account = "999".into();
    assert!(matches!(
        within(bot.qqbot.send(&wrong)).await,
        Err(SendError::Permanent { .. })
    ));
    assert!(matches!(
        within(bot.qqbot.send(&reply(group(), "  "))).await,
        Err(SendError::Permanent { .. })
    ));
    fake.assert_nothing_sent();
}

#[tokio::test]
async fn a_timeout_may_have_delivered() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start_with(QqBotConfig {
        action_timeout: Duration::from_millis(300),
        ..config(&fake)
    })
    .await;
    bot.expect_state(ConnectionState::Up).await;
    bot.push(&group_event("ROBOT1.0_g1", "你好")).await;
    bot.next_message().await;
    fake.state.hang.store(true, Ordering::SeqCst);
    let error = within(bot.qqbot.send(&reply(group(), "一")))
        .await
        .unwrap_err();
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
    assert_eq!(fake.next_sent().await.body["msg_seq"], 1);
    // The next try takes a new msg_seq: the first may be there.
    fake.state.hang.store(false, Ordering::SeqCst);
    within(bot.qqbot.send(&reply(group(), "一"))).await.unwrap();
    assert_eq!(fake.next_sent().await.body["msg_seq"], 2);
}

#[tokio::test]
async fn the_token_is_reused_renewed_before_expiry_and_after_a_401() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    bot.push(&group_event("ROBOT1.0_g1", "你好")).await;
    bot.next_message().await;
    for _ in 0..3 {
        within(bot.qqbot.send(&reply(group(), "一"))).await.unwrap();
        assert_eq!(
            fake.next_sent().await.authorization.as_deref(),
            Some("QQBot tok-1")
        );
    }
    assert_eq!(fake.token_requests(), 1);

    // Past the token's refresh point (7200 s less the 50 s margin): a new one.
    bot.clock.advance(Duration::from_secs(7200 - 50));
    bot.push(&group_event("ROBOT1.0_g2", "还在吗")).await;
    bot.next_message().await;
    within(bot.qqbot.send(&reply(group(), "在"))).await.unwrap();
    assert_eq!(
        fake.next_sent().await.authorization.as_deref(),
        Some("QQBot tok-2")
    );
    assert_eq!(fake.token_requests(), 2);

    // The API stops taking the token: one renewal, one more post with the same msg_seq.
    fake.state.revoke_all_tokens();
    within(bot.qqbot.send(&reply(group(), "再答")))
        .await
        .unwrap();
    let refused = fake.next_sent().await;
    let retried = fake.next_sent().await;
    assert_eq!(refused.authorization.as_deref(), Some("QQBot tok-2"));
    assert_eq!(retried.authorization.as_deref(), Some("QQBot tok-3"));
    assert_eq!(refused.body, retried.body);
    assert_eq!(fake.token_requests(), 3);
    bot.assert_no_event();
}

#[tokio::test]
async fn the_account_goes_down_when_the_token_cannot_be_renewed() {
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    assert_eq!(bot.qqbot.connected_accounts(), vec![APP_ID.to_owned()]);
    fake.state.tokens_work.store(false, Ordering::SeqCst);
    bot.clock.advance(Duration::from_secs(7200));
    bot.push(&group_event("ROBOT1.0_g1", "你好")).await;
    bot.next_message().await;
    let error = within(bot.qqbot.send(&reply(group(), "一")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "{error}"
    );
    bot.expect_state(ConnectionState::Down).await;
    assert!(bot.qqbot.connected_accounts().is_empty());
    // While down, sends fail at once.
    let error = within(bot.qqbot.send(&reply(group(), "一")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "{error}"
    );
    fake.assert_nothing_sent();

    // The token endpoint recovers: the background retry brings the account back.
    fake.state.tokens_work.store(true, Ordering::SeqCst);
    bot.expect_state(ConnectionState::Up).await;
    within(bot.qqbot.send(&reply(group(), "一"))).await.unwrap();
    // The try without a token gave its reply back but not its msg_seq (never reused).
    let sent = fake.next_sent().await;
    assert_eq!(sent.body["msg_id"], "ROBOT1.0_g1");
    assert_eq!(sent.body["msg_seq"], 2);
}

#[tokio::test]
async fn sends_before_the_first_token_fail_at_once() {
    let mut fake = FakeQq::start().await;
    fake.state.tokens_work.store(false, Ordering::SeqCst);
    let mut bot = Bot::start_with(config(&fake)).await;
    let error = within(bot.qqbot.send(&reply(group(), "一")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "{error}"
    );
    assert!(bot.qqbot.connected_accounts().is_empty());
    fake.state.tokens_work.store(true, Ordering::SeqCst);
    bot.expect_state(ConnectionState::Up).await;
    fake.assert_nothing_sent();
}
