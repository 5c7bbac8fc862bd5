//! `send()` against the fake Bot API: the request it makes and how failures are classified.

mod common;

use std::time::Duration;

use bangban_contract::{Adapter, Chat, ConnectionState, Outgoing, Platform, SendError};
use bangban_telegram::{MAX_TEXT_CHARS, Telegram};
use common::*;
use serde_json::{Value, json};

const GROUP: &str = "-1001987654321";

fn text(chat: Chat, text: &str, quote: Option<&str>, mention: Option<&str>) -> Outgoing {
    Outgoing::SendText {
        platform: Platform::Telegram,
        account: BOT.into(),
        chat,
        text: text.into(),
        quote: quote.map(str::to_owned),
        mention: mention.map(str::to_owned),
    }
}

async fn running() -> Harness {
    let fake = FakeApi::start().await;
    let config = config(&fake.url());
    let mut bot = Harness::start(fake, config).await;
    bot.expect_state(ConnectionState::Up).await;
    bot
}

#[tokio::test]
async fn a_quoted_reply_carries_reply_parameters() {
    let mut bot = running().await;
    let reply = text(
        Chat::Group(GROUP.into()),
        "请带身份证",
        Some("-1001987654321:1201"),
        Some("555000111"),
    );
    let delivered = within(bot.telegram.send(&reply)).await.unwrap();
    assert_eq!(delivered.message_id.as_deref(), Some("-1001987654321:1300"));
    let call = bot.fake.next_call("sendMessage").await;
    assert_eq!(call.body["chat_id"], json!(-1001987654321_i64));
    assert_eq!(
        call.body["text"],
        json!("请带身份证"),
        "no mention when quoting"
    );
    assert_eq!(call.body["reply_parameters"]["message_id"], json!(1201));
    assert_eq!(
        call.body["reply_parameters"]["allow_sending_without_reply"],
        json!(true)
    );
    assert_eq!(call.body["reply_parameters"]["chat_id"], Value::Null);
    assert_eq!(call.body["entities"], Value::Null);

    // Without a quote, the mention is a link to the user on a leading "@".
    let notice = text(
        Chat::Group("-1001800000001".into()),
        "新工单 #3：居住证办理",
        None,
        Some("555000900"),
    );
    let delivered = within(bot.telegram.send(&notice)).await.unwrap();
    assert_eq!(delivered.message_id.as_deref(), Some("-1001800000001:1301"));
    let call = bot.fake.next_call("sendMessage").await;
    assert_eq!(call.body["text"], json!("@ 新工单 #3：居住证办理"));
    assert_eq!(call.body["reply_parameters"], Value::Null);
    assert_eq!(
        call.body["entities"],
        json!([{"type": "text_link", "offset": 0, "length": 1, "url": "tg://user?id=555000900"}])
    );

    // A private message: plain.
    within(bot.telegram.send(&text(
        Chat::Private("555000113".into()),
        "您好",
        None,
        Some("555000113"),
    )))
    .await
    .unwrap();
    let call = bot.fake.next_call("sendMessage").await;
    assert_eq!(call.body["chat_id"], json!(555000113));
    assert_eq!(call.body["text"], json!("您好"));
    assert_eq!(call.body["entities"], Value::Null);
}

#[tokio::test]
async fn failures_are_classified() {
    let mut bot = running().await;
    let message = text(Chat::Group(GROUP.into()), "请带身份证", None, None);

    bot.fake.push_send(Reply::too_many(7));
    let error = within(bot.telegram.send(&message)).await.unwrap_err();
    assert!(
        matches!(error, SendError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(7)),
        "{error}"
    );

    bot.fake.push_send(Reply::error(
        403,
        "Forbidden: bot was kicked from the supergroup chat",
    ));
    let error = within(bot.telegram.send(&message)).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(error.reason().contains("kicked"), "{error}");

    bot.fake
        .push_send(Reply::error(400, "Bad Request: chat not found"));
    let error = within(bot.telegram.send(&message)).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");

    // The answer breaks off: the message may have gone out. The reason names no token.
    bot.fake.push_send(Reply::Break);
    let error = within(bot.telegram.send(&message)).await.unwrap_err();
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
    assert!(!error.reason().contains("AAFake"), "{error}");
    assert!(!error.reason().contains(TOKEN), "{error}");
    let sent = bot.fake.drain("sendMessage").len();
    assert_eq!(sent, 4, "one request per send, no retries");

    // Refused before any request.
    let long = "办".repeat(MAX_TEXT_CHARS + 1);
    let fits = "办".repeat(MAX_TEXT_CHARS);
    for refused in [
        text(Chat::Group(GROUP.into()), &long, None, None),
        text(Chat::Group(GROUP.into()), "  ", None, None),
        text(Chat::Group("not-a-chat".into()), "你好", None, None),
        Outgoing::SendText {
            platform: Platform::Onebot,
            account: BOT.into(),
            chat: Chat::Group(GROUP.into()),
            text: "你好".into(),
            quote: None,
            mention: None,
        },
        Outgoing::SendText {
            platform: Platform::Telegram,
            account: "8000".into(),
            chat: Chat::Group(GROUP.into()),
            text: "你好".into(),
            quote: None,
            mention: None,
        },
    ] {
        let error = within(bot.telegram.send(&refused)).await.unwrap_err();
        assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    }
    assert!(bot.fake.drain("sendMessage").is_empty());
    // At the limit it goes out (the mention is left out rather than pass the limit).
    within(bot.telegram.send(&text(
        Chat::Group(GROUP.into()),
        &fits,
        None,
        Some("555000111"),
    )))
    .await
    .unwrap();
    let call = bot.fake.next_call("sendMessage").await;
    assert_eq!(
        call.body["text"].as_str().unwrap().chars().count(),
        MAX_TEXT_CHARS
    );
}

#[tokio::test]
async fn nothing_is_sent_before_the_account_is_up() {
    let fake = FakeApi::start().await;
    let telegram = Telegram::new(config(&fake.url())).unwrap();
    let error = within(telegram.send(&text(Chat::Group(GROUP.into()), "你好", None, None)))
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
    assert!(telegram.connected_accounts().is_empty());
}
