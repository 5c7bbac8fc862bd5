//! The webhook over loopback: signatures, the op 13 validation, events, bad input.

mod common;

use bangban_contract::{Adapter, Chat, ConnectionState, Incoming, Platform};
use bangban_qqbot::{QqBot, QqBotConfig, public_key_of, webhook_signature};
use common::*;
use serde_json::{Value, json};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_published_vectors_hold() {
    let seed = fixture("seed_example");
    let expected: Vec<u8> = serde_json::from_value(seed["public_key_bytes"].clone()).unwrap();
    assert_eq!(
        public_key_of(seed["secret"].as_str().unwrap()).to_vec(),
        expected
    );

    // The op 13 example: the bot's answer carries exactly the published signature.
    let op13 = fixture("op13");
    let secret = op13["secret"].as_str().unwrap();
    let mut fake = FakeQq::start().await;
    let mut bot = Bot::start_with(QqBotConfig {
        secret: secret.into(),
        ..config(&fake)
    })
    .await;
    assert_eq!(hex(&bot.qqbot.public_key()), op13["public_key_hex"]);
    let body = op13["body"].as_str().unwrap();
    let (status, answer) = bot.post(body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer,
        json!({
            "plain_token": "Arq0D5A61EgUu4OxUvOp",
            "signature": op13["signature_hex"],
        })
    );
    // The fake API knows only the test secret: the token is refused, the bot stays down.
    assert!(bot.qqbot.connected_accounts().is_empty());
    bot.assert_no_event();
    fake.assert_nothing_sent();
}

#[tokio::test]
async fn messages_become_incoming_and_are_acknowledged() {
    let fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    bot.push(&group_event("ROBOT1.0_g1", " 办居住证要带什么 "))
        .await;
    assert_eq!(
        bot.next_message().await,
        Incoming {
            platform: Platform::Qqbot,
            account: APP_ID.into(),
            chat: Chat::Group(GROUP.into()),
            sender: MEMBER.into(),
            sender_name: None,
            message_id: "ROBOT1.0_g1".into(),
            text: "办居住证要带什么".into(),
            mentions_bot: true,
            reply_to: None,
        }
    );

    bot.push(&c2c_event("ROBOT1.0_c1", "社保卡丢了怎么办"))
        .await;
    let private = bot.next_message().await;
    assert_eq!(private.chat, Chat::Private(USER.into()));
    assert_eq!(private.sender, USER);
    assert_eq!(private.text, "社保卡丢了怎么办");
    assert!(private.mentions_bot);

    // Other event types are acknowledged and not reported.
    let other = json!({"op": 0, "t": "GROUP_ADD_ROBOT", "id": "GROUP_ADD_ROBOT:1",
        "d": {"group_openid": GROUP, "op_member_openid": MEMBER, "timestamp": 1725442341}});
    bot.push(&other.to_string()).await;
    // A webhook heartbeat is answered with op 11.
    let (status, answer) = bot.post(r#"{"op": 1, "d": 7}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!({"op": 11, "d": 7})
    );
    bot.assert_no_event();
}

#[tokio::test]
async fn bad_signatures_are_refused_before_parsing() {
    let fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    let body = group_event("ROBOT1.0_g1", "你好");
    let now = bot.timestamp();
    let good = webhook_signature(SECRET, &now, body.as_bytes());

    // No headers, one header only.
    assert_eq!(bot.post_with(&body, &[]).await.0, 401);
    assert_eq!(
        bot.post_with(&body, &[("x-signature-ed25519", &good)])
            .await
            .0,
        401
    );
    assert_eq!(
        bot.post_with(&body, &[("x-signature-timestamp", &now)])
            .await
            .0,
        401
    );
    // Signed by another secret, not hex, for another body, for another timestamp.
    let forged = webhook_signature("someone-else", &now, body.as_bytes());
    let tampered = body.replace("你好", "转账");
    let later = (now.parse::<u64>().unwrap() + 1).to_string();
    for (body, timestamp, signature) in [
        (body.as_str(), now.as_str(), forged.as_str()),
        (body.as_str(), now.as_str(), "not-hex"),
        (tampered.as_str(), now.as_str(), good.as_str()),
        (body.as_str(), later.as_str(), good.as_str()),
    ] {
        let headers = [
            ("x-signature-timestamp", timestamp),
            ("x-signature-ed25519", signature),
        ];
        assert_eq!(bot.post_with(body, &headers).await.0, 401);
    }
    // A stale body: rightly signed, but with a timestamp an hour old.
    let old = (now.parse::<u64>().unwrap() - 3600).to_string();
    let stale = webhook_signature(SECRET, &old, body.as_bytes());
    let headers = [
        ("x-signature-timestamp", old.as_str()),
        ("x-signature-ed25519", stale.as_str()),
    ];
    assert_eq!(bot.post_with(&body, &headers).await.0, 401);
    // Even garbage is refused for its signature first.
    assert_eq!(bot.post_with("{not json", &[]).await.0, 401);
    bot.assert_no_event();

    // The right signature still gets through.
    let headers = [
        ("x-signature-timestamp", now.as_str()),
        ("x-signature-ed25519", good.as_str()),
    ];
    assert_eq!(bot.post_with(&body, &headers).await.0, 200);
    assert_eq!(bot.next_message().await.text, "你好");
}

#[tokio::test]
async fn bad_payloads_get_an_http_error_and_the_route_keeps_serving() {
    let fake = FakeQq::start().await;
    let mut bot = Bot::start(&fake).await;
    for body in [
        "{not json",
        "[1, 2]",
        r#"{"op": 42, "d": {}}"#,
        r#"{"op": "zero", "d": {}}"#,
        r#"{"op": 0, "d": {"id": "x"}}"#,
        r#"{"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "d": {"id": "m", "content": "x"}}"#,
        r#"{"op": 13, "d": {"event_ts": "1"}}"#,
    ] {
        assert_eq!(bot.post(body).await.0, 400, "{body}");
    }
    // An unknown event type is acknowledged (the platform would push it again otherwise).
    let unknown = r#"{"op": 0, "t": "SOMETHING_NEW", "id": "x", "d": {"a": 1}}"#;
    bot.push(unknown).await;
    // A body over the limit is refused whole.
    let huge = group_event("ROBOT1.0_big", &"长".repeat(30_000));
    assert_eq!(bot.post(&huge).await.0, 413);
    bot.assert_no_event();

    bot.push(&group_event("ROBOT1.0_ok", "还在吗")).await;
    assert_eq!(bot.next_message().await.message_id, "ROBOT1.0_ok");
}

#[tokio::test]
async fn the_route_answers_503_until_run_and_after_its_future_is_dropped() {
    let fake = FakeQq::start().await;
    let qqbot = QqBot::new(config(&fake)).unwrap();
    let addr = serve(qqbot.router()).await;
    let body = group_event("ROBOT1.0_g1", "你好");
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = webhook_signature(SECRET, &timestamp, body.as_bytes());
    let post = || {
        reqwest::Client::new()
            .post(format!("http://{addr}/qqbot/webhook"))
            .header("x-signature-timestamp", &timestamp)
            .header("x-signature-ed25519", &signature)
            .body(body.clone())
            .send()
    };
    assert_eq!(within(post()).await.unwrap().status().as_u16(), 503);

    let qqbot = std::sync::Arc::new(qqbot);
    let (tx, mut events) = tokio::sync::mpsc::channel(8);
    let run = tokio::spawn(Adapter::run(qqbot.clone(), std::sync::Arc::new(tx)));
    match within(events.recv()).await.unwrap() {
        bangban_contract::Event::Connection(change) => {
            assert_eq!(change.state, ConnectionState::Up)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(within(post()).await.unwrap().status().as_u16(), 200);
    assert!(matches!(
        within(events.recv()).await,
        Some(bangban_contract::Event::Message(_))
    ));
    run.abort();
    let _ = run.await;
    assert_eq!(within(post()).await.unwrap().status().as_u16(), 503);
}
