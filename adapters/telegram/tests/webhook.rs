//! Webhook mode: the route the core mounts, the secret header, `setWebhook`.

mod common;

use bangban_contract::{ConnectionState, Event};
use bangban_telegram::{Mode, TelegramConfig, WEBHOOK_PATH};
use common::*;
use serde_json::json;

const SECRET: &str = "hook_Secret-42";

async fn post(bot: &Harness, body: &str, secret: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(bot.url(WEBHOOK_PATH))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    within(request.send()).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_webhook_checks_the_secret() {
    let fake = FakeApi::start().await;
    let config = TelegramConfig {
        mode: Mode::Webhook,
        webhook_secret: Some(SECRET.into()),
        webhook_url: Some("https://bot.example.cn/telegram/webhook".into()),
        ..config(&fake.url())
    };
    let mut bot = Harness::start(fake, config).await;
    let register = bot.fake.next_call("setWebhook").await;
    // setWebhook goes as multipart: the fields are in the raw body.
    let form = register.body.as_str().unwrap();
    for field in [
        "https://bot.example.cn/telegram/webhook",
        SECRET,
        "secret_token",
    ] {
        assert!(form.contains(field), "{form}");
    }
    bot.expect_state(ConnectionState::Up).await;

    let body = fixture("group_mention").to_string();
    assert_eq!(post(&bot, &body, None).await, 401);
    assert_eq!(post(&bot, &body, Some("hook_Secret-43")).await, 401);
    assert_eq!(post(&bot, &body, Some("")).await, 401);
    bot.assert_no_event();

    assert_eq!(post(&bot, &body, Some(SECRET)).await, 200);
    let incoming = bot.next_message().await;
    assert_eq!(incoming.message_id, "-1001987654321:1201");
    assert_eq!(incoming.text, "请问居住证怎么办理？");
    assert!(incoming.mentions_bot);

    // Bad bodies are refused; ignored updates are accepted; the route keeps serving.
    assert_eq!(post(&bot, "{not json", Some(SECRET)).await, 400);
    assert_eq!(post(&bot, "[1, 2]", Some(SECRET)).await, 400);
    let own = fixture("own_message").to_string();
    assert_eq!(post(&bot, &own, Some(SECRET)).await, 200);
    let future = json!({"update_id": 9, "some_future_update": {"x": 1}}).to_string();
    assert_eq!(post(&bot, &future, Some(SECRET)).await, 200);
    let huge = format!("{{\"update_id\": 1, \"pad\": \"{}\"}}", "x".repeat(2 << 20));
    assert_eq!(post(&bot, &huge, Some(SECRET)).await, 413);
    let private = fixture("private").to_string();
    assert_eq!(post(&bot, &private, Some(SECRET)).await, 200);
    match bot.next_event().await {
        Event::Message(incoming) => assert_eq!(incoming.message_id, "555000113:17"),
        other => panic!("{other:?}"),
    }
    bot.assert_no_event();
    assert!(
        bot.fake.drain("getUpdates").is_empty(),
        "no polling in webhook mode"
    );

    // Once the adapter is stopped, the route refuses updates so that Telegram keeps them.
    bot.run.abort();
    let _ = (&mut bot.run).await;
    assert_eq!(post(&bot, &body, Some(SECRET)).await, 503);
}

#[tokio::test]
async fn the_route_is_closed_in_polling_mode() {
    let fake = FakeApi::start().await;
    let config = TelegramConfig {
        webhook_secret: Some(SECRET.into()),
        ..config(&fake.url())
    };
    let mut bot = Harness::start(fake, config).await;
    bot.expect_state(ConnectionState::Up).await;
    let body = fixture("group_mention").to_string();
    assert_eq!(post(&bot, &body, Some(SECRET)).await, 404);
}
