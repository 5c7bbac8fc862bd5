//! Sending over loopback to a fake WeCom API: the app API and its token, robot webhooks, the AI
//! bot's response_url; and connection state.

mod common;

use std::time::Duration;

use bangban_contract::{Adapter, Chat, ConnectionState, Event, Outgoing, Platform, SendError};
use bangban_wecom::{ROBOT_TEXT_MAX_BYTES, WeComConfig};
use common::*;
use serde_json::json;

fn text(account: &str, chat: Chat, text: &str) -> Outgoing {
    Outgoing::SendText {
        platform: Platform::Wecom,
        account: account.into(),
        chat,
        text: text.into(),
        quote: None,
        mention: None,
    }
}

#[tokio::test]
async fn the_app_fetches_a_token_caches_it_and_refreshes_it_once_when_expired() {
    let fake = FakeWeCom::start().await;
    let clock = TestClock::at(NOW);
    let mut bot = Bot::start(config(Some(fake.addr)), clock.clone()).await;

    // An app callback produces an Incoming, which the core answers through the app API.
    assert_eq!(
        bot.post_app(&app_text("zhangsan", 77, "低保怎么申请"))
            .await
            .0,
        200
    );
    let incoming = bot.next_message().await;
    assert_eq!(incoming.chat, Chat::Private("zhangsan".into()));
    assert_eq!(incoming.account, APP_ACCOUNT);

    fake.script(
        MESSAGE_SEND,
        vec![json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "MSG-1"})],
    );
    let reply = text(APP_ACCOUNT, incoming.chat.clone(), "请带户口本");
    let delivered = within(bot.wecom.send(&reply)).await.unwrap();
    assert_eq!(delivered.message_id.as_deref(), Some("MSG-1"));
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].path, GETTOKEN);
    assert_eq!(calls[0].query["corpid"], CORP);
    assert_eq!(calls[0].query["corpsecret"], SECRET);
    assert_eq!(calls[1].path, MESSAGE_SEND);
    assert_eq!(calls[1].query["access_token"], "TOKEN-1");
    assert_eq!(
        calls[1].body,
        json!({"touser": "zhangsan", "msgtype": "text", "agentid": AGENT,
               "text": {"content": "请带户口本"}, "safe": 0})
    );

    // The cached token serves the next send.
    within(bot.wecom.send(&reply)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.path).collect::<Vec<_>>(),
        [MESSAGE_SEND]
    );
    assert_eq!(calls[0].query["access_token"], "TOKEN-1");

    // WeCom says the token expired (42001) once: one new token, one more send, success.
    fake.script(
        MESSAGE_SEND,
        vec![json!({"errcode": 42001, "errmsg": "access_token expired, hint: [x]"})],
    );
    within(bot.wecom.send(&reply)).await.unwrap();
    let calls = fake.calls();
    let paths: Vec<_> = calls.iter().map(|c| c.path).collect();
    assert_eq!(paths, [MESSAGE_SEND, GETTOKEN, MESSAGE_SEND]);
    assert_eq!(calls[0].query["access_token"], "TOKEN-1");
    assert_eq!(calls[2].query["access_token"], "TOKEN-2");
    let gettokens = 1 + paths.iter().filter(|p| **p == GETTOKEN).count();
    assert_eq!(gettokens, 2, "two gettoken calls in all");

    // Refused twice in a row: no third try, the send fails.
    fake.script(
        MESSAGE_SEND,
        vec![json!({"errcode": 40014}), json!({"errcode": 40014})],
    );
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert_eq!(
        fake.calls().iter().map(|c| c.path).collect::<Vec<_>>(),
        [MESSAGE_SEND, GETTOKEN, MESSAGE_SEND]
    );

    // A token near its expiry (7200 s, refreshed 5 min early) is replaced before use.
    clock.advance(Duration::from_secs(7200 - 300));
    within(bot.wecom.send(&reply)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.path).collect::<Vec<_>>(),
        [GETTOKEN, MESSAGE_SEND]
    );
    assert_eq!(calls[1].query["access_token"], "TOKEN-4");
    bot.assert_no_event();
}

#[tokio::test]
async fn app_errors_are_classified() {
    let fake = FakeWeCom::start().await;
    let bot = Bot::start(config(Some(fake.addr)), TestClock::at(NOW)).await;
    let reply = text(APP_ACCOUNT, Chat::Private("zhangsan".into()), "好的");
    fake.script(
        MESSAGE_SEND,
        vec![
            json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
            json!({"errcode": -1, "errmsg": "system busy"}),
            json!({"errcode": 0, "errmsg": "ok", "invaliduser": "zhangsan"}),
            json!({"errcode": 81013, "errmsg": "user & party & tag all invalid"}),
        ],
    );
    let mut errors = Vec::new();
    for _ in 0..4 {
        errors.push(within(bot.wecom.send(&reply)).await.unwrap_err());
    }
    assert!(
        matches!(errors[0], SendError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(60)),
        "{}",
        errors[0]
    );
    assert!(
        matches!(
            errors[1],
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "{}",
        errors[1]
    );
    assert!(
        matches!(errors[2], SendError::Permanent { .. }),
        "{}",
        errors[2]
    );
    assert!(
        matches!(errors[3], SendError::Permanent { .. }),
        "{}",
        errors[3]
    );
    assert!(errors[3].reason().contains("81013"), "{}", errors[3]);
    for error in &errors {
        assert!(
            !error.reason().contains(SECRET) && !error.reason().contains("TOKEN-"),
            "{error}"
        );
    }

    // A bad secret: gettoken refuses; nothing was sent, and the message may wait for the
    // account to come up again (see the test below).
    let fake = FakeWeCom::start().await;
    let bot = Bot::start(config(Some(fake.addr)), TestClock::at(NOW)).await;
    fake.script(
        GETTOKEN,
        vec![json!({"errcode": 40001, "errmsg": "invalid credential"})],
    );
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
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
    assert!(error.reason().contains("40001"), "{error}");
    assert!(!error.reason().contains(SECRET), "{error}");
    assert_eq!(fake.calls()[0].path, GETTOKEN);

    // The API unreachable: retryable, not delivered.
    let mut unreachable = config(None);
    unreachable.api_base = "http://127.0.0.1:1".into();
    let bot = Bot::start(unreachable, TestClock::at(NOW)).await;
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
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

    // The app sends to private chats only.
    let group = text(APP_ACCOUNT, Chat::Group("g1".into()), "好的");
    assert!(matches!(
        within(bot.wecom.send(&group)).await,
        Err(SendError::Permanent { .. })
    ));
}

#[tokio::test]
async fn robot_webhooks_get_the_key_and_report_rate_limits() {
    let fake = FakeWeCom::start().await;
    let config = WeComConfig {
        robots: [("agents".to_owned(), "robot-key-1".to_owned())].into(),
        ..config(Some(fake.addr))
    };
    let bot = Bot::start(config, TestClock::at(NOW)).await;
    let mut broadcast = text(
        "wecom-robot",
        Chat::Group("agents".into()),
        "新工单:张三 低保",
    );
    let Outgoing::SendText { mention, .. } = &mut broadcast;
    *mention = Some("lisi".into());
    let delivered = within(bot.wecom.send(&broadcast)).await.unwrap();
    assert_eq!(delivered.message_id, None);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, WEBHOOK);
    assert_eq!(calls[0].query["key"], "robot-key-1");
    assert_eq!(
        calls[0].body,
        json!({"msgtype": "text", "text": {"content": "新工单:张三 低保", "mentioned_list": ["lisi"]}})
    );

    fake.script(
        WEBHOOK,
        vec![json!({"errcode": 45009, "errmsg": "api freq out of limit"})],
    );
    let error = within(bot.wecom.send(&broadcast)).await.unwrap_err();
    assert!(matches!(error, SendError::RateLimited { .. }), "{error}");
    assert!(!error.reason().contains("robot-key-1"), "{error}");
    assert_eq!(fake.calls().len(), 1);

    // Over the limit: refused without a request, never truncated.
    let long = "办".repeat(ROBOT_TEXT_MAX_BYTES / 3 + 1);
    let error = within(
        bot.wecom
            .send(&text("wecom-robot", Chat::Group("agents".into()), &long)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(fake.calls().is_empty());
    let exact = "a".repeat(ROBOT_TEXT_MAX_BYTES);
    within(
        bot.wecom
            .send(&text("wecom-robot", Chat::Group("agents".into()), &exact)),
    )
    .await
    .unwrap();

    // A group without a key.
    let error = within(
        bot.wecom
            .send(&text("wecom-robot", Chat::Group("other".into()), "x")),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
}

#[tokio::test]
async fn aibot_messages_are_answered_through_their_response_url() {
    let fake = FakeWeCom::start().await;
    let clock = TestClock::at(NOW);
    let mut bot = Bot::start(config(Some(fake.addr)), clock.clone()).await;
    let response_url =
        |code: &str| format!("http://{}{AIBOT_RESPONSE}?response_code={code}", fake.addr);
    let group_message = |id: &str, code: &str, content: &str| {
        json!({"msgid": id, "aibotid": AIBOT_ID, "chatid": "wrkSFfCgAAxxxx", "chattype": "group",
               "from": {"userid": "zhaoliu"}, "response_url": response_url(code),
               "msgtype": "text", "text": {"content": content}})
    };

    assert_eq!(
        bot.post_aibot(&group_message("M1", "RC1", "@帮办助手 医保怎么报销"))
            .await,
        (200, String::new())
    );
    let incoming = bot.next_message().await;
    assert_eq!(incoming.account, BOT_ACCOUNT);
    assert_eq!(incoming.chat, Chat::Group("wrkSFfCgAAxxxx".into()));
    assert_eq!(incoming.sender, "zhaoliu");
    assert_eq!(incoming.message_id, "M1");
    assert_eq!(incoming.text, "医保怎么报销");
    assert!(incoming.mentions_bot);

    let reply = text(BOT_ACCOUNT, incoming.chat.clone(), "带上医保卡和发票");
    within(bot.wecom.send(&reply)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, AIBOT_RESPONSE);
    assert_eq!(calls[0].query["response_code"], "RC1");
    assert_eq!(
        calls[0].body,
        json!({"msgtype": "markdown", "markdown": {"content": "带上医保卡和发票"}})
    );

    // The URL is used up: the next reply waits for the chat's next message.
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    assert!(fake.calls().is_empty());

    // Two messages: a reply quoting the older one uses its URL, the next the newer one.
    bot.post_aibot(&group_message("M2", "RC2", "@帮办助手 第二个问题"))
        .await;
    bot.post_aibot(&group_message("M3", "RC3", "@帮办助手 第三个问题"))
        .await;
    bot.next_message().await;
    bot.next_message().await;
    let mut quoting = reply.clone();
    let Outgoing::SendText { quote, .. } = &mut quoting;
    *quote = Some("M2".into());
    within(bot.wecom.send(&quoting)).await.unwrap();
    within(bot.wecom.send(&reply)).await.unwrap();
    let codes: Vec<_> = fake
        .calls()
        .iter()
        .map(|c| c.query["response_code"].clone())
        .collect();
    assert_eq!(codes, ["RC2", "RC3"]);

    // A private message's URL expires within the hour.
    let private = json!({"msgid": "P1", "aibotid": AIBOT_ID, "chattype": "single",
        "from": {"userid": "zhaoliu"}, "response_url": response_url("RC4"),
        "msgtype": "text", "text": {"content": "在吗"}});
    bot.post_aibot(&private).await;
    let incoming = bot.next_message().await;
    assert_eq!(incoming.chat, Chat::Private("zhaoliu".into()));
    clock.advance(Duration::from_secs(56 * 60));
    let late = text(BOT_ACCOUNT, incoming.chat, "在的");
    let error = within(bot.wecom.send(&late)).await.unwrap_err();
    assert!(
        matches!(error, SendError::AwaitingMessage { .. }),
        "{error}"
    );
    assert!(fake.calls().is_empty());

    // WeCom refusing a URL (errcode) is permanent, and the URL is spent.
    fake.script(
        AIBOT_RESPONSE,
        vec![json!({"errcode": 93017, "errmsg": "response_code used"})],
    );
    bot.post_aibot(&group_message("M5", "RC5", "@帮办助手 再问"))
        .await;
    bot.next_message().await;
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(!error.reason().contains("RC5"), "{error}");
    assert!(matches!(
        within(bot.wecom.send(&reply)).await,
        Err(SendError::AwaitingMessage { .. })
    ));
}

/// The next event, which must be `account` going `state`.
async fn expect_change(bot: &mut Bot, account: &str, state: ConnectionState) {
    match bot.next_event().await {
        Event::Connection(change) => assert_eq!(
            (change.platform, change.account.as_str(), change.state),
            (Platform::Wecom, account, state)
        ),
        other => panic!("expected {account} {state:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_credentials_take_the_account_down_until_wecom_accepts_them_again() {
    let fake = FakeWeCom::start().await;
    let config = WeComConfig {
        robots: [("agents".to_owned(), "robot-key-1".to_owned())].into(),
        recheck_interval: Duration::from_millis(50),
        ..config(Some(fake.addr))
    };
    let mut bot = Bot::start(config, TestClock::at(NOW)).await;
    let connected =
        |bot: &Bot, account: &str| bot.wecom.connected_accounts().iter().any(|a| a == account);

    // A wrong app secret: gettoken refuses (the send, and the first check again). The app's
    // account goes down at once and the message is not given up: it may wait for the account.
    fake.script(
        GETTOKEN,
        vec![
            json!({"errcode": 40001, "errmsg": "invalid credential, hint: [x]"}),
            json!({"errcode": 40001, "errmsg": "invalid credential, hint: [y]"}),
        ],
    );
    let reply = text(APP_ACCOUNT, Chat::Private("zhangsan".into()), "请带户口本");
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
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
    assert!(!connected(&bot, APP_ACCOUNT));
    assert!(connected(&bot, BOT_ACCOUNT) && connected(&bot, "wecom-robot"));
    expect_change(&mut bot, APP_ACCOUNT, ConnectionState::Down).await;

    // The adapter asks again by itself; once gettoken hands out a token the account is up and
    // the next send uses that token.
    expect_change(&mut bot, APP_ACCOUNT, ConnectionState::Up).await;
    assert!(connected(&bot, APP_ACCOUNT));
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.path).collect::<Vec<_>>(),
        [GETTOKEN, GETTOKEN, GETTOKEN],
        "the send's, then two checks; none sent a message"
    );
    assert!(calls.iter().all(|c| c.query["corpsecret"] == SECRET));
    within(bot.wecom.send(&reply)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.path).collect::<Vec<_>>(),
        [MESSAGE_SEND]
    );
    assert_eq!(calls[0].query["access_token"], "TOKEN-1");

    // The robot's key refused (93000): its account goes down; the check posts nothing to the
    // group (a text without content); when the key is accepted again the account is up.
    fake.script(
        WEBHOOK,
        vec![
            json!({"errcode": 93000, "errmsg": "invalid webhook url, hint: [z]"}),
            json!({"errcode": 93000, "errmsg": "invalid webhook url, hint: [w]"}),
            json!({"errcode": 44004, "errmsg": "empty content"}),
        ],
    );
    let notice = text("wecom-robot", Chat::Group("agents".into()), "新工单 1");
    let error = within(bot.wecom.send(&notice)).await.unwrap_err();
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
    assert!(error.reason().contains("93000"), "{error}");
    assert!(!error.reason().contains("robot-key-1"), "{error}");
    assert!(!connected(&bot, "wecom-robot"));
    expect_change(&mut bot, "wecom-robot", ConnectionState::Down).await;
    expect_change(&mut bot, "wecom-robot", ConnectionState::Up).await;
    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.path == WEBHOOK && c.query["key"] == "robot-key-1")
    );
    for check in &calls[1..] {
        assert_eq!(
            check.body,
            json!({"msgtype": "text", "text": {"content": ""}})
        );
    }
    within(bot.wecom.send(&notice)).await.unwrap();
    bot.assert_no_event();

    // With several robots, one refused key leaves the account up: that group's message is
    // refused, the other robot still sends.
    let fake = FakeWeCom::start().await;
    let config = WeComConfig {
        robots: [
            ("agents".to_owned(), "robot-key-1".to_owned()),
            ("v01".to_owned(), "robot-key-2".to_owned()),
        ]
        .into(),
        recheck_interval: Duration::from_secs(600),
        ..common::config(Some(fake.addr))
    };
    let mut bot = Bot::start(config, TestClock::at(NOW)).await;
    fake.script(
        WEBHOOK,
        vec![json!({"errcode": 93000, "errmsg": "invalid webhook url"})],
    );
    let to_v01 = text("wecom-robot", Chat::Group("v01".into()), "通知");
    let error = within(bot.wecom.send(&to_v01)).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(connected(&bot, "wecom-robot"));
    within(bot.wecom.send(&notice)).await.unwrap();
    bot.assert_no_event();
}

#[tokio::test]
async fn an_untrusted_server_address_takes_the_app_down_with_a_reason_until_it_is_trusted() {
    let fake = FakeWeCom::start().await;
    let config = WeComConfig {
        recheck_interval: Duration::from_millis(50),
        ..config(Some(fake.addr))
    };
    let mut bot = Bot::start(config, TestClock::at(NOW)).await;
    assert!(bot.wecom.down_reasons().is_empty());
    // gettoken works from anywhere; the message API refuses this server's address.
    let refused = json!({"errcode": 60020,
        "errmsg": "not allow to access from your ip, hint: [1787373915609110759172198], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"});
    fake.script(MESSAGE_SEND, vec![refused.clone()]);
    // The adapter's own check (agent/get, which posts nothing) is refused once more, then
    // the clerk has added the address.
    fake.script(AGENT_GET, vec![refused]);
    let reply = text(APP_ACCOUNT, Chat::Private("zhangsan".into()), "请带户口本");
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
    assert!(
        matches!(
            error,
            SendError::Retryable {
                maybe_delivered: false,
                ..
            }
        ),
        "kept for the account's next Up: {error}"
    );
    assert!(error.reason().contains("60020"), "{error}");
    expect_change(&mut bot, APP_ACCOUNT, ConnectionState::Down).await;
    assert!(
        !bot.wecom
            .connected_accounts()
            .iter()
            .any(|a| a == APP_ACCOUNT)
    );
    let down = bot.wecom.down_reasons();
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0].account, APP_ACCOUNT);
    assert!(
        down[0].reason.contains("203.0.113.7") && down[0].reason.contains("企业可信IP"),
        "{}",
        down[0].reason
    );
    // While down, sends are not even tried.
    let error = within(bot.wecom.send(&reply)).await.unwrap_err();
    assert!(matches!(error, SendError::Retryable { .. }), "{error}");

    expect_change(&mut bot, APP_ACCOUNT, ConnectionState::Up).await;
    assert!(bot.wecom.down_reasons().is_empty());
    let paths: Vec<&str> = fake.calls().iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [GETTOKEN, MESSAGE_SEND, AGENT_GET, AGENT_GET],
        "the send, then two checks that read the app with the cached token; none sent a message"
    );
    within(bot.wecom.send(&reply)).await.unwrap();
    assert_eq!(
        fake.calls().iter().map(|c| c.path).collect::<Vec<_>>(),
        [MESSAGE_SEND]
    );
    bot.assert_no_event();
}

#[tokio::test]
async fn accounts_come_up_on_run_and_go_away_when_it_is_dropped() {
    let fake = FakeWeCom::start().await;
    let config = WeComConfig {
        robots: [("agents".to_owned(), "k".to_owned())].into(),
        ..config(Some(fake.addr))
    };
    let wecom = std::sync::Arc::new(bangban_wecom::WeCom::with_clock(
        config,
        std::sync::Arc::new(TestClock::at(NOW)),
    ));
    assert!(wecom.connected_accounts().is_empty());
    let reply = text(APP_ACCOUNT, Chat::Private("u".into()), "x");
    assert!(matches!(
        within(wecom.send(&reply)).await,
        Err(SendError::Retryable {
            maybe_delivered: false,
            ..
        })
    ));

    let (tx, mut events) = tokio::sync::mpsc::channel(8);
    let run = tokio::spawn(wecom.clone().run(std::sync::Arc::new(tx)));
    let mut ups = Vec::new();
    for _ in 0..3 {
        match within(events.recv()).await.unwrap() {
            Event::Connection(change) => {
                assert_eq!(
                    (change.platform, change.state),
                    (Platform::Wecom, ConnectionState::Up)
                );
                ups.push(change.account);
            }
            other => panic!("expected an Up, got {other:?}"),
        }
    }
    assert_eq!(ups, [APP_ACCOUNT, BOT_ACCOUNT, "wecom-robot"]);
    let mut connected = wecom.connected_accounts();
    connected.sort();
    let mut expected = vec![
        APP_ACCOUNT.to_owned(),
        BOT_ACCOUNT.to_owned(),
        "wecom-robot".to_owned(),
    ];
    expected.sort();
    assert_eq!(connected, expected);

    run.abort();
    let _ = run.await;
    assert!(wecom.connected_accounts().is_empty());
    assert!(matches!(
        within(wecom.send(&reply)).await,
        Err(SendError::Retryable {
            maybe_delivered: false,
            ..
        })
    ));
    assert!(fake.calls().is_empty());

    // A configuration with problems is refused by run, naming the field.
    let mut broken = common::config(None);
    broken.app.as_mut().unwrap().encoding_aes_key = "short".into();
    let wecom = std::sync::Arc::new(bangban_wecom::WeCom::new(broken));
    let (tx, _events) = tokio::sync::mpsc::channel(8);
    let error = within(wecom.run(std::sync::Arc::new(tx)))
        .await
        .unwrap_err();
    assert!(error.reason.contains("app.encoding_aes_key"), "{error}");
}
