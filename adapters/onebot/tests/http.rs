//! The HTTP POST receiver and the HTTP API sender over loopback.

mod common;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bangban_contract::{Adapter, Chat, ConnectionState, Outgoing, Platform, SendError};
use bangban_onebot::OneBotConfig;
use common::*;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECRET: &str = "http-post-secret";

fn sign(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha1={hex}")
}

async fn post_event(bot: &Bot, body: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(bot.http_url("/onebot/v11/http"))
        .header("content-type", "application/json")
        .header("x-self-id", BOT)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    within(request.send()).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn http_post_checks_the_signature() {
    let mut bot = Bot::start(OneBotConfig {
        signature_secret: Some(SECRET.into()),
        ..config()
    })
    .await;
    let body = fixture("group_message_array").to_string();
    assert_eq!(post_event(&bot, &body, &[]).await, 401);
    let forged = sign(&format!("{body} "));
    assert_eq!(
        post_event(&bot, &body, &[("x-signature", &forged)]).await,
        403
    );
    assert_eq!(
        post_event(&bot, &body, &[("x-signature", "sha1=00")]).await,
        403
    );
    bot.assert_no_event();

    assert_eq!(
        post_event(&bot, &body, &[("x-signature", &sign(&body))]).await,
        204
    );
    let incoming = bot.next_message().await;
    assert_eq!(
        (incoming.account.as_str(), incoming.message_id.as_str()),
        (BOT, "2002")
    );
    assert_eq!(incoming.chat, Chat::Group("987654321".into()));

    // Malformed bodies are refused and the receiver keeps serving.
    let junk = "{not json";
    assert_eq!(
        post_event(&bot, junk, &[("x-signature", &sign(junk))]).await,
        400
    );
    let next = group_message(2010, "还有一个问题").to_string();
    assert_eq!(
        post_event(&bot, &next, &[("x-signature", &sign(&next))]).await,
        204
    );
    assert_eq!(bot.next_message().await.message_id, "2010");
}

#[tokio::test]
async fn http_post_without_a_secret_checks_the_token() {
    let mut bot = Bot::start(config()).await;
    let body = fixture("group_message_array").to_string();
    assert_eq!(post_event(&bot, &body, &[]).await, 401);
    assert_eq!(
        post_event(&bot, &body, &[("authorization", "Bearer nope")]).await,
        403
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        post_event(&bot, &body, &[("authorization", &bearer)]).await,
        204
    );
    assert_eq!(bot.next_message().await.message_id, "2002");
    // The bot's own message is accepted and dropped.
    let mut own = fixture("group_message_array");
    own["post_type"] = json!("message_sent");
    assert_eq!(
        post_event(&bot, &own.to_string(), &[("authorization", &bearer)]).await,
        204
    );
    bot.assert_no_event();
}

/// What the fake HTTP API saw: the action, its body, its Authorization header.
type Seen = mpsc::UnboundedSender<(String, Value, Option<String>)>;

async fn fake_api(
    State(seen): State<Seen>,
    Path(action): Path<String>,
    headers: HeaderMap,
    Json(params): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    seen.send((action.clone(), params.clone(), authorization))
        .unwrap();
    let response = match action.as_str() {
        "get_login_info" => {
            json!({"status": "ok", "retcode": 0, "data": {"user_id": 123456789, "nickname": "帮办"}})
        }
        "send_group_msg" if params["group_id"] == json!(1) => {
            json!({"status": "failed", "retcode": 1400, "message": "bad group", "data": null})
        }
        "send_group_msg" => fixture("send_group_msg_response_napcat"),
        "delete_msg" => json!({"status": "ok", "retcode": 0}),
        _ => return (StatusCode::NOT_FOUND, Json(json!({}))),
    };
    (StatusCode::OK, Json(response))
}

#[tokio::test]
async fn the_http_api_sends_with_the_token() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = serve(
        axum::Router::new()
            .route("/api/{action}", post(fake_api))
            .with_state(seen_tx),
    )
    .await;
    let mut bot = Bot::start(OneBotConfig {
        http_api: vec![format!("http://{api}/api")],
        ..config()
    })
    .await;
    let bearer = Some(format!("Bearer {TOKEN}"));
    let (action, _, authorization) = within(seen.recv()).await.unwrap();
    assert_eq!(
        (action.as_str(), &authorization),
        ("get_login_info", &bearer)
    );
    bot.expect_state(BOT, ConnectionState::Up).await;

    let reply = |group: &str| Outgoing::SendText {
        platform: Platform::Onebot,
        account: BOT.into(),
        chat: Chat::Group(group.into()),
        text: "带身份证".into(),
        quote: Some("2002".into()),
        mention: Some("345678901".into()),
    };
    let delivered = within(bot.onebot.send(&reply("987654321"))).await.unwrap();
    assert_eq!(delivered.message_id.as_deref(), Some("1936658337"));
    let (action, params, authorization) = within(seen.recv()).await.unwrap();
    assert_eq!(action, "send_group_msg");
    assert_eq!(authorization, bearer);
    assert_eq!(
        params,
        json!({"group_id": 987654321, "message": [
            {"type": "reply", "data": {"id": "2002"}},
            {"type": "at", "data": {"qq": "345678901"}},
            {"type": "text", "data": {"text": " 带身份证"}},
        ]})
    );

    let error = within(bot.onebot.send(&reply("1"))).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error}");
    assert!(error.reason().contains("1400"), "{error}");

    let recall = bot.onebot.as_recall().unwrap();
    within(recall.recall(BOT, &Chat::Group("1".into()), "55"))
        .await
        .unwrap();

    let members = bot.onebot.as_member_lookup().unwrap();
    let error = within(members.member_name(BOT, &Chat::Group("1".into()), "2"))
        .await
        .unwrap_err();
    assert!(
        !error.is_retryable(),
        "an unknown action is permanent: {error}"
    );
}
