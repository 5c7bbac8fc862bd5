//! Long polling against the fake Bot API: translation, offsets, retries, connection state.

mod common;

use std::time::Duration;

use bangban_contract::{Adapter, Chat, ConnectionState, Event};
use bangban_telegram::{Backoff, TelegramConfig};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn group_messages_private_chats_and_commands() {
    let fake = FakeApi::start().await;
    let config = config(&fake.url());
    let mut bot = Harness::start(fake, config).await;
    bot.fake.next_call("getMe").await;
    bot.expect_state(ConnectionState::Up).await;
    assert_eq!(bot.telegram.connected_accounts(), vec![BOT.to_owned()]);

    let first = bot.fake.next_call("getUpdates").await;
    assert_eq!(
        first.body["offset"],
        Value::Null,
        "the first poll takes what is pending"
    );
    assert_eq!(first.body["timeout"], json!(5));
    assert_eq!(first.body["allowed_updates"], json!(["message"]));

    bot.fake.push_updates(Reply::updates(vec![
        fixture("group_mention"),
        fixture("group_plain"),
        fixture("reply_to_bot"),
        fixture("own_message"),
        fixture("sticker"),
        fixture("edited"),
        fixture("agent_command"),
        fixture("private"),
    ]));

    let question = bot.next_message().await;
    assert_eq!(question.account, BOT);
    assert_eq!(question.chat, Chat::Group("-1001987654321".into()));
    assert_eq!(question.sender, "555000111");
    assert_eq!(question.sender_name.as_deref(), Some("晓明 王"));
    assert_eq!(question.message_id, "-1001987654321:1201");
    assert_eq!(question.text, "请问居住证怎么办理？");
    assert!(question.mentions_bot);
    assert_eq!(question.reply_to, None);

    let plain = bot.next_message().await;
    assert_eq!(plain.message_id, "-1001987654321:1202");
    assert_eq!(plain.text, "今天社区卫生站开门吗");
    assert!(!plain.mentions_bot);

    let reply = bot.next_message().await;
    assert_eq!(reply.text, "需要复印件吗");
    assert!(reply.mentions_bot, "a reply to the bot is addressed to it");
    assert_eq!(reply.reply_to.as_deref(), Some("-1001987654321:1203"));

    // The bot's own message, the sticker and the edit are dropped.
    let command = bot.next_message().await;
    assert_eq!(command.chat, Chat::Group("-1001800000001".into()));
    assert_eq!(command.text, "/claim 3");
    assert!(command.mentions_bot);

    let private = bot.next_message().await;
    assert_eq!(private.chat, Chat::Private("555000113".into()));
    assert_eq!(private.message_id, "555000113:17");
    assert!(private.mentions_bot);

    // The next poll confirms the whole batch, dropped updates included.
    let next = bot.fake.next_call("getUpdates").await;
    assert_eq!(next.body["offset"], json!(851793507));
    bot.assert_no_event();
}

/// getUpdates breaks off, answers 500, succeeds, answers 429, succeeds: every update reaches
/// the sink exactly once, in order, and the offsets the fake received show nothing was skipped
/// or asked for twice after it was handed over. Virtual time: the waits are real waits of the
/// adapter, but take no wall-clock time.
#[tokio::test(start_paused = true)]
async fn failed_polls_lose_and_repeat_nothing() {
    let fake = FakeApi::start().await;
    fake.push_updates(Reply::Break);
    fake.push_updates(Reply::error(500, "Internal Server Error"));
    fake.push_updates(Reply::updates(vec![
        update("group_mention", 100),
        update("group_plain", 101),
    ]));
    fake.push_updates(Reply::too_many(1));
    fake.push_updates(Reply::updates(vec![update("reply_to_bot", 102)]));
    let config = TelegramConfig {
        poll_timeout: Duration::from_secs(30),
        reconnect: Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(2),
        },
        down_after_failures: 2,
        ..config(&fake.url())
    };
    let mut bot = Harness::start(fake, config).await;

    let mut events = Vec::new();
    while events.len() < 6 {
        let event = within_secs(600, bot.events.recv()).await.unwrap();
        events.push(event);
    }
    let states: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connection(change) => Some(change.state),
            Event::Message(_) => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            ConnectionState::Up,
            ConnectionState::Down,
            ConnectionState::Up
        ],
        "down after two failures in a row, up again on the next success"
    );
    let ids: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(incoming) => Some(incoming.message_id.as_str()),
            Event::Connection(_) => None,
        })
        .collect();
    assert_eq!(
        ids,
        [
            "-1001987654321:1201",
            "-1001987654321:1202",
            "-1001987654321:1204"
        ]
    );
    assert!(matches!(events[0], Event::Connection(_)));
    assert!(matches!(events[2], Event::Connection(_)), "{events:?}");

    // The sixth poll is waiting now: the five scripted answers, then an idle long poll.
    let mut polls = Vec::new();
    while polls.len() < 6 {
        polls.push(within_secs(600, bot.fake.next_call("getUpdates")).await);
    }
    let offsets: Vec<_> = polls
        .iter()
        .map(|call| call.body["offset"].clone())
        .collect();
    assert_eq!(
        offsets,
        [
            Value::Null,
            Value::Null,
            Value::Null,
            json!(102),
            json!(102),
            json!(103)
        ]
    );
    let gap = |i: usize| polls[i].at - polls[i - 1].at;
    assert!(
        gap(1) >= Duration::from_millis(400),
        "a broken poll backs off: {:?}",
        gap(1)
    );
    assert!(
        gap(4) >= Duration::from_secs(1),
        "a 429 waits its retry_after: {:?}",
        gap(4)
    );
    bot.assert_no_event();
}

#[tokio::test]
async fn a_refused_token_stops_run() {
    let fake = FakeApi::start().await;
    fake.set_get_me(Reply::error(401, "Unauthorized"));
    let config = config(&fake.url());
    let bot = Harness::start(fake, config).await;
    let error = within(bot.run).await.unwrap().unwrap_err();
    assert!(error.reason.contains("refused the bot token"), "{error}");
    assert!(!error.reason.contains("AAFake"), "{error}");
}

#[tokio::test]
async fn a_webhook_left_set_is_deleted_to_poll() {
    let fake = FakeApi::start().await;
    fake.push_updates(Reply::error(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    ));
    fake.push_updates(Reply::updates(vec![fixture("group_mention")]));
    let config = config(&fake.url());
    let mut bot = Harness::start(fake, config).await;
    bot.expect_state(ConnectionState::Up).await;
    let delete = bot.fake.next_call("deleteWebhook").await;
    assert_ne!(delete.body["drop_pending_updates"], json!(true));
    assert_eq!(bot.next_message().await.message_id, "-1001987654321:1201");
}
